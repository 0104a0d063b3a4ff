/**
 * Schema of the crossing catalogue (seeds/crossings.json). The catalogue is data; this file is its contract.
 * Every figure that is an estimate rather than a published number is marked with `estimate: true` or lives in
 * a field documented as an estimate; sources are cited per crossing.
 */
import { z } from 'zod';

export const VEHICLE_CLASSES = ['truck', 'car', 'bus', 'pedestrian'] as const;
export const VehicleClassSchema = z.enum(VEHICLE_CLASSES);
export type VehicleClass = z.infer<typeof VehicleClassSchema>;

export const CountryCodeSchema = z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code');
/** "KZ-KG": travel from the first country to the second. */
export const DirectionSchema = z.string().regex(/^[A-Z]{2}-[A-Z]{2}$/, 'must look like "KZ-KG" (ISO 3166 alpha-2, from-to)');
export type Direction = z.infer<typeof DirectionSchema>;

export const SlugSchema = z.string().regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be a lowercase slug like "korday"');

const IanaZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone name');

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24 h)');

export const SourceSchema = z.object({
  title: z.string().min(1),
  url: z.string().url().optional(),
  note: z.string().optional(),
});

export const OperatingHoursSchema = z.union([
  z.object({ mode: z.literal('24h') }),
  z.object({
    mode: z.literal('daily'),
    /** Local opening time in `timeZone` (the Kazakh side's zone unless stated). */
    open: HHMM,
    close: HHMM,
    timeZone: IanaZone,
  }),
]);

export const ClassProfileSchema = z.object({
  vehicleClass: VehicleClassSchema,
  /** Booths / inspection lanes usually open per direction, and the maximum the site has. */
  lanesTypical: z.number().int().min(0),
  lanesMax: z.number().int().min(1),
  /** Mean inspection time per vehicle per lane, seconds, and its squared coefficient of variation. */
  serviceTimeMeanSeconds: z.number().positive(),
  serviceTimeScv: z.number().positive().default(1),
  /** Mean patience before abandoning, minutes (exponential); absent = nobody abandons. */
  patienceMeanMinutes: z.number().positive().optional(),
  /** Arrivals per hour for each local hour 0..23 (the crossing's local time), per direction. */
  hourlyArrivals: z.array(z.number().min(0)).length(24),
  /** Multiplier per ISO weekday (Mon..Sun). */
  weekdayFactors: z.array(z.number().min(0)).length(7).default([1, 1, 1, 1, 1, 1, 1]),
  estimate: z.boolean().default(true),
});
export type ClassProfile = z.infer<typeof ClassProfileSchema>;

/** The profile's usual arrivals per hour at a local hour (0..23) and ISO weekday (1 = Monday .. 7 = Sunday). */
export const profileArrivalsPerHour = (profile: ClassProfile, hour: number, isoWeekday: number): number =>
  (profile.hourlyArrivals[hour] ?? 0) * (profile.weekdayFactors[isoWeekday - 1] ?? 1);

export const CrossingSchema = z
  .object({
    id: SlugSchema,
    names: z.object({ en: z.string().min(1), ru: z.string().min(1), kk: z.string().min(1) }),
    /** The name used on the other side of the border, e.g. Ak-Zhol for Korday. */
    neighbourName: z.object({ en: z.string().min(1), local: z.string().min(1).optional(), ru: z.string().min(1).optional() }),
    countries: z.tuple([CountryCodeSchema, CountryCodeSchema]),
    directions: z.array(DirectionSchema).min(1).max(2),
    /** IANA zone per side, keyed by country code. The crossing's "local time" is countries[0]'s zone. */
    timeZones: z.record(CountryCodeSchema, IanaZone),
    coordinates: z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) }),
    region: z.string().optional(),
    status: z.enum(['open', 'closed', 'restricted']).default('open'),
    statusNote: z.string().optional(),
    operatingHours: OperatingHoursSchema,
    vehicleClasses: z.array(VehicleClassSchema).min(1),
    classProfiles: z.array(ClassProfileSchema).min(1),
    notes: z.string().optional(),
    sources: z.array(SourceSchema).min(1),
  })
  .superRefine((c, ctx) => {
    c.directions.forEach((d, i) => {
      const [a, b] = d.split('-');
      if (!c.countries.includes(a!) || !c.countries.includes(b!) || a === b) {
        ctx.addIssue({ code: 'custom', path: ['directions', i], message: `direction ${d} must go between ${c.countries.join(' and ')}` });
      }
    });
    for (const cc of c.countries) {
      if (!c.timeZones[cc]) ctx.addIssue({ code: 'custom', path: ['timeZones'], message: `missing time zone for ${cc}` });
    }
    c.classProfiles.forEach((p, i) => {
      if (!c.vehicleClasses.includes(p.vehicleClass)) {
        ctx.addIssue({ code: 'custom', path: ['classProfiles', i, 'vehicleClass'], message: `${p.vehicleClass} is not in vehicleClasses` });
      }
    });
    for (const vc of c.vehicleClasses) {
      if (!c.classProfiles.some((p) => p.vehicleClass === vc)) {
        ctx.addIssue({ code: 'custom', path: ['classProfiles'], message: `no profile for served class ${vc}` });
      }
    }
  });
export type Crossing = z.infer<typeof CrossingSchema>;

export const CatalogueSchema = z
  .object({
    version: z.literal(1),
    generatedNote: z.string().optional(),
    crossings: z.array(CrossingSchema).min(1),
  })
  .superRefine((cat, ctx) => {
    const seen = new Set<string>();
    cat.crossings.forEach((c, i) => {
      if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: ['crossings', i, 'id'], message: `duplicate id ${c.id}` });
      seen.add(c.id);
    });
  });
export type CatalogueData = z.infer<typeof CatalogueSchema>;
