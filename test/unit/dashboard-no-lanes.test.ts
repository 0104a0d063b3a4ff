/**
 * What the officials' dashboard makes of a queue with no lane open on an open crossing, from the estimate the model
 * really publishes for it: no wait figure and no severity, and a reason in the page's language.
 */
import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { KezekEventSchema } from '../../shared/events/index.ts';
import { computeEstimate, MODEL_LOOKBACK_MS, NO_LANES_OPEN_REASON } from '../../shared/estimation/model.ts';
import { windowFromEvents } from '../../shared/estimation/reference-window.ts';

// Plain browser modules without type declarations: imported by URL, as test/e2e/dashboard-logic.test.ts does.
const pub = (f: string) => new URL(`../../services/api/public/${f}`, import.meta.url).href;
const model = await import(pub('model.js'));
const i18n = await import(pub('i18n.js'));

const catalogue = loadCatalogue();
const Q = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' } as const;
const T0 = Date.parse('2026-11-16T06:00:00Z');
const MIN = 60_000;

/** The estimate published 10 minutes in, after lanes go to `lanesOpen`; `reason`: an official's restriction first. */
function estimateAfter(lanesOpen: number, reason?: string) {
  const at = (m: number) => new Date(T0 + m * MIN).toISOString();
  const events = [
    ...(reason === undefined ? [] : [KezekEventSchema.parse({ eventId: 's1', ...Q, occurredAt: at(0), type: 'crossing.status', status: 'restricted', reason })]),
    KezekEventSchema.parse({ eventId: 'l1', ...Q, occurredAt: at(0), type: 'lanes.changed', lanesOpen: 3 }),
    KezekEventSchema.parse({ eventId: 'o1', ...Q, occurredAt: at(1), type: 'queue.observed', queueLength: 25 }),
    KezekEventSchema.parse({ eventId: 'l2', ...Q, occurredAt: at(5), type: 'lanes.changed', lanesOpen }),
  ];
  const ctx = { profile: catalogue.profile(Q.crossingId, Q.vehicleClass)!, localZone: 'Asia/Almaty', staleAfterMs: 15 * MIN, nowMs: T0 + 10 * MIN, revision: 1 };
  return computeEstimate(windowFromEvents(events, Q, T0 + 10 * MIN, MODEL_LOOKBACK_MS), ctx);
}

describe('dashboard: a queue with no lane open', () => {
  it('is recognised from the published estimate, shows no severity and raises no wait alert', () => {
    const est = estimateAfter(0);
    expect(est).toMatchObject({ status: 'open', lanesOpen: 0, waitSeconds: null });
    expect(model.noLanesOpen(est)).toBe(true);
    expect(model.severityOf(est)).toBe('unknown');
    const key = model.queueKey(est);
    const alerts = model.computeAlerts({
      crossings: [catalogue.get('korday')], estimates: new Map([[key, est]]), growing: new Set(), thresholdSeconds: 60, now: T0 + 10 * MIN, staleAfterMs: 15 * MIN,
    });
    expect(alerts.filter((a: { kind: string }) => a.kind === 'wait')).toEqual([]);
    // the wait cell's text for it: the word for unknown, never a number or NaN
    expect(i18n.fmtDuration(est.waitSeconds)).toBe('unknown');
  });

  it('is not confused with a closed queue or a queue with lanes open', () => {
    expect(model.noLanesOpen(estimateAfter(2))).toBe(false);
    expect(model.noLanesOpen({ ...estimateAfter(0), status: 'closed' })).toBe(false);
    expect(model.noLanesOpen(undefined)).toBe(false);
  });

  it('raises a no-lane alert (with the official reason, if any), and none once a lane reopens', () => {
    const alertsFor = (est: ReturnType<typeof estimateAfter>) =>
      model.computeAlerts({
        crossings: [catalogue.get('korday')], estimates: new Map([[model.queueKey(est), est]]), growing: new Set(), thresholdSeconds: 24 * 3600, now: T0 + 10 * MIN, staleAfterMs: 15 * MIN,
      }) as { kind: string; direction?: string; vehicleClass?: string; reason: string | null }[];
    expect(alertsFor(estimateAfter(0)).filter((a) => a.kind === 'noLanes')).toEqual([
      { kind: 'noLanes', severity: 2, crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', reason: null },
    ]);
    expect(alertsFor(estimateAfter(0, 'customs IT outage')).find((a) => a.kind === 'noLanes')?.reason).toBe('customs IT outage');
    expect(alertsFor(estimateAfter(1)).filter((a) => a.kind === 'noLanes')).toEqual([]);
  });

  it("shows the official's reason without the estimator's own words for no lane open", () => {
    const est = estimateAfter(0, 'customs IT outage');
    // what the model publishes: its words first, the official's after them
    expect(est.statusReason).toBe(`${NO_LANES_OPEN_REASON}; customs IT outage`);
    expect(model.NO_LANES_OPEN_REASON).toBe(NO_LANES_OPEN_REASON);
    expect(model.officialReason(est)).toBe('customs IT outage');
    expect(model.officialReason(estimateAfter(0))).toBeNull();
    // with lanes open the reason is the official's as published, whatever it says
    expect(model.officialReason(estimateAfter(2, 'no lanes open on the old bridge'))).toBe('no lanes open on the old bridge');
    expect(model.officialReason({ ...est, lanesOpen: 2, waitSeconds: 600 })).toBe(est.statusReason);
    expect(model.officialReason(undefined)).toBeNull();
  });

  it('explains it in every language of the page', () => {
    for (const lang of ['en', 'ru', 'kk']) {
      expect(i18n.DICTS[lang]['alerts.noLanes'], lang).toMatch(/\{crossing\}.*\{queue\}/);
      expect(i18n.DICTS[lang]['alerts.kind.noLanes'], lang).toMatch(/\S/);
    }
    for (const lang of ['en', 'ru', 'kk']) {
      expect(i18n.DICTS[lang]['status.noLanes'], lang).toMatch(/\S/);
    }
  });
});
