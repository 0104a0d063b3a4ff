/**
 * Serves the officials' dashboard (static files in ../public) at `/`, plus two generated resources the page needs:
 * - `GET /map.svg`: the region map with one marker per catalogued crossing (services/api/map), generated on first
 *   request and cached for the life of the process (the catalogue does not change at run time);
 * - `GET /dashboard/meta.json`: catalogue facts the public API does not expose but the charts need (per-lane
 *   service capacity, maximum lanes) and the staleness threshold the page uses to mark silent sources.
 * Owned by the dashboard work.
 */
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { loadCatalogue, type Catalogue } from '../../../shared/catalogue/index.ts';
import { renderRegionMap } from '../map/region-map.ts';

export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));

export interface DashboardRoutesOptions {
  /** Defaults to the seed catalogue. */
  catalogue?: Catalogue;
  /** The API's config (only STALE_AFTER_SECONDS is read). */
  config?: { STALE_AFTER_SECONDS?: number };
  staleAfterSeconds?: number;
}

/** Shape of `/dashboard/meta.json`. */
export interface DashboardMeta {
  staleAfterSeconds: number;
  crossings: Record<string, { classes: Record<string, { lanesTypical: number; lanesMax: number; capacityPerLanePerHour: number }> }>;
}

export function buildDashboardMeta(catalogue: Catalogue, staleAfterSeconds: number): DashboardMeta {
  const crossings: DashboardMeta['crossings'] = {};
  for (const c of catalogue.crossings) {
    const classes: DashboardMeta['crossings'][string]['classes'] = {};
    for (const p of c.classProfiles) {
      classes[p.vehicleClass] = {
        lanesTypical: p.lanesTypical,
        lanesMax: p.lanesMax,
        capacityPerLanePerHour: Math.round((3600 / p.serviceTimeMeanSeconds) * 100) / 100,
      };
    }
    crossings[c.id] = { classes };
  }
  return { staleAfterSeconds, crossings };
}

const etagOf = (body: string): string => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

export async function dashboardRoutes(app: FastifyInstance, opts: DashboardRoutesOptions = {}): Promise<void> {
  let catalogue = opts.catalogue;
  const getCatalogue = (): Catalogue => (catalogue ??= loadCatalogue());
  const staleAfterSeconds = opts.staleAfterSeconds ?? opts.config?.STALE_AFTER_SECONDS ?? 900;

  let map: { body: string; etag: string } | undefined;
  let meta: { body: string; etag: string } | undefined;

  app.get('/map.svg', { schema: { hide: true } }, async (req, reply) => {
    if (!map) {
      const body = renderRegionMap(getCatalogue().crossings).svg;
      map = { body, etag: etagOf(body) };
    }
    reply.header('ETag', map.etag).header('Cache-Control', 'public, max-age=3600');
    if (req.headers['if-none-match'] === map.etag) return reply.code(304).send();
    return reply.type('image/svg+xml; charset=utf-8').send(map.body);
  });

  app.get('/dashboard/meta.json', { schema: { hide: true } }, async (req, reply) => {
    if (!meta) {
      const body = JSON.stringify(buildDashboardMeta(getCatalogue(), staleAfterSeconds));
      meta = { body, etag: etagOf(body) };
    }
    reply.header('ETag', meta.etag).header('Cache-Control', 'public, max-age=300');
    if (req.headers['if-none-match'] === meta.etag) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(meta.body);
  });

  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', index: ['index.html'], wildcard: false });
}
