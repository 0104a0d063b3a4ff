/**
 * Writes one simulated day of contract events for a crossing as NDJSON (default: korday, trucks and buses,
 * a Tuesday in March 2026), from the same DES and catalogue profiles the simulator uses. Deterministic by seed.
 *
 *   tsx services/replay/make-sample.ts [--out seeds/sample-day.ndjson] [--crossing korday] [--classes truck,bus]
 *                                      [--date 2026-03-10] [--seed 42]
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { loadCatalogue, VehicleClassSchema } from '../../shared/catalogue/index.ts';
import type { KezekEvent } from '../../shared/events/index.ts';
import { simulateQueue } from '../../shared/sim/des.ts';
import { buildQueueScenario } from '../../shared/sim/profile.ts';
import { localDayTimeToUtc } from '../../shared/sim/zone.ts';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'seeds/sample-day.ndjson' },
    crossing: { type: 'string', default: 'korday' },
    classes: { type: 'string', default: 'truck,bus' },
    date: { type: 'string', default: '2026-03-10' },
    seed: { type: 'string', default: '42' },
  },
  strict: true,
});

const catalogue = loadCatalogue();
const crossing = catalogue.get(args.crossing);
if (!crossing) throw new Error(`unknown crossing ${args.crossing}`);
const classes = args.classes.split(',').map((c) => VehicleClassSchema.parse(c.trim()));
if (!/^\d{4}-\d{2}-\d{2}$/.test(args.date)) throw new Error('--date must be YYYY-MM-DD (local date of the crossing)');
const zone = catalogue.localZone(crossing.id)!;
const dayIndex = Math.floor(Date.parse(`${args.date}T00:00:00Z`) / 86_400_000);
const startMs = localDayTimeToUtc(zone, dayIndex, 0);
const seed = Number(args.seed);

const events: { t: number; q: number; i: number; ev: KezekEvent }[] = [];
let q = 0;
for (const direction of crossing.directions) {
  for (const vehicleClass of classes.filter((c) => crossing.vehicleClasses.includes(c))) {
    const spec = buildQueueScenario({ catalogue, crossingId: crossing.id, direction, vehicleClass, seed, startMs, durationMs: 86_400_000, source: 'sample-day' });
    simulateQueue(spec).events.forEach((ev, i) => events.push({ t: Date.parse(ev.occurredAt), q, i, ev }));
    q++;
  }
}
events.sort((a, b) => a.t - b.t || a.q - b.q || a.i - b.i);
writeFileSync(args.out, events.map((e) => JSON.stringify(e.ev)).join('\n') + '\n');
process.stdout.write(`wrote ${events.length} events (${args.date} local, ${crossing.id}, ${classes.join('+')}, seed ${seed}) to ${args.out}\n`);
