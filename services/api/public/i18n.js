/**
 * Dictionaries (Kazakh, Russian, English) and locale-aware formatting for the dashboard.
 * Every visible string goes through `t(key, vars)`; static markup uses `data-i18n` attributes that
 * `translateDom()` fills. Numbers, times and durations are formatted with Intl for the chosen locale.
 * No DOM access at import time, so Node tests can import this module.
 */

export const LANGS = ['kk', 'ru', 'en'];
export const DEFAULT_LANG = 'en';
const LOCALES = { kk: 'kk-KZ', ru: 'ru-RU', en: 'en-GB' };

const en = {
  'app.title': 'Kezek: live border queues',
  'app.name': 'Kezek',
  'app.subtitle': 'Live border queue monitor',
  'nav.label': 'Sections',
  'nav.skip': 'Skip to main content',
  'nav.overview': 'Overview',
  'nav.map': 'Map',
  'nav.alerts': 'Alerts',
  'nav.official': 'Officials',
  'lang.label': 'Language',
  'conn.connecting': 'Connecting…',
  'conn.live': 'Live',
  'conn.reconnecting': 'Reconnecting…',
  'conn.offline': 'Offline since {time}',
  'conn.banner': 'No connection to the server since {time}: the figures may be out of date. Reconnecting automatically.',
  'conn.label': 'Live updates',
  'overview.title': 'Crossings',
  'overview.loading': 'Loading crossings…',
  'overview.loadError': 'Could not load the crossings: {message}',
  'overview.retry': 'Try again now',
  'overview.retrying': 'Retrying automatically in {n} s.',
  'overview.legend': 'Wait severity',
  'crossing.neighbour': 'Other side: {name}',
  'crossing.charts': 'Charts for {name}',
  'crossing.hours24': 'Open 24 hours',
  'crossing.hoursDaily': 'Open {open}–{close} ({tz})',
  'table.caption': 'Queues at {name}',
  'col.direction': 'Direction',
  'col.class': 'Vehicles',
  'col.status': 'Status',
  'col.queue': 'Queue',
  'col.lanes': 'Lanes open',
  'col.wait': 'Estimated wait',
  'col.range': 'Range (p10–p90)',
  'col.freshness': 'Latest event',
  'col.actions': 'Actions',
  'class.truck': 'Trucks',
  'class.car': 'Cars',
  'class.bus': 'Buses',
  'class.pedestrian': 'Pedestrians',
  'status.open': 'Open',
  'status.closed': 'Closed',
  'status.closedUntil': 'Closed until {time}',
  'status.restricted': 'Restricted',
  'status.restrictedUntil': 'Restricted until {time}',
  'status.reason': 'Reason: {reason}',
  'status.mixed': 'Partly closed',
  'status.mixedRestricted': 'Partly restricted',
  'status.untilShort': 'until {time}',
  'status.noLanes': 'No lane open: no wait estimate until one reopens',
  'sev.low': 'Short',
  'sev.medium': 'Moderate',
  'sev.high': 'Long',
  'sev.severe': 'Very long',
  'sev.closed': 'Closed',
  'sev.unknown': 'No estimate',
  'sev.stale': 'Stale data',
  'wait.unknown': 'unknown',
  'wait.range': '{p10}–{p90}',
  'wait.prior': 'typical for this hour, no live data',
  'queue.vehicles': '{n}',
  'fresh.never': 'no events yet',
  'fresh.ago': '{ago} ago',
  'fresh.stale': 'stale',
  'fresh.staleTitle': 'No recent events: figures may be out of date',
  'dur.lessMinute': 'under 1 min',
  'dur.min': '{n} min',
  'dur.h': '{n} h',
  'dur.hmin': '{h} h {m} min',
  'dur.d': '{n} d',
  'dur.dh': '{d} d {h} h',
  'map.title': 'Map',
  'map.caption': 'Markers are coloured by the longest estimated wait at each crossing. Select a marker to open its charts.',
  'map.loadError': 'The map could not be loaded.',
  'map.svgTitle': 'Border crossings of Kazakhstan, Kyrgyzstan, Uzbekistan and western China',
  'country.KZ': 'Kazakhstan',
  'country.KG': 'Kyrgyzstan',
  'country.UZ': 'Uzbekistan',
  'country.CN': 'China',
  'country.TJ': 'Tajikistan',
  'country.TM': 'Turkmenistan',
  'country.RU': 'Russia',
  'country.MN': 'Mongolia',
  'country.AF': 'Afghanistan',
  'country.IR': 'Iran',
  'alerts.title': 'Alerts',
  'alerts.threshold': 'Alert when a wait exceeds (minutes)',
  'alerts.thresholdSave': 'Apply',
  'alerts.thresholdSaved': 'Alert threshold set to {threshold}.',
  'alerts.none': 'No alerts.',
  'alerts.count': '{n} active',
  'alerts.waitAbove': '{crossing}, {queue}: estimated wait {wait} exceeds {threshold}.',
  'alerts.growing': '{crossing}, {queue}: the queue is growing faster than it is served.',
  'alerts.closed': '{crossing}: closed.',
  'alerts.closedUntil': '{crossing}: closed until {time}.',
  'alerts.closedQueue': '{crossing}, {queue}: closed.',
  'alerts.stale': '{crossing}, {queue}: no events for {ago}, source silent.',
  'alerts.staleNever': '{crossing}, {queue}: no events received yet.',
  'alerts.kind.wait': 'Long wait',
  'alerts.kind.growing': 'Growing queue',
  'alerts.kind.closed': 'Closed',
  'alerts.kind.stale': 'Silent source',
  'detail.title': '{name}: last 24 hours',
  'detail.close': 'Close charts',
  'detail.direction': 'Direction',
  'detail.class': 'Vehicles',
  'detail.tz': 'Times in {tz}',
  'detail.loading': 'Loading history…',
  'detail.error': 'Could not load the history: {message}',
  'detail.empty': 'No history for this queue in the last 24 hours.',
  'detail.table': 'Show the figures as a table',
  'detail.time': 'Time',
  'chart.queue': 'Queue length (vehicles)',
  'chart.lanes': 'Lanes open',
  'chart.wait': 'Wait (minutes): estimated median with p10–p90 range, and realised',
  'chart.waitEstimated': 'Estimated',
  'chart.waitBand': 'p10–p90 range',
  'chart.waitRealised': 'Realised',
  'chart.throughput': 'Throughput (vehicles per hour): served against capacity',
  'chart.served': 'Served per hour',
  'chart.capacity': 'Capacity',
  'chart.noData': 'No data',
  'official.title': 'Officials',
  'official.intro': 'Changes are published as events; every open dashboard shows them within seconds.',
  'official.token': 'Official token',
  'official.tokenHint': 'Kept only in this browser tab and forgotten when it closes.',
  'official.tokenSave': 'Use token',
  'official.tokenClear': 'Forget token',
  'official.tokenSet': 'Token set for this session.',
  'official.tokenCleared': 'Token forgotten.',
  'official.tokenMissing': 'Enter the official token first.',
  'official.crossing': 'Crossing',
  'official.direction': 'Direction',
  'official.class': 'Vehicles',
  'official.lanesTitle': 'Lanes open',
  'official.lanes': 'Number of lanes open',
  'official.lanesSubmit': 'Set lanes',
  'official.statusTitle': 'Open or close the crossing',
  'official.status': 'Status',
  'official.reason': 'Reason',
  'official.until': 'Expected reopening, optional (in your time zone: {tz})',
  'official.untilAt': 'At {crossing} that is {time} ({tz}).',
  'official.scope': 'Applies to',
  'official.scopeAll': 'The whole crossing',
  'official.scopeQueue': 'Only the selected direction and vehicles',
  'official.statusSubmit': 'Publish status',
  'official.sending': 'Sending…',
  'official.okLanes': 'Accepted: {crossing}, {queue}: {n} lanes open.',
  'official.okStatus': 'Accepted: {crossing}, whole crossing: {status}.',
  'official.okStatusQueue': 'Accepted: {crossing}, only {queue}: {status}.',
  'official.lanesInvalid': 'The number of lanes open must be a whole number from 0 to 1000.',
  'official.duplicate': 'Already received earlier (duplicate), nothing changed.',
  'official.error': 'Rejected ({status}): {message}',
  'official.networkError': 'Could not reach the server: {message}',
  'official.setLanesFor': 'Set lanes for {queue}',
  'official.setLanesShort': 'Lanes…',
  'official.untilInvalid': 'The reopening time must be in the future.',
  'footer.text': 'Times are shown in each crossing’s local time zone. Estimates are model outputs with a p10–p90 range.',
};

