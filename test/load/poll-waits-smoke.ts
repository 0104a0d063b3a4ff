/** Smoke run of the poll-waits journey (under a minute, whatever PROFILE says): `k6 run test/load/poll-waits-smoke.ts`. */
import { handleSummaryFor } from './lib/checks.ts';
import { JOURNEY, buildOptions } from './poll-waits.ts';

export { setup, pollWaits, default } from './poll-waits.ts';
export const options = buildOptions('smoke');
export const handleSummary = handleSummaryFor(JOURNEY, 'smoke');
