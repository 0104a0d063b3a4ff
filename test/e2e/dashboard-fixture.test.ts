/**
 * The dashboard in a real headless Chromium against the fixture API (test/e2e/fixture-api.ts): the page's own
 * behaviour (rendering, live updates over SSE, reconnect, languages, officials' forms, alerts, charts, map,
 * phone layout) under a strict CSP. The same journey against the real estimator + API is dashboard.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { randomUUID } from 'node:crypto';
import { queueKey } from '../../shared/estimates.ts';
import type { VehicleClass } from '../../shared/catalogue/index.ts';
import { startFixtureApi, type FixtureApi } from './fixture-api.ts';
import { cell, hasChromium, launchBrowser, listedCrossings, openDashboard, screenshot, setLanesViaForm, waitForText } from './browser.ts';

const TOKEN = `official-${randomUUID()}`;

describe.skipIf(!hasChromium())('dashboard against the fixture API (headless Chromium)', () => {
  let api: FixtureApi;
  let browser: Browser;

  beforeAll(async () => {
    api = await startFixtureApi({ officialToken: TOKEN });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  const post = async (event: unknown, token = TOKEN) =>
    fetch(`${api.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(event) });

  it('loads under a strict CSP without console errors, lists every catalogued crossing and goes live', async () => {
    const { page, errors } = await openDashboard(browser, api.url);
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 5000 });
    const listed = await listedCrossings(page, api.catalogue);
    for (const c of api.catalogue.crossings) expect(listed[c.id], c.id).toContain(c.names.en);
    const rows = await page.locator('tr[data-queue]').count();
    expect(rows).toBe(api.catalogue.queues().length);
    expect(await page.locator('#map a.marker').count()).toBe(api.catalogue.crossings.length);
    await screenshot(page, 'fixture-overview');
    // semantics the page promises: labelled controls, scoped header cells, landmarks, one h1
    const a11y = await page.evaluate(() => ({
      unlabelled: [...document.querySelectorAll('input, select')].filter((el) => !(el as HTMLInputElement).labels?.length && !el.getAttribute('aria-label')).map((el) => el.id),
      unscopedTh: document.querySelectorAll('th:not([scope])').length,
      landmarks: ['header', 'nav', 'main', 'footer'].filter((t) => document.querySelector(t) === null),
      h1: document.querySelectorAll('h1').length,
      divButtons: document.querySelectorAll('div[onclick], span[onclick], [role="button"]:not(button)').length,
    }));
    expect(a11y).toEqual({ unlabelled: [], unscopedTh: 0, landmarks: [], h1: 1, divButtons: 0 });
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('reads history at load only for queues long enough to have grown (one request per queue used up the read budget)', async () => {
    const urls: string[] = [];
    const { page, errors } = await openDashboard(browser, api.url, { beforeLoad: async (p) => p.on('request', (r) => void urls.push(r.url())) });
    await page.waitForSelector('#conn[data-state="live"]');
    await page.waitForTimeout(1500); // the seeding runs after the first render
    const long = [...api.estimates.values()].filter((e) => e.queueLength >= 5).map((e) => `${e.crossingId}|${e.direction}|${e.vehicleClass}`).sort();
    const read = urls
      .filter((u) => u.includes('/history?'))
      .map((u) => {
        const url = new URL(u);
        return `${url.pathname.split('/')[3]}|${url.searchParams.get('direction')}|${url.searchParams.get('vehicleClass')}`;
      })
      .sort();
    expect(read).toEqual(long);
    expect(read.length).toBeLessThan(api.catalogue.queues().length);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('when an event is posted, the crossing shows closed with its reason and an alert, without a reload', async () => {
    const { page, errors } = await openDashboard(browser, api.url);
    await page.waitForSelector('#conn[data-state="live"]');
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
    const c = api.catalogue.crossings[0]!;
    const until = new Date(Date.now() + 3 * 3600_000).toISOString();
    const res = await post({ eventId: randomUUID(), type: 'crossing.status', crossingId: c.id, occurredAt: new Date().toISOString(), status: 'closed', until, reason: 'flooding' });
    expect(res.status).toBe(202);
    await page.waitForFunction((id) => document.querySelector(`#card-${id} [data-field="crossingStatus"]`)?.className.includes('status-closed'), c.id, { timeout: 5000 });
    const badge = await page.textContent(`#card-${c.id} [data-field="crossingStatus"]`);
    expect(badge).toMatch(/^Closed until .*\(UTC[+-]\d+(:\d\d)?, /);
    expect(badge).toContain('flooding');
    // no lane is open at a closed crossing, whatever its last lane count
    const lanes = await page.$$eval(`#card-${c.id} tr[data-queue] [data-field="lanesOpen"]`, (cells) => cells.map((td) => td.textContent));
    expect(lanes.length).toBeGreaterThan(0);
    expect(lanes.every((v) => v === '0')).toBe(true);
    await page.waitForSelector(`#alerts-list li[data-kind="closed"][data-crossing="${c.id}"]`, { timeout: 5000 });
    expect(await page.getAttribute(`#map a.marker[data-crossing="${c.id}"]`, 'class')).toContain('sev-closed');
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    await screenshot(page, 'fixture-closed');
    // reopen so later tests start from an open crossing
    expect((await post({ eventId: randomUUID(), type: 'crossing.status', crossingId: c.id, occurredAt: new Date().toISOString(), status: 'open' })).status).toBe(202);
    await page.waitForFunction((id) => document.querySelector(`#card-${id} [data-field="crossingStatus"]`)?.className.includes('status-open'), c.id);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("an official's lane change shows on every open dashboard", async () => {
    const a = await openDashboard(browser, api.url);
    const b = await openDashboard(browser, api.url);
    await a.page.waitForSelector('#conn[data-state="live"]');
    await b.page.waitForSelector('#conn[data-state="live"]');
    const q = api.catalogue.queues()[1]!;
    const key = queueKey(q);
    const before = api.estimates.get(key)!.lanesOpen;
    const lanes = before + 2;
    const result = await setLanesViaForm(a.page, TOKEN, q, lanes);
    expect(result).toMatch(/^Accepted: /);
    await waitForText(a.page, cell(key, 'lanesOpen'), String(lanes));
    await waitForText(b.page, cell(key, 'lanesOpen'), String(lanes));
    expect(api.estimates.get(key)!.lanesOpen).toBe(lanes);
    await screenshot(a.page, 'fixture-lanes-changed');
    expect([...a.errors, ...b.errors]).toEqual([]);
    await a.page.context().close();
    await b.page.context().close();
  });

  it("shows the API's error message accessibly when the token is wrong", async () => {
    const { page } = await openDashboard(browser, api.url);
    const q = api.catalogue.queues()[0]!;
    const result = await setLanesViaForm(page, 'not-the-token', q, 1);
    expect(result).toContain('401');
    expect(result).toContain('missing or invalid bearer token');
    expect(await page.getAttribute('#official-result', 'aria-live')).toBe('assertive');
    expect(api.estimates.get(queueKey(q))!.lanesOpen).not.toBe(1);
    await page.context().close();
  });

  it("a queue row's Lanes button preselects that queue and puts the keyboard in the number field", async () => {
    const { page } = await openDashboard(browser, api.url);
    expect(await page.locator('button[data-action="lanes"]').first().isVisible()).toBe(false);
    await page.fill('#token', TOKEN);
    await page.press('#token', 'Enter');
    await page.waitForSelector('body.has-token');
    const q = api.catalogue.queues().at(-1)!;
    await page.click(`tr[data-queue="${queueKey(q)}"] button[data-action="lanes"]`);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('lanes-value');
    expect(await page.inputValue('#lanes-crossing')).toBe(q.crossingId);
    expect(await page.inputValue('#lanes-direction')).toBe(q.direction);
    expect(await page.inputValue('#lanes-class')).toBe(q.vehicleClass);
    expect(await page.inputValue('#lanes-value')).toBe(String(api.estimates.get(queueKey(q))!.lanesOpen));
    await page.context().close();
  });

  it('switches to Kazakh and Russian, and remembers the choice after a reload', async () => {
    const { page, errors } = await openDashboard(browser, api.url);
    expect(await page.textContent('#overview-h')).toBe('Crossings');
    await page.selectOption('#lang', 'kk');
    expect(await page.textContent('#overview-h')).toBe('Өткізу пункттері');
    expect(await page.getAttribute('html', 'lang')).toBe('kk');
    const c = api.catalogue.crossings[0]!;
    expect(await page.textContent(`#card-${c.id} h3`)).toContain(c.names.kk);
    await screenshot(page, 'fixture-kazakh');
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.textContent('#overview-h')).toBe('Өткізу пункттері');
    await page.selectOption('#lang', 'ru');
    expect(await page.textContent('#overview-h')).toBe('Пункты пропуска');
    expect(await page.textContent('#official-h')).toBe('Для сотрудников');
    expect(await page.textContent(`#card-${c.id} h3`)).toContain(c.names.ru);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('marks a silent source as stale and raises a silent-source alert', async () => {
    const { page } = await openDashboard(browser, api.url);
    const silent = [...api.estimates.values()].find((e) => e.stale)!;
    const key = queueKey(silent);
    await page.waitForSelector(`tr[data-queue="${key}"].is-stale`);
    expect(await page.textContent(cell(key, 'freshness'))).toContain('stale');
    expect(await page.getAttribute(`${cell(key, 'wait')} .sev-badge`, 'class')).toContain('sev-stale');
    await page.waitForSelector(`#alerts-list li[data-kind="stale"][data-crossing="${silent.crossingId}"]`);
    await page.context().close();
  });

  it('reconnects by itself after the stream drops and keeps applying updates', async () => {
    const { page, errors } = await openDashboard(browser, api.url);
    await page.waitForSelector('#conn[data-state="live"]');
    api.dropStreams();
    await page.waitForSelector('#conn:not([data-state="live"])', { timeout: 5000 });
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });
    const q = api.catalogue.queues()[2]!;
    const { queueLength } = api.estimates.get(queueKey(q))!;
    const next = api.publish(queueKey(q), { queueLength: 4321 });
    await waitForText(page, cell(queueKey(q), 'queueLength'), (4321).toLocaleString('en-GB'));
    expect(next.queueLength).toBe(4321);
    api.publish(queueKey(q), { queueLength }); // later tests recompute waits from it
    // EventSource reports the dropped connection itself; nothing else may have gone wrong
    expect(errors.filter((e) => !/EventSource|net::ERR/.test(e))).toEqual([]);
    await page.context().close();
  });

  it('opens 24 h charts labelled with the local zone from the overview and from the map by keyboard', async () => {
    const { page, errors } = await openDashboard(browser, api.url);
    const c = api.catalogue.crossings[0]!;
    await page.click(`#charts-${c.id}`);
    await page.waitForSelector('#chart-throughput');
    for (const id of ['chart-queue', 'chart-lanes', 'chart-wait', 'chart-throughput']) {
      expect(await page.locator(`#${id} svg path, #${id} svg rect:not(.sea)`).count(), id).toBeGreaterThan(0);
    }
    const zone = api.catalogue.localZone(c.id)!;
    expect(await page.textContent('#detail-tz')).toMatch(new RegExp(`UTC[+-]\\d+(:\\d\\d)?, ${zone.replace('/', '\\/')}`));
    await screenshot(page, 'fixture-charts');
    await page.click('#detail-close');
    expect(await page.isHidden('#detail')).toBe(true);
    const other = api.catalogue.crossings[api.catalogue.crossings.length - 1]!;
    await page.focus(`#map a.marker[data-crossing="${other.id}"]`);
    await page.keyboard.press('Enter');
    await page.waitForFunction((name) => document.querySelector('#detail-h')?.textContent?.startsWith(name), other.names.en);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  // ---------- connection, layout and officials' details (review of the dashboard) ----------

  const COUNTRY: Record<string, string> = { KZ: 'Kazakhstan', KG: 'Kyrgyzstan', UZ: 'Uzbekistan', CN: 'China' };
  const dirLabel = (dir: string) => dir.split('-').map((cc) => COUNTRY[cc]).join('\u00a0→ ');
  const statusEvent = (patch: Record<string, unknown>) => ({ eventId: randomUUID(), type: 'crossing.status', occurredAt: new Date().toISOString(), ...patch });
  /** Tolerated in the console of tests that take the API away: the browser logs the failed requests itself. */
  const networkNoise = (e: string) => /net::ERR|Failed to load resource|status of 503/.test(e);

  it('notices a stalled stream (no byte, not even a heartbeat, for 35 s), goes offline after 30 s more, and resumes from Last-Event-ID', async () => {
    const { page, errors } = await openDashboard(browser, api.url, { beforeLoad: (p) => p.clock.install() });
    await page.waitForSelector('#conn[data-state="live"]');
    const streamRequests: Record<string, string>[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/v1/stream')) streamRequests.push(r.headers());
    });
    const q = api.catalogue.queues()[3]!;
    const key = queueKey(q);
    const { queueLength } = api.estimates.get(key)!;
    const before = api.publish(key, { queueLength: 606 });
    await waitForText(page, cell(key, 'queueLength'), '606');
    api.freezeStreams(true);
    try {
      api.publish(key, { queueLength: 777 });
      await page.clock.fastForward(20_000);
      // one missed heartbeat is not yet a dead connection
      expect(await page.getAttribute('#conn', 'data-state')).toBe('live');
      await page.clock.fastForward(16_000);
      await page.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 3000 });
      expect(await page.isHidden('#offline-banner')).toBe(true);
      await page.clock.fastForward(31_000);
      await page.waitForSelector('#conn[data-state="offline"]', { timeout: 3000 });
      expect(await page.textContent('#conn-text')).toMatch(/^Offline since \d\d:\d\d$/);
      expect(await page.isVisible('#offline-banner')).toBe(true);
      expect(await page.textContent('#offline-banner')).toMatch(/may be out of date/);
      expect(await page.getAttribute('body', 'class')).toContain('is-offline');
      await screenshot(page, 'fixture-offline');
    } finally {
      api.freezeStreams(false);
    }
    for (let i = 0; i < 20 && (await page.getAttribute('#conn', 'data-state')) !== 'live'; i++) {
      await page.clock.fastForward(2000);
      await page.waitForTimeout(100);
    }
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 5000 });
    expect(await page.isHidden('#offline-banner')).toBe(true);
    expect(await page.getAttribute('body', 'class')).not.toContain('is-offline');
    await waitForText(page, cell(key, 'queueLength'), '777');
    // the reconnection asked for what it missed, after the last event it had received
    const lastSeq = Number(streamRequests.at(-1)?.['last-event-id']);
    expect(lastSeq).toBeGreaterThan(0);
    expect(streamRequests.every((h) => h['last-event-id'] === String(lastSeq))).toBe(true);
    expect(before.queueLength).toBe(606);
    api.publish(key, { queueLength });
    expect(errors.filter((e) => !networkNoise(e))).toEqual([]);
    await page.context().close();
  });

  it('retries the first load by itself with backoff when the API is down, and keeps the manual button', async () => {
    api.failCrossings(503);
    let page;
    try {
      ({ page } = await openDashboard(browser, api.url, { waitReady: false }));
      await page.waitForFunction(() => /Retrying automatically in 2 s/.test(document.querySelector('#overview-status')?.textContent ?? ''));
      expect(await page.getAttribute('#conn', 'data-state')).toBe('offline');
      expect(await page.textContent('#conn-text')).toMatch(/^Offline since \d\d:\d\d$/);
      // the next attempt comes by itself, and fails again: a longer wait
      await page.waitForFunction(() => /Retrying automatically in 4 s/.test(document.querySelector('#overview-status')?.textContent ?? ''), undefined, { timeout: 6000 });
    } finally {
      api.failCrossings(null);
    }
    await page.click('#overview-retry');
    await page.waitForSelector('body[data-ready="true"]', { timeout: 3000 });
    expect(await page.locator('tr[data-queue]').count()).toBe(api.catalogue.queues().length);
    expect(await page.locator('#lanes-crossing option').count()).toBe(api.catalogue.crossings.length);
    await page.waitForSelector('#conn[data-state="live"]');
    await page.context().close();
  });

  it('at 1024x768 with an official token every column of every crossing fits its card, in every language, with a long reason', async () => {
    const [closed, restricted] = [api.catalogue.crossings[1]!, api.catalogue.crossings[0]!];
    const until = new Date(Date.now() + 5 * 3600_000).toISOString();
    expect((await post([
      statusEvent({ crossingId: closed.id, status: 'closed', until, reason: 'x'.repeat(200) }),
      statusEvent({ crossingId: restricted.id, status: 'restricted', until, reason: 'y'.repeat(150), direction: restricted.directions[1], vehicleClass: restricted.vehicleClasses[1] }),
    ])).status).toBe(202);
    try {
      for (const [lang, width, height] of [['en', 1024, 768], ['ru', 1024, 768], ['kk', 1024, 768], ['en', 1280, 800], ['en', 1440, 900]] as const) {
        const { page, errors } = await openDashboard(browser, api.url, {
          width,
          height,
          beforeLoad: (p) => p.addInitScript((l) => {
            sessionStorage.setItem('kezek.officialToken', 'token');
            localStorage.setItem('kezek.lang', l);
          }, lang),
        });
        expect(await page.evaluate(() => document.body.classList.contains('has-token'))).toBe(true);
        const overflow = await page.evaluate(() =>
          [...document.querySelectorAll('.crossing-card')].flatMap((card) => {
            const wrap = card.querySelector('.table-wrap')!;
            const right = wrap.getBoundingClientRect().right;
            const out = [...card.querySelectorAll('thead th, tbody button')].filter((el) => el.getBoundingClientRect().right > right + 1).map((el) => el.textContent);
            return wrap.scrollWidth > wrap.clientWidth + 1 || out.length ? [`${card.id}: table ${wrap.scrollWidth} in ${wrap.clientWidth}, cut: ${out.join(' | ')}`] : [];
          }),
        );
        expect(overflow, `${lang} ${width}`).toEqual([]);
        expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
        if (width === 1024) await screenshot(page, `fixture-1024-${lang}`);
        expect(errors).toEqual([]);
        await page.context().close();
      }
    } finally {
      for (const c of [closed, restricted]) expect((await post(statusEvent({ crossingId: c.id, status: 'open' }))).status).toBe(202);
    }
  });

  it('a status change for one queue names that queue, and one restricted queue makes the crossing "Partly restricted"', async () => {
    const { page, errors } = await openDashboard(browser, api.url);
    const c = api.catalogue.crossings[0]!;
    const [direction, vehicleClass] = [c.directions[1]!, 'car'];
    await page.fill('#token', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.selectOption('#status-crossing', c.id);
    await page.selectOption('#status-value', 'restricted');
    await page.check('input[name="scope"][value="queue"]');
    await page.selectOption('#status-direction', direction);
    await page.selectOption('#status-class', vehicleClass);
    await page.fill('#status-reason', 'lane repairs');
    await page.click('#status-form button[type="submit"]');
    await page.waitForSelector('#official-result.result-ok');
    expect(await page.textContent('#official-result')).toBe(`Accepted: ${c.names.en}, only ${dirLabel(direction)}, Cars: Restricted.`);
    await page.waitForFunction((id) => document.querySelector(`#card-${id} [data-field="crossingStatus"]`)?.textContent?.startsWith('Partly restricted'), c.id);
    expect(await page.textContent(cell(queueKey({ crossingId: c.id, direction, vehicleClass }), 'status'))).toMatch(/^Restricted/);
    // the whole crossing, from the same form
    await page.check('input[name="scope"][value="all"]');
    await page.selectOption('#status-value', 'open');
    await page.fill('#status-reason', '');
    await page.click('#status-form button[type="submit"]');
    await page.waitForFunction(() => /^Accepted: .*, whole crossing: Open\.$/.test(document.querySelector('#official-result')?.textContent ?? ''));
    await page.waitForFunction((id) => document.querySelector(`#card-${id} [data-field="crossingStatus"]`)?.textContent === 'Open', c.id);
    // the page's own check of the lanes field: no invented HTTP status, and it says what is wrong with 2.5
    // its limit is the selected queue's lanesMax from the catalogue (the API refuses more), in the field and the message
    await page.selectOption('#lanes-crossing', c.id);
    const lanesMax = api.catalogue.profile(c.id, (await page.inputValue('#lanes-class')) as VehicleClass)!.lanesMax;
    expect(await page.getAttribute('#lanes-value', 'max')).toBe(String(lanesMax));
    const refusal = `The number of lanes open must be a whole number from 0 to ${lanesMax}.`;
    await page.fill('#lanes-value', '2.5');
    await page.click('#lanes-form button[type="submit"]');
    expect(await page.textContent('#official-result')).toBe(refusal);
    await page.fill('#lanes-value', String(lanesMax + 1));
    await page.click('#lanes-form button[type="submit"]');
    expect(await page.textContent('#official-result')).toBe(refusal);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('names the browser time zone at the reopening field and shows that time at the crossing', async () => {
    const { page, errors } = await openDashboard(browser, api.url, { timezoneId: 'Asia/Tokyo' });
    expect(await page.textContent('#status-until-label')).toBe('Expected reopening, optional (in your time zone: UTC+9, Asia/Tokyo)');
    const c = api.catalogue.crossings[0]!;
    const zone = api.catalogue.localZone(c.id)!;
    await page.selectOption('#status-crossing', c.id);
    await page.fill('#status-until', '2030-01-15T09:00');
    const expected = `At ${c.names.en} that is ${new Intl.DateTimeFormat('en-GB', { timeZone: zone, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(Date.UTC(2030, 0, 15))}`;
    expect(await page.textContent('#status-until-hint')).toContain(expected);
    expect(await page.textContent('#status-until-hint')).toContain(`, ${zone})`);
    await page.selectOption('#lang', 'ru');
    expect(await page.textContent('#status-until-label')).toContain('UTC+9, Asia/Tokyo');
    await page.selectOption('#lang', 'kk');
    expect(await page.textContent('#status-until-label')).toContain('UTC+9, Asia/Tokyo');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows Kazakh month names in dates even where the browser lacks Kazakh locale data', async () => {
    const c = api.catalogue.crossings[2]!;
    const zone = api.catalogue.localZone(c.id)!;
    const until = new Date(Math.ceil((Date.now() + 4 * 3600_000) / 60_000) * 60_000);
    expect((await post(statusEvent({ crossingId: c.id, status: 'closed', until: until.toISOString() }))).status).toBe(202);
    try {
      const { page, errors } = await openDashboard(browser, api.url, { beforeLoad: (p) => p.addInitScript(() => localStorage.setItem('kezek.lang', 'kk')) });
      // Node's ICU has the Kazakh data: what the page must show
      const expected = new Intl.DateTimeFormat('kk-KZ', { timeZone: zone, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(until);
      expect(expected).toMatch(/^\d{1,2} [а-яәіңғүұқөһ]+\., \d\d:\d\d$/);
      await page.waitForFunction((id) => document.querySelector(`#card-${id} [data-field="crossingStatus"]`)?.className.includes('status-closed'), c.id);
      const badge = await page.textContent(`#card-${c.id} [data-field="crossingStatus"]`);
      expect(badge).toContain(`${expected} (UTC`);
      expect(badge).not.toMatch(/[MМ]\d/);
      expect(errors).toEqual([]);
      await page.context().close();
    } finally {
      expect((await post(statusEvent({ crossingId: c.id, status: 'open' }))).status).toBe(202);
    }
  });

  it('keeps map markers that are a few pixels apart visible and clickable, each with a line to its true position', async () => {
    const { page, errors } = await openDashboard(browser, api.url, { width: 1440, height: 900 });
    await page.waitForSelector('#map a.marker');
    const hits = await page.evaluate(() =>
      [...document.querySelectorAll('#map a.marker')].map((a) => {
        const r = a.querySelector('.marker-dot')!.getBoundingClientRect();
        const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)?.closest('a.marker') as HTMLElement | null;
        return [(a as HTMLElement).dataset.crossing, hit?.dataset.crossing ?? null];
      }),
    );
    expect(hits.length).toBe(api.catalogue.crossings.length);
    for (const [id, hit] of hits) expect(hit, `marker ${id}`).toBe(id);
    expect(await page.locator('#map .marker-offset').count()).toBeGreaterThan(0);
    await page.click('#map a.marker[data-crossing="korday"] .marker-dot');
    await page.waitForFunction(() => document.querySelector('#detail-h')?.textContent?.startsWith('Korday'));
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('persists the alert threshold and fits a phone-sized screen', async () => {
    const { page } = await openDashboard(browser, api.url, { width: 390, height: 844 });
    await page.fill('#threshold', '10000');
    await page.click('#threshold-form button[type="submit"]');
    expect(await page.locator('#alerts-list li[data-kind="wait"]').count()).toBe(0);
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.inputValue('#threshold')).toBe('10000');
    await page.fill('#threshold', '1');
    await page.click('#threshold-form button[type="submit"]');
    expect(await page.locator('#alerts-list li[data-kind="wait"]').count()).toBeGreaterThan(0);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    await screenshot(page, 'fixture-phone');
    await page.context().close();
  });
});