const ru = {
  'app.title': 'Kezek: очереди на границе в реальном времени',
  'app.name': 'Kezek',
  'app.subtitle': 'Мониторинг очередей на границе',
  'nav.label': 'Разделы',
  'nav.skip': 'Перейти к содержанию',
  'nav.overview': 'Обзор',
  'nav.map': 'Карта',
  'nav.alerts': 'Оповещения',
  'nav.official': 'Для сотрудников',
  'lang.label': 'Язык',
  'conn.connecting': 'Подключение…',
  'conn.live': 'В эфире',
  'conn.reconnecting': 'Переподключение…',
  'conn.offline': 'Нет связи с {time}',
  'conn.banner': 'Нет связи с сервером с {time}: данные могут быть неактуальны. Переподключаемся автоматически.',
  'conn.label': 'Обновления в реальном времени',
  'overview.title': 'Пункты пропуска',
  'overview.loading': 'Загрузка пунктов пропуска…',
  'overview.loadError': 'Не удалось загрузить пункты пропуска: {message}',
  'overview.retry': 'Повторить сейчас',
  'overview.retrying': 'Автоматический повтор через {n} с.',
  'overview.legend': 'Длительность ожидания',
  'crossing.neighbour': 'С другой стороны: {name}',
  'crossing.charts': 'Графики: {name}',
  'crossing.hours24': 'Круглосуточно',
  'crossing.hoursDaily': 'Открыт {open}–{close} ({tz})',
  'table.caption': 'Очереди: {name}',
  'col.direction': 'Направление',
  'col.class': 'Транспорт',
  'col.status': 'Статус',
  'col.queue': 'Очередь',
  'col.lanes': 'Открыто полос',
  'col.wait': 'Ожидание (оценка)',
  'col.range': 'Диапазон (p10–p90)',
  'col.freshness': 'Последнее событие',
  'col.actions': 'Действия',
  'class.truck': 'Грузовики',
  'class.car': 'Легковые',
  'class.bus': 'Автобусы',
  'class.pedestrian': 'Пешеходы',
  'status.open': 'Открыт',
  'status.closed': 'Закрыт',
  'status.closedUntil': 'Закрыт до {time}',
  'status.restricted': 'Ограничен',
  'status.restrictedUntil': 'Ограничен до {time}',
  'status.reason': 'Причина: {reason}',
  'status.mixed': 'Частично закрыт',
  'status.mixedRestricted': 'Частично ограничен',
  'status.untilShort': 'до {time}',
  'status.noLanes': 'Нет открытых полос: ожидание неизвестно, пока полоса не откроется',
  'sev.low': 'Короткое',
  'sev.medium': 'Среднее',
  'sev.high': 'Долгое',
  'sev.severe': 'Очень долгое',
  'sev.closed': 'Закрыт',
  'sev.unknown': 'Нет оценки',
  'sev.stale': 'Устаревшие данные',
  'wait.unknown': 'неизвестно',
  'wait.range': '{p10}–{p90}',
  'wait.prior': 'типично для этого часа, нет данных в реальном времени',
  'queue.vehicles': '{n}',
  'fresh.never': 'событий ещё нет',
  'fresh.ago': '{ago} назад',
  'fresh.stale': 'устарело',
  'fresh.staleTitle': 'Нет свежих событий: данные могут быть неактуальны',
  'dur.lessMinute': 'меньше 1 мин',
  'dur.min': '{n} мин',
  'dur.h': '{n} ч',
  'dur.hmin': '{h} ч {m} мин',
  'dur.d': '{n} дн',
  'dur.dh': '{d} дн {h} ч',
  'map.title': 'Карта',
  'map.caption': 'Цвет метки показывает самое долгое ожидание на пункте. Выберите метку, чтобы открыть графики.',
  'map.loadError': 'Не удалось загрузить карту.',
  'map.svgTitle': 'Пункты пропуска Казахстана, Кыргызстана, Узбекистана и западного Китая',
  'country.KZ': 'Казахстан',
  'country.KG': 'Кыргызстан',
  'country.UZ': 'Узбекистан',
  'country.CN': 'Китай',
  'country.TJ': 'Таджикистан',
  'country.TM': 'Туркменистан',
  'country.RU': 'Россия',
  'country.MN': 'Монголия',
  'country.AF': 'Афганистан',
  'country.IR': 'Иран',
  'alerts.title': 'Оповещения',
  'alerts.threshold': 'Оповещать, если ожидание больше (минут)',
  'alerts.thresholdSave': 'Применить',
  'alerts.thresholdSaved': 'Порог оповещения: {threshold}.',
  'alerts.none': 'Оповещений нет.',
  'alerts.count': 'активных: {n}',
  'alerts.waitAbove': '{crossing}, {queue}: ожидание {wait} превышает {threshold}.',
  'alerts.growing': '{crossing}, {queue}: очередь растёт быстрее, чем обслуживается.',
  'alerts.closed': '{crossing}: закрыт.',
  'alerts.closedUntil': '{crossing}: закрыт до {time}.',
  'alerts.closedQueue': '{crossing}, {queue}: закрыто.',
  'alerts.stale': '{crossing}, {queue}: нет событий уже {ago}, источник молчит.',
  'alerts.staleNever': '{crossing}, {queue}: событий ещё не поступало.',
  'alerts.kind.wait': 'Долгое ожидание',
  'alerts.kind.growing': 'Очередь растёт',
  'alerts.kind.closed': 'Закрыт',
  'alerts.kind.stale': 'Источник молчит',
  'detail.title': '{name}: последние 24 часа',
  'detail.close': 'Закрыть графики',
  'detail.direction': 'Направление',
  'detail.class': 'Транспорт',
  'detail.tz': 'Время: {tz}',
  'detail.loading': 'Загрузка истории…',
  'detail.error': 'Не удалось загрузить историю: {message}',
  'detail.empty': 'Нет истории этой очереди за последние 24 часа.',
  'detail.table': 'Показать значения таблицей',
  'detail.time': 'Время',
  'chart.queue': 'Длина очереди (машин)',
  'chart.lanes': 'Открыто полос',
  'chart.wait': 'Ожидание (минут): оценка (медиана и диапазон p10–p90) и фактическое',
  'chart.waitEstimated': 'Оценка',
  'chart.waitBand': 'Диапазон p10–p90',
  'chart.waitRealised': 'Фактическое',
  'chart.throughput': 'Пропускная способность (машин в час): обслужено и возможность',
  'chart.served': 'Обслужено в час',
  'chart.capacity': 'Возможность',
  'chart.noData': 'Нет данных',
  'official.title': 'Для сотрудников',
  'official.intro': 'Изменения публикуются как события; все открытые панели покажут их через несколько секунд.',
  'official.token': 'Токен сотрудника',
  'official.tokenHint': 'Хранится только в этой вкладке и забывается при её закрытии.',
  'official.tokenSave': 'Использовать токен',
  'official.tokenClear': 'Забыть токен',
  'official.tokenSet': 'Токен задан для этого сеанса.',
  'official.tokenCleared': 'Токен забыт.',
  'official.tokenMissing': 'Сначала введите токен сотрудника.',
  'official.crossing': 'Пункт пропуска',
  'official.direction': 'Направление',
  'official.class': 'Транспорт',
  'official.lanesTitle': 'Открытые полосы',
  'official.lanes': 'Число открытых полос',
  'official.lanesSubmit': 'Задать полосы',
  'official.statusTitle': 'Открыть или закрыть пункт',
  'official.status': 'Статус',
  'official.reason': 'Причина',
  'official.until': 'Ожидаемое открытие, необязательно (в вашем часовом поясе: {tz})',
  'official.untilAt': 'На пункте {crossing} это {time} ({tz}).',
  'official.scope': 'Относится к',
  'official.scopeAll': 'Всему пункту пропуска',
  'official.scopeQueue': 'Только выбранному направлению и транспорту',
  'official.statusSubmit': 'Опубликовать статус',
  'official.sending': 'Отправка…',
  'official.okLanes': 'Принято: {crossing}, {queue}: открыто полос: {n}.',
  'official.okStatus': 'Принято: {crossing}, весь пункт: {status}.',
  'official.okStatusQueue': 'Принято: {crossing}, только {queue}: {status}.',
  'official.lanesInvalid': 'Число открытых полос должно быть целым числом от 0 до 1000.',
  'official.duplicate': 'Уже получено ранее (повтор), ничего не изменилось.',
  'official.error': 'Отклонено ({status}): {message}',
  'official.networkError': 'Нет связи с сервером: {message}',
  'official.setLanesFor': 'Задать полосы: {queue}',
  'official.setLanesShort': 'Полосы…',
  'official.untilInvalid': 'Время открытия должно быть в будущем.',
  'footer.text': 'Время указано в местном часовом поясе каждого пункта. Оценки получены моделью, с диапазоном p10–p90.',
};

