/** Smoke run of the ingest journey (under a minute, whatever PROFILE says): `k6 run -e PRODUCER_TOKEN=... test/load/ingest-smoke.ts`. */
import { handleSummaryFor } from './lib/checks.ts';
import { JOURNEY, buildOptions } from './ingest.ts';

export { setup, produce, probe, default } from './ingest.ts';
export const options = buildOptions('smoke');
export const handleSummary = handleSummaryFor(JOURNEY, 'smoke');
