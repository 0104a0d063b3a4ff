/**
 * Headless Chromium for the dashboard's browser tests (Debian's /usr/bin/chromium driven by playwright-core;
 * browsers are never downloaded by playwright), plus the journey steps both e2e suites share:
 * dashboard-fixture.test.ts (against test/e2e/fixture-api.ts) and dashboard.test.ts (against the real system).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Catalogue } from '../../shared/catalogue/index.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = (): boolean => existsSync(CHROMIUM);
export const SHOTS_DIR = fileURLToPath(new URL('../../test-results/', import.meta.url));

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface WatchedPage {
  page: Page;
  /** Console errors, uncaught exceptions and CSP violations seen so far. */
  errors: string[];
}

/** Opens the dashboard and waits until it has rendered the crossings (body[data-ready]). */
export async function openDashboard(
  browser: Browser,
  baseUrl: string,
  opts: {
    width?: number;
    height?: number;
    locale?: string;
    timezoneId?: string;
    /** Runs before the page is loaded, e.g. to install a fake clock or set sessionStorage. */
    beforeLoad?: (page: Page) => Promise<unknown>;
    /** Wait for the crossings to render (default true). */
    waitReady?: boolean;
  } = {},
): Promise<WatchedPage> {
  const ctx = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 }, locale: opts.locale ?? 'en-GB', timezoneId: opts.timezoneId });
  const page = await ctx.newPage();
  await opts.beforeLoad?.(page);
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(`${baseUrl}/`);
  if (opts.waitReady !== false) await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
  return { page, errors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SHOTS_DIR, { recursive: true });
  const path = `${SHOTS_DIR}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Selector of one cell of a queue row in the overview. */
export const cell = (key: string, field: string): string => `tr[data-queue="${key}"] [data-field="${field}"]`;

export async function waitForText(page: Page, selector: string, expected: string, timeout = 5000): Promise<void> {
  await page.waitForFunction(
    ([sel, want]) => document.querySelector(sel!)?.textContent?.trim() === want,
    [selector, expected] as const,
    { timeout },
  );
}

/** Names of every catalogued crossing as shown in the overview cards (English). */
export async function listedCrossings(page: Page, catalogue: Catalogue): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const c of catalogue.crossings) out[c.id] = await page.locator(`#card-${c.id} h3`).textContent().catch(() => null);
  return out;
}

/** Enters the official token and submits a lanes change through the page's own form. */
export async function setLanesViaForm(page: Page, token: string, q: { crossingId: string; direction: string; vehicleClass: string }, lanes: number): Promise<string> {
  await page.fill('#token', token);
  await page.click('#token-form button[type="submit"]');
  await page.selectOption('#lanes-crossing', q.crossingId);
  await page.selectOption('#lanes-direction', q.direction);
  await page.selectOption('#lanes-class', q.vehicleClass);
  await page.fill('#lanes-value', String(lanes));
  await page.click('#lanes-form button[type="submit"]');
  await page.waitForFunction(() => /result-(ok|error)/.test(document.querySelector('#official-result')?.className ?? ''), undefined, { timeout: 10_000 });
  return (await page.textContent('#official-result')) ?? '';
}