const kk = {
  'app.title': 'Kezek: шекарадағы кезектер нақты уақытта',
  'app.name': 'Kezek',
  'app.subtitle': 'Шекарадағы кезектер мониторингі',
  'nav.label': 'Бөлімдер',
  'nav.skip': 'Негізгі мазмұнға өту',
  'nav.overview': 'Шолу',
  'nav.map': 'Карта',
  'nav.alerts': 'Ескертулер',
  'nav.official': 'Қызметкерлерге',
  'lang.label': 'Тіл',
  'conn.connecting': 'Қосылуда…',
  'conn.live': 'Тікелей',
  'conn.reconnecting': 'Қайта қосылуда…',
  'conn.offline': '{time} бастап байланыс жоқ',
  'conn.banner': '{time} бастап сервермен байланыс жоқ: деректер ескірген болуы мүмкін. Автоматты түрде қайта қосылуда.',
  'conn.label': 'Нақты уақыттағы жаңартулар',
  'overview.title': 'Өткізу пункттері',
  'overview.loading': 'Өткізу пункттері жүктелуде…',
  'overview.loadError': 'Өткізу пункттерін жүктеу мүмкін болмады: {message}',
  'overview.retry': 'Қазір қайталау',
  'overview.retrying': '{n} с кейін автоматты түрде қайталанады.',
  'overview.legend': 'Күту ұзақтығы',
  'crossing.neighbour': 'Арғы беті: {name}',
  'crossing.charts': 'Графиктер: {name}',
  'crossing.hours24': 'Тәулік бойы ашық',
  'crossing.hoursDaily': 'Ашық {open}–{close} ({tz})',
  'table.caption': 'Кезектер: {name}',
  'col.direction': 'Бағыт',
  'col.class': 'Көлік',
  'col.status': 'Күйі',
  'col.queue': 'Кезек',
  'col.lanes': 'Ашық жолақтар',
  'col.wait': 'Күту уақыты (бағалау)',
  'col.range': 'Аралық (p10–p90)',
  'col.freshness': 'Соңғы оқиға',
  'col.actions': 'Әрекеттер',
  'class.truck': 'Жүк көліктері',
  'class.car': 'Жеңіл көліктер',
  'class.bus': 'Автобустар',
  'class.pedestrian': 'Жаяу жүргіншілер',
  'status.open': 'Ашық',
  'status.closed': 'Жабық',
  'status.closedUntil': '{time} дейін жабық',
  'status.restricted': 'Шектеулі',
  'status.restrictedUntil': '{time} дейін шектеулі',
  'status.reason': 'Себебі: {reason}',
  'status.mixed': 'Ішінара жабық',
  'status.mixedRestricted': 'Ішінара шектеулі',
  'status.untilShort': '{time} дейін',
  'status.noLanes': 'Ашық жолақ жоқ: жолақ ашылғанша күту уақыты белгісіз',
  'sev.low': 'Қысқа',
  'sev.medium': 'Орташа',
  'sev.high': 'Ұзақ',
  'sev.severe': 'Өте ұзақ',
  'sev.closed': 'Жабық',
  'sev.unknown': 'Бағалау жоқ',
  'sev.stale': 'Ескірген деректер',
  'wait.unknown': 'белгісіз',
  'wait.range': '{p10}–{p90}',
  'wait.prior': 'осы сағатқа тән, тікелей деректер жоқ',
  'queue.vehicles': '{n}',
  'fresh.never': 'әзірге оқиға жоқ',
  'fresh.ago': '{ago} бұрын',
  'fresh.stale': 'ескірген',
  'fresh.staleTitle': 'Жаңа оқиғалар жоқ: деректер ескірген болуы мүмкін',
  'dur.lessMinute': '1 минуттан аз',
  'dur.min': '{n} мин',
  'dur.h': '{n} сағ',
  'dur.hmin': '{h} сағ {m} мин',
  'dur.d': '{n} күн',
  'dur.dh': '{d} күн {h} сағ',
  'map.title': 'Карта',
  'map.caption': 'Белгінің түсі пункттегі ең ұзақ күтуді көрсетеді. Графиктерді ашу үшін белгіні таңдаңыз.',
  'map.loadError': 'Картаны жүктеу мүмкін болмады.',
  'map.svgTitle': 'Қазақстан, Қырғызстан, Өзбекстан және батыс Қытай шекара өткелдері',
  'country.KZ': 'Қазақстан',
  'country.KG': 'Қырғызстан',
  'country.UZ': 'Өзбекстан',
  'country.CN': 'Қытай',
  'country.TJ': 'Тәжікстан',
  'country.TM': 'Түрікменстан',
  'country.RU': 'Ресей',
  'country.MN': 'Моңғолия',
  'country.AF': 'Ауғанстан',
  'country.IR': 'Иран',
  'alerts.title': 'Ескертулер',
  'alerts.threshold': 'Күту осыдан асса, ескерту (минут)',
  'alerts.thresholdSave': 'Қолдану',
  'alerts.thresholdSaved': 'Ескерту шегі: {threshold}.',
  'alerts.none': 'Ескертулер жоқ.',
  'alerts.count': 'белсенді: {n}',
  'alerts.waitAbove': '{crossing}, {queue}: күту {wait}, шектен ({threshold}) асады.',
  'alerts.growing': '{crossing}, {queue}: кезек қызмет көрсетуден жылдам өсуде.',
  'alerts.closed': '{crossing}: жабық.',
  'alerts.closedUntil': '{crossing}: {time} дейін жабық.',
  'alerts.closedQueue': '{crossing}, {queue}: жабық.',
  'alerts.stale': '{crossing}, {queue}: {ago} бойы оқиға жоқ, дереккөз үнсіз.',
  'alerts.staleNever': '{crossing}, {queue}: әзірге оқиға түскен жоқ.',
  'alerts.kind.wait': 'Ұзақ күту',
  'alerts.kind.growing': 'Кезек өсуде',
  'alerts.kind.closed': 'Жабық',
  'alerts.kind.stale': 'Дереккөз үнсіз',
  'detail.title': '{name}: соңғы 24 сағат',
  'detail.close': 'Графиктерді жабу',
  'detail.direction': 'Бағыт',
  'detail.class': 'Көлік',
  'detail.tz': 'Уақыт: {tz}',
  'detail.loading': 'Тарих жүктелуде…',
  'detail.error': 'Тарихты жүктеу мүмкін болмады: {message}',
  'detail.empty': 'Соңғы 24 сағатта бұл кезектің тарихы жоқ.',
  'detail.table': 'Мәндерді кесте түрінде көрсету',
  'detail.time': 'Уақыт',
  'chart.queue': 'Кезек ұзындығы (көлік)',
  'chart.lanes': 'Ашық жолақтар',
  'chart.wait': 'Күту (минут): бағалау (медиана және p10–p90 аралығы) және нақты',
  'chart.waitEstimated': 'Бағалау',
  'chart.waitBand': 'p10–p90 аралығы',
  'chart.waitRealised': 'Нақты',
  'chart.throughput': 'Өткізу қабілеті (сағатына көлік): өткізілгені мен мүмкіндік',
  'chart.served': 'Сағатына өткізілді',
  'chart.capacity': 'Мүмкіндік',
  'chart.noData': 'Деректер жоқ',
  'official.title': 'Қызметкерлерге',
  'official.intro': 'Өзгерістер оқиға ретінде жарияланады; барлық ашық тақталар оларды бірнеше секундта көрсетеді.',
  'official.token': 'Қызметкер токені',
  'official.tokenHint': 'Тек осы қойындыда сақталады және ол жабылғанда ұмытылады.',
  'official.tokenSave': 'Токенді қолдану',
  'official.tokenClear': 'Токенді ұмыту',
  'official.tokenSet': 'Токен осы сеансқа орнатылды.',
  'official.tokenCleared': 'Токен ұмытылды.',
  'official.tokenMissing': 'Алдымен қызметкер токенін енгізіңіз.',
  'official.crossing': 'Өткізу пункті',
  'official.direction': 'Бағыт',
  'official.class': 'Көлік',
  'official.lanesTitle': 'Ашық жолақтар',
  'official.lanes': 'Ашық жолақтар саны',
  'official.lanesSubmit': 'Жолақтарды орнату',
  'official.statusTitle': 'Пунктті ашу немесе жабу',
  'official.status': 'Күйі',
  'official.reason': 'Себебі',
  'official.until': 'Күтілетін ашылу уақыты, міндетті емес (сіздің уақыт белдеуіңізде: {tz})',
  'official.untilAt': '{crossing} пунктінде бұл {time} ({tz}).',
  'official.scope': 'Қолданылады',
  'official.scopeAll': 'Бүкіл өткізу пунктіне',
  'official.scopeQueue': 'Тек таңдалған бағыт пен көлікке',
  'official.statusSubmit': 'Күйді жариялау',
  'official.sending': 'Жіберілуде…',
  'official.okLanes': 'Қабылданды: {crossing}, {queue}: ашық жолақтар: {n}.',
  'official.okStatus': 'Қабылданды: {crossing}, бүкіл пункт: {status}.',
  'official.okStatusQueue': 'Қабылданды: {crossing}, тек {queue}: {status}.',
  'official.lanesInvalid': 'Ашық жолақтар саны 0-ден 1000-ға дейінгі бүтін сан болуы керек.',
  'official.duplicate': 'Бұрын алынған (қайталау), ештеңе өзгерген жоқ.',
  'official.error': 'Қабылданбады ({status}): {message}',
  'official.networkError': 'Сервермен байланыс жоқ: {message}',
  'official.setLanesFor': 'Жолақтарды орнату: {queue}',
  'official.setLanesShort': 'Жолақтар…',
  'official.untilInvalid': 'Ашылу уақыты болашақта болуы керек.',
  'footer.text': 'Уақыт әр өткізу пунктінің жергілікті уақыт белдеуінде көрсетілген. Бағалаулар модельден алынған, p10–p90 аралығымен.',
};

