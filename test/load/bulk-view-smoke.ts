/** Smoke run of the bulk-view journey (under a minute, whatever PROFILE says): `k6 run test/load/bulk-view-smoke.ts`. */
import { handleSummaryFor } from './lib/checks.ts';
import { JOURNEY, buildOptions } from './bulk-view.ts';

export { setup, bulkView, default } from './bulk-view.ts';
export const options = buildOptions('smoke');
export const handleSummary = handleSummaryFor(JOURNEY, 'smoke');
