/**
 * The dashboard in a real headless Chromium against the fixture API (test/e2e/fixture-api.ts): the page's own
 * behaviour (rendering, live updates over SSE, reconnect, languages, officials' forms, alerts, charts, map,
 * phone layout) under a strict CSP. The same journey against the real estimator + API is dashboard.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { randomUUID } from 'node:crypto';
import { queueKey } from '../../shared/estimates.ts';
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
    const next = api.publish(queueKey(q), { queueLength: 4321 });
    await waitForText(page, cell(queueKey(q), 'queueLength'), (4321).toLocaleString('en-GB'));
    expect(next.queueLength).toBe(4321);
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