export const DICTS = { en, ru, kk };

let lang = DEFAULT_LANG;

export const getLang = () => lang;
export const locale = () => LOCALES[lang];

export function setLang(next) {
  lang = LANGS.includes(next) ? next : DEFAULT_LANG;
  return lang;
}

/** Translates `key`, filling `{name}` placeholders; falls back to English, then to the key itself. */
export function t(key, vars = {}) {
  const s = DICTS[lang][key] ?? DICTS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

export function fmtNumber(n, opts = {}) {
  return new Intl.NumberFormat(locale(), opts).format(n);
}

/** "1 h 25 min" style, rounded to minutes; null -> the word for unknown. */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return t('wait.unknown');
  const mins = Math.round(seconds / 60);
  if (mins < 1) return t('dur.lessMinute');
  if (mins < 60) return t('dur.min', { n: fmtNumber(mins) });
  const h = Math.floor(mins / 60);
  const m = mins % 60;
  if (h < 48) return m === 0 ? t('dur.h', { n: fmtNumber(h) }) : t('dur.hmin', { h: fmtNumber(h), m: fmtNumber(m) });
  const d = Math.floor(h / 24);
  const rh = h % 24;
  return rh === 0 ? t('dur.d', { n: fmtNumber(d) }) : t('dur.dh', { d: fmtNumber(d), h: fmtNumber(rh) });
}

