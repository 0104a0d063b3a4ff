/** Loads and indexes the crossing catalogue. The only reader of seeds/crossings.json. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CatalogueSchema, type CatalogueData, type ClassProfile, type Crossing, type VehicleClass } from './schema.ts';

export * from './schema.ts';

export const DEFAULT_CATALOGUE_PATH = fileURLToPath(new URL('../../seeds/crossings.json', import.meta.url));

export interface Catalogue {
  readonly crossings: readonly Crossing[];
  get(id: string): Crossing | undefined;
  has(id: string): boolean;
  /** Every queue (crossing x direction x class) in catalogue order. */
  queues(): { crossingId: string; direction: string; vehicleClass: VehicleClass }[];
  profile(crossingId: string, vehicleClass: VehicleClass): ClassProfile | undefined;
  /** The crossing's local zone (its first country's zone). */
  localZone(crossingId: string): string | undefined;
}

export function createCatalogue(data: CatalogueData): Catalogue {
  const byId = new Map(data.crossings.map((c) => [c.id, c]));
  return {
    crossings: data.crossings,
    get: (id) => byId.get(id),
    has: (id) => byId.has(id),
    queues: () =>
      data.crossings.flatMap((c) =>
        c.directions.flatMap((direction) => c.vehicleClasses.map((vehicleClass) => ({ crossingId: c.id, direction, vehicleClass }))),
      ),
    profile: (id, vc) => byId.get(id)?.classProfiles.find((p) => p.vehicleClass === vc),
    localZone: (id) => {
      const c = byId.get(id);
      return c ? c.timeZones[c.countries[0]] : undefined;
    },
  };
}

/** Reads, validates and indexes a catalogue file; throws with the failing paths. */
export function loadCatalogue(path: string = DEFAULT_CATALOGUE_PATH): Catalogue {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  const res = CatalogueSchema.safeParse(raw);
  if (!res.success) {
    const lines = res.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid crossing catalogue ${path}:\n${lines.join('\n')}`);
  }
  return createCatalogue(res.data);
}
