/** The server-side region map (services/api/map/region-map.ts) and its routes in services/api/routes/dashboard.ts. */
import { describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { loadCatalogue, createCatalogue, CatalogueSchema } from '../../shared/catalogue/index.ts';
import { renderRegionMap, REGION_BBOX } from '../../services/api/map/region-map.ts';
import { dashboardRoutes, type DashboardMeta } from '../../services/api/routes/dashboard.ts';

const catalogue = loadCatalogue();
const map = renderRegionMap(catalogue.crossings);

describe('region map', () => {
  it('has one focusable marker per catalogued crossing, inside the drawing', () => {
    for (const c of catalogue.crossings) {
      const m = map.markers[c.id];
      expect(m, c.id).toBeDefined();
      expect(m!.x).toBeGreaterThan(0);
      expect(m!.x).toBeLessThan(map.width);
      expect(m!.y).toBeGreaterThan(0);
      expect(m!.y).toBeLessThan(map.height);
      expect(map.svg).toContain(`<a class="marker sev-unknown" data-crossing="${c.id}" href="#crossing/${c.id}"`);
    }
    expect(map.svg.match(/<a class="marker /g)).toHaveLength(catalogue.crossings.length);
  });

  it('places crossings by their coordinates: east is right, north is up', () => {
    for (const a of catalogue.crossings) {
      for (const b of catalogue.crossings) {
        // a conic projection bends meridians slightly, so compare only pairs clearly apart
        if (a.coordinates.lon - b.coordinates.lon > 1.5) expect(map.markers[a.id]!.x, `${a.id} east of ${b.id}`).toBeGreaterThan(map.markers[b.id]!.x);
        if (a.coordinates.lat - b.coordinates.lat > 1.5 && Math.abs(a.coordinates.lon - b.coordinates.lon) < 10) {
          expect(map.markers[a.id]!.y, `${a.id} north of ${b.id}`).toBeLessThan(map.markers[b.id]!.y);
        }
      }
    }
  });

  it('shows the whole requested box: its corners project to the edges of the drawing', () => {
    const { lonMin, lonMax, latMin, latMax } = REGION_BBOX;
    const centre = map.project((lonMin + lonMax) / 2, (latMin + latMax) / 2)!;
    expect(centre[0]).toBeGreaterThan(map.width * 0.3);
    expect(centre[0]).toBeLessThan(map.width * 0.7);
    for (const [lon, lat] of [[lonMin, latMin], [lonMax, latMin], [lonMin, latMax], [lonMax, latMax]] as const) {
      const p = map.project(lon, lat)!;
      expect(p[0]).toBeGreaterThanOrEqual(-1);
      expect(p[0]).toBeLessThanOrEqual(map.width + 1);
      expect(p[1]).toBeGreaterThanOrEqual(-1);
      expect(p[1]).toBeLessThanOrEqual(map.height + 1);
    }
  });

  it('draws the four covered countries with codes the page translates, and labels them', () => {
    for (const cc of ['KZ', 'KG', 'UZ', 'CN']) {
      expect(map.svg).toMatch(new RegExp(`<path class="country country-focus" data-cc="${cc}" d="M`));
      expect(map.svg).toContain(`<text class="country-label" data-cc="${cc}"`);
    }
  });

  it('works under a CSP without inline styles or scripts and fetches nothing', () => {
    expect(map.svg).not.toMatch(/\sstyle=/);
    expect(map.svg).not.toMatch(/<style|<script|\son\w+=/i);
    const urls = map.svg.match(/https?:\/\/[^"\s]+/g) ?? [];
    expect(urls).toEqual(['http://www.w3.org/2000/svg']);
  });

  it('keeps marker labels apart even where crossings are a few pixels from each other', () => {
    const boxes = [...map.svg.matchAll(/<text class="marker-label" x="([\d.]+)" y="([\d.]+)">([^<]+)<\/text>/g)].map((m) => {
      const c = catalogue.crossings.find((x) => x.names.en === m[3])!;
      const w = Math.max(c.names.en.length, c.names.ru.length, c.names.kk.length) * 8.3;
      return { id: c.id, x: Number(m[1]), y: Number(m[2]) - 12, w, h: 14 };
    });
    expect(boxes).toHaveLength(catalogue.crossings.length);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `${a.id} / ${b.id}`).toBe(false);
      }
    }
  });

  it('escapes names from the catalogue', () => {
    const base = loadCatalogue().crossings[0]!;
    const evil = createCatalogue(CatalogueSchema.parse({ version: 1, crossings: [{ ...base, names: { ...base.names, en: 'A <b>&"' } }] }));
    const svg = renderRegionMap(evil.crossings, { resolution: '110m' }).svg;
    expect(svg).toContain('A &lt;b&gt;&amp;&quot;');
    expect(svg).not.toContain('<b>');
  });
});

describe('dashboard routes', () => {
  const build = async () => {
    const app = Fastify();
    await app.register(dashboardRoutes, { catalogue, config: { STALE_AFTER_SECONDS: 600 } });
    return app;
  };

  it('serves /map.svg with an ETag and answers 304 to a matching If-None-Match', async () => {
    const app = await build();
    const res = await app.inject({ url: '/map.svg' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(res.body).toContain('data-crossing="');
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await app.inject({ url: '/map.svg', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    await app.close();
  });

  it('serves capacities and the staleness threshold the charts and alerts need', async () => {
    const app = await build();
    const res = await app.inject({ url: '/dashboard/meta.json' });
    expect(res.statusCode).toBe(200);
    const meta = res.json() as DashboardMeta;
    expect(meta.staleAfterSeconds).toBe(600);
    for (const c of catalogue.crossings) {
      for (const p of c.classProfiles) {
        expect(meta.crossings[c.id]!.classes[p.vehicleClass]!.capacityPerLanePerHour).toBeCloseTo(3600 / p.serviceTimeMeanSeconds, 2);
        expect(meta.crossings[c.id]!.classes[p.vehicleClass]!.lanesMax).toBe(p.lanesMax);
      }
    }
    await app.close();
  });

  it('serves the page and its modules', async () => {
    const app = await build();
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<script type="module" src="/app.js"></script>');
    expect(page.body).not.toMatch(/\sstyle=|<style|<script>(?!<\/script>)/);
    for (const f of ['app.js', 'i18n.js', 'model.js', 'api.js', 'live.js', 'charts.js', 'map.js', 'styles.css', 'favicon.svg']) {
      expect((await app.inject({ url: `/${f}` })).statusCode, f).toBe(200);
    }
    await app.close();
  });
});