/** Wall-clock time in a zone, e.g. "14:05" (24 h in every supported locale). */
export function fmtTime(ms, timeZone) {
  return new Intl.DateTimeFormat(locale(), { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
}

/** Kazakh month abbreviations (CLDR), for browsers whose ICU lacks Kazakh data. */
export const KK_MONTHS_SHORT = ['қаң.', 'ақп.', 'нау.', 'сәу.', 'мам.', 'мау.', 'шіл.', 'там.', 'қыр.', 'қаз.', 'қар.', 'жел.'];

const monthNamesMissing = new Map();
/**
 * True when this Intl has no month names for `loc`: some Chromium builds list `kk` as supported but ship no
 * Kazakh data, and format a short month as "M11". Detected from the output, not from supportedLocalesOf.
 */
export function lacksMonthNames(loc) {
  if (!monthNamesMissing.has(loc)) {
    let missing;
    try {
      const month = new Intl.DateTimeFormat(loc, { month: 'short', timeZone: 'UTC' }).formatToParts(Date.UTC(2026, 10, 15)).find((p) => p.type === 'month')?.value ?? '';
      missing = month === '' || /\d/.test(month);
    } catch {
      missing = true;
    }
    monthNamesMissing.set(loc, missing);
  }
  return monthNamesMissing.get(loc);
}

/** "23 қар., 08:00": the Kazakh day and time in a zone, from digits only (works without Kazakh locale data). */
export function kkDateTime(ms, timeZone) {
  const parts = {};
  const fmt = new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  for (const p of fmt.formatToParts(ms)) parts[p.type] = p.value;
  return `${Number(parts.day)} ${KK_MONTHS_SHORT[Number(parts.month) - 1]}, ${parts.hour}:${parts.minute}`;
}

/** Day and time in a zone, e.g. "22 Nov, 14:05". */
export function fmtDateTime(ms, timeZone) {
  if (lang === 'kk' && lacksMonthNames(locale())) return kkDateTime(ms, timeZone);
  return new Intl.DateTimeFormat(locale(), { timeZone, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
}

/** The browser's own time zone (where a datetime-local input's value is read), 'UTC' if Intl cannot tell. */
export const browserTimeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

/** "UTC+5" for a zone at an instant (offsets change with DST in some zones). */
export function utcOffsetLabel(timeZone, at = Date.now()) {
  const part = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'shortOffset' })
    .formatToParts(at)
    .find((p) => p.type === 'timeZoneName');
  const off = part ? part.value.replace(/^GMT/, '') : '';
  return off === '' || /^[+-]0+$/.test(off) ? 'UTC' : `UTC${off}`;
}

/** "UTC+5, Asia/Almaty": the label put next to every local time. */
export const tzLabel = (timeZone, at = Date.now()) => `${utcOffsetLabel(timeZone, at)}, ${timeZone}`;

/** Fills elements marked with data-i18n (text), data-i18n-aria-label and data-i18n-title. */
export function translateDom(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.setAttribute('title', t(el.dataset.i18nTitle));
}
