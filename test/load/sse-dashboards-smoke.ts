/** Smoke run of the sse-dashboards journey (under a minute, whatever PROFILE says): `k6 run test/load/sse-dashboards-smoke.ts`. */
import { handleSummaryFor } from './lib/checks.ts';
import { JOURNEY, buildOptions, setupFor } from './sse-dashboards.ts';

export { dashboard, default } from './sse-dashboards.ts';
export const options = buildOptions('smoke');
export const setup = setupFor('smoke');
export const handleSummary = handleSummaryFor(JOURNEY, 'smoke');
