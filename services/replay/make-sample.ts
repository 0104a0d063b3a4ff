/**
 * Writes one simulated day of contract events for a crossing as NDJSON (default: korday, trucks and buses,
 * a Tuesday in March 2026), from the same DES and catalogue profiles the simulator uses. Deterministic by seed.
 *
 *   tsx services/replay/make-sample.ts [--out seeds/sample-day.ndjson] [--force] [--crossing korday]
 *                                      [--classes truck,bus] [--date 2026-03-10] [--seed 42]
 *
 * An existing --out file is not overwritten without --force (the default --out is the committed sample).
 * Exit codes: 0 written; 1 the file could not be written; 2 usage error (see USAGE).
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { loadCatalogue, VEHICLE_CLASSES, type VehicleClass } from '../../shared/catalogue/index.ts';
import type { KezekEvent } from '../../shared/events/index.ts';
import { simulateQueue } from '../../shared/sim/des.ts';
import { buildQueueScenario } from '../../shared/sim/profile.ts';
import { localDayTimeToUtc } from '../../shared/sim/zone.ts';
import { joinNegativeValues, parseArgsProblem } from '../../shared/cli-args.ts';

const DEFAULTS = { out: 'seeds/sample-day.ndjson', crossing: 'korday', classes: 'truck,bus', date: '2026-03-10', seed: '42' } as const;

const USAGE = `Usage: npx tsx services/replay/make-sample.ts [options]

Writes one simulated local day of v1 contract events for one crossing as NDJSON (one event per line, in event-time
order), from the same discrete-event simulation and catalogue profiles as the simulator. Deterministic: the same
options give the same file, eventIds included.

Options:
  --out <file>         output file (default ${DEFAULTS.out}, the committed sample); a name ending in .gz is
                       written gzip-compressed. An existing file is NOT overwritten unless --force is given.
  --force              overwrite --out if it exists (e.g. to regenerate the committed sample)
  --crossing <id>      crossing id from seeds/crossings.json (default ${DEFAULTS.crossing})
  --classes <list>     comma-separated vehicle classes, each served by the crossing: truck, car, bus, pedestrian
                       (default ${DEFAULTS.classes}, those of them the crossing serves); cars and pedestrians make files of several MB
  --date <YYYY-MM-DD>  the local date at the crossing (default ${DEFAULTS.date})
  --seed <n>           integer random seed (default ${DEFAULTS.seed})
  -h, --help           show this help

Exit codes: 0 written; 1 the file could not be written; 2 usage error (bad option or value, --out exists without --force).

Examples:
  npx tsx services/replay/make-sample.ts --out /tmp/korday-cars.ndjson.gz --classes car --date 2026-11-20
  npx tsx services/replay/make-sample.ts --crossing dostyk --seed 7 --out /tmp/dostyk.ndjson
  npx tsx services/replay/make-sample.ts --force      # regenerate ${DEFAULTS.out} (same options, same file)
Then: npm run replay -- /tmp/dostyk.ndjson --shift-to now-1d (see services/replay/README.md).`;

const OPTIONS = {
  out: { type: 'string' },
  force: { type: 'boolean' },
  crossing: { type: 'string' },
  classes: { type: 'string' },
  date: { type: 'string' },
  seed: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function fail(message: string): never {
  process.stderr.write(`${message}\n\nRun with --help for usage.\n`);
  process.exit(2);
}

function main(): void {
  let args;
  try {
    args = parseArgs({ args: joinNegativeValues(process.argv.slice(2), OPTIONS), options: OPTIONS, strict: true }).values;
  } catch (err) {
    fail(parseArgsProblem(err));
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const out = args.out ?? DEFAULTS.out;
  if (out.trim() === '') fail('--out must name a file');

  const catalogue = loadCatalogue();
  const crossingId = args.crossing ?? DEFAULTS.crossing;
  const crossing = catalogue.get(crossingId);
  if (!crossing) fail(`--crossing: unknown crossing ${JSON.stringify(crossingId)} (valid: ${catalogue.crossings.map((c) => c.id).join(', ')})`);

  let classes: VehicleClass[];
  if (args.classes === undefined) {
    classes = DEFAULTS.classes.split(',').filter((c): c is VehicleClass => crossing.vehicleClasses.includes(c as VehicleClass));
  } else {
    const asked = args.classes.split(',').map((c) => c.trim()).filter(Boolean);
    if (asked.length === 0) fail(`--classes must list at least one vehicle class (valid: ${VEHICLE_CLASSES.join(', ')})`);
    const unknown = asked.filter((c) => !(VEHICLE_CLASSES as readonly string[]).includes(c));
    if (unknown.length) fail(`--classes: unknown vehicle class${unknown.length > 1 ? 'es' : ''} ${unknown.map((c) => JSON.stringify(c)).join(', ')} (valid: ${VEHICLE_CLASSES.join(', ')})`);
    const notServed = asked.filter((c) => !crossing.vehicleClasses.includes(c as VehicleClass));
    if (notServed.length) fail(`--classes: ${crossing.id} does not serve ${notServed.join(', ')} (it serves: ${crossing.vehicleClasses.join(', ')})`);
    classes = [...new Set(asked)] as VehicleClass[];
  }

  const date = args.date ?? DEFAULTS.date;
  const dayMs = Date.parse(`${date}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || !Number.isFinite(dayMs) || new Date(dayMs).toISOString().slice(0, 10) !== date) {
    fail(`--date must be a real calendar date YYYY-MM-DD, the local date at the crossing (got ${JSON.stringify(date)})`);
  }
  if (dayMs < Date.UTC(2000, 0, 2)) fail(`--date must not be before 2000-01-02: the event contract rejects earlier event times (got ${date})`);

  const seedText = args.seed ?? DEFAULTS.seed;
  const seed = Number(seedText);
  if (!/^-?\d+$/.test(seedText.trim()) || !Number.isSafeInteger(seed)) fail(`--seed must be an integer (got ${JSON.stringify(seedText)})`);

  const zone = catalogue.localZone(crossing.id)!;
  const startMs = localDayTimeToUtc(zone, Math.floor(dayMs / 86_400_000), 0);
  const events: { t: number; q: number; i: number; ev: KezekEvent }[] = [];
  let q = 0;
  for (const direction of crossing.directions) {
    for (const vehicleClass of classes) {
      const spec = buildQueueScenario({ catalogue, crossingId: crossing.id, direction, vehicleClass, seed, startMs, durationMs: 86_400_000, source: 'sample-day' });
      simulateQueue(spec).events.forEach((ev, i) => events.push({ t: Date.parse(ev.occurredAt), q, i, ev }));
      q++;
    }
  }
  events.sort((a, b) => a.t - b.t || a.q - b.q || a.i - b.i);
  const text = events.map((e) => JSON.stringify(e.ev)).join('\n') + '\n';
  try {
    writeFileSync(out, out.endsWith('.gz') ? gzipSync(text) : text, { flag: args.force ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') fail(`${out} exists: not overwritten. Pass --force to overwrite it, or --out <file> to write elsewhere.`);
    process.stderr.write(`cannot write ${out}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(`wrote ${events.length} events (${date} local, ${crossing.id}, ${classes.join('+')}, seed ${seed}) to ${out}\n`);
}

main();
