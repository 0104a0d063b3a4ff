/**
 * Server-side SVG map of the region (KZ / KG / UZ / western China) for the dashboard, drawn from the
 * `world-atlas` boundaries shipped in node_modules: no tiles, no CDN, no network at run time.
 *
 * The SVG is generated once per catalogue (the dashboard route caches it) and carries one focusable marker
 * per crossing (`<a class="marker" data-crossing="id" href="#crossing/id">`). The page inlines the SVG and
 * then only toggles classes (severity) and label text (language) on those markers, so the SVG itself has
 * no `style` attributes and works under a CSP without inline styles.
 */
import { createRequire } from 'node:module';
import { geoConicConformal, geoPath, type GeoPermissibleObjects } from 'd3-geo';
import { feature } from 'topojson-client';
import type { Topology, GeometryCollection } from 'topojson-specification';
import type { Feature, FeatureCollection, Geometry, Polygon } from 'geojson';
import type { Crossing } from '../../../shared/catalogue/schema.ts';

const require = createRequire(import.meta.url);

/** Longitude/latitude box shown: Caspian to Dzungaria, Pamir to southern Siberia. */
export const REGION_BBOX = { lonMin: 46, lonMax: 90, latMin: 36, latMax: 56 } as const;

/** ISO 3166 numeric (world-atlas feature id) -> alpha-2, for the countries the dashboard names. */
export const REGION_COUNTRIES: Readonly<Record<string, string>> = {
  '398': 'KZ',
  '417': 'KG',
  '860': 'UZ',
  '156': 'CN',
  '762': 'TJ',
  '795': 'TM',
  '643': 'RU',
  '496': 'MN',
  '004': 'AF',
  '364': 'IR',
  '031': 'AZ',
  '586': 'PK',
  '356': 'IN',
};
/** Countries whose crossings the product covers: drawn with a stronger fill. */
const FOCUS = new Set(['KZ', 'KG', 'UZ', 'CN']);

/** Where to put a country's label (lon, lat): centroids of huge countries fall outside the box or in bad spots. */
const LABEL_AT: Readonly<Record<string, [number, number]>> = {
  KZ: [67, 48.3],
  KG: [76.3, 41.1],
  UZ: [63.3, 41.9],
  CN: [85.5, 39.5],
  TJ: [70.8, 38.7],
  TM: [58.5, 39.3],
  RU: [60, 54.5],
  MN: [88.5, 47.6],
  AF: [66, 36.6],
  IR: [54, 36.8],
};

export interface RegionMapOptions {
  width?: number;
  height?: number;
  /** world-atlas resolution: '50m' (default, finer coastlines) or '110m' (smaller). */
  resolution?: '50m' | '110m';
}

export interface RegionMap {
  svg: string;
  width: number;
  height: number;
  /** [x, y] in SVG user units for a lon/lat, or null if outside the projection. */
  project(lon: number, lat: number): [number, number] | null;
  /** Marker positions by crossing id (SVG user units): where the crossing is, by its coordinates. */
  markers: Record<string, { x: number; y: number }>;
  /** Where each marker is drawn: its true position, or moved a little off a neighbour it would cover. */
  drawnAt: Record<string, { x: number; y: number }>;
}

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const r1 = (n: number): number => Math.round(n * 10) / 10;

const MARKER_R = 5.5;
const HALO_R = MARKER_R + 2.5;
/** Centres closer than this are moved apart: no halo covers another dot, and the line to the true position shows. */
const MIN_MARKER_GAP = 2 * HALO_R + 8;
/** Label box size estimate: 14px bold text, sized for the longest of the three names (labels are translated). */
const LABEL_H = 15;
const labelWidth = (c: Crossing): number => Math.max(c.names.en.length, c.names.ru.length, c.names.kk.length) * 8.3 + 4;

interface Box { x: number; y: number; w: number; h: number }
const overlaps = (a: Box, b: Box): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/**
 * Greedy label placement: several crossings sit a few pixels apart (Zhibek Zholy, Kaplanbek, Kazygurt), so each
 * label takes the first candidate position, nearest first, that overlaps no marker and no label already placed;
 * labels pushed away from their marker get a leader line. Deterministic for a given catalogue.
 */
function placeLabels(points: { c: Crossing; x: number; y: number }[], width: number, height: number) {
  const taken: Box[] = points.map((p) => ({ x: p.x - MARKER_R - 2, y: p.y - MARKER_R - 2, w: 2 * MARKER_R + 4, h: 2 * MARKER_R + 4 }));
  const out = new Map<string, { x: number; y: number; lx: number; ly: number; leader: boolean }>();
  const order = [...points].sort((a, b) => a.y - b.y || a.x - b.x);
  for (const p of order) {
    const w = labelWidth(p.c);
    const candidates: Box[] = [];
    for (const d of [8, 22, 38, 56, 76]) {
      candidates.push(
        { x: p.x + d, y: p.y - LABEL_H / 2, w, h: LABEL_H },
        { x: p.x - d - w, y: p.y - LABEL_H / 2, w, h: LABEL_H },
        { x: p.x + d * 0.7, y: p.y - d * 0.7 - LABEL_H, w, h: LABEL_H },
        { x: p.x + d * 0.7, y: p.y + d * 0.7, w, h: LABEL_H },
        { x: p.x - d * 0.7 - w, y: p.y - d * 0.7 - LABEL_H, w, h: LABEL_H },
        { x: p.x - d * 0.7 - w, y: p.y + d * 0.7, w, h: LABEL_H },
      );
    }
    const inside = (b: Box) => b.x >= 2 && b.y >= 2 && b.x + b.w <= width - 2 && b.y + b.h <= height - 2;
    const box = candidates.find((b) => inside(b) && !taken.some((t) => overlaps(b, t))) ?? candidates.find(inside) ?? candidates[0]!;
    taken.push(box);
    const cx = Math.min(Math.max(p.x, box.x), box.x + box.w);
    const cy = Math.min(Math.max(p.y, box.y), box.y + box.h);
    const leader = Math.hypot(cx - p.x, cy - p.y) > 12;
    out.set(p.c.id, { x: r1(box.x + 2), y: r1(box.y + LABEL_H - 3), lx: r1(cx), ly: r1(cy), leader });
  }
  return out;
}

/**
 * Moves markers that would cover each other (Korday and Karasu are 5 px apart, Zhibek Zholy, Kazygurt and
 * Kaplanbek within 4 px) just far enough apart that every dot is visible and clickable: pairs closer than
 * MIN_MARKER_GAP are pushed apart along the line between them, a few rounds until none overlap. Markers with no
 * close neighbour stay exactly where they are. Deterministic for a given catalogue.
 */
export function spreadMarkers(points: readonly { id: string; x: number; y: number }[], minGap = MIN_MARKER_GAP): Map<string, { x: number; y: number }> {
  const pos = points.map((p) => ({ id: p.id, x: p.x, y: p.y }));
  for (let round = 0; round < 100; round++) {
    let moved = false;
    for (let i = 0; i < pos.length; i++) {
      for (let j = i + 1; j < pos.length; j++) {
        const a = pos[i]!;
        const b = pos[j]!;
        let dx = b.x - a.x;
        let dy = b.y - a.y;
        let d = Math.hypot(dx, dy);
        if (d >= minGap - 0.01) continue;
        if (d < 0.01) {
          // the same spot: split them along a direction fixed by their order
          const angle = (i * 7 + j * 3) % 8 * (Math.PI / 4);
          dx = Math.cos(angle);
          dy = Math.sin(angle);
          d = 1;
        }
        const push = (minGap - d) / 2 + 0.05;
        a.x -= (dx / d) * push;
        a.y -= (dy / d) * push;
        b.x += (dx / d) * push;
        b.y += (dy / d) * push;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return new Map(pos.map((p) => [p.id, { x: r1(p.x), y: r1(p.y) }]));
}

/** A lon/lat rectangle as a GeoJSON polygon with densified edges (parallels are curves in a conic projection). */
function bboxPolygon(): Feature<Polygon> {
  const { lonMin, lonMax, latMin, latMax } = REGION_BBOX;
  const ring: [number, number][] = [];
  for (let lon = lonMin; lon <= lonMax; lon += 1) ring.push([lon, latMin]);
  for (let lat = latMin; lat <= latMax; lat += 1) ring.push([lonMax, lat]);
  for (let lon = lonMax; lon >= lonMin; lon -= 1) ring.push([lon, latMax]);
  for (let lat = latMax; lat >= latMin; lat -= 1) ring.push([lonMin, lat]);
  // GeoJSON exterior rings are clockwise in d3-geo's spherical convention.
  return { type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [ring.reverse()] } };
}

/** Builds the region map for the given crossings. Pure apart from reading the world-atlas JSON. */
export function renderRegionMap(crossings: readonly Crossing[], opts: RegionMapOptions = {}): RegionMap {
  const width = opts.width ?? 800;
  const height = opts.height ?? 500;
  const topo = require(`world-atlas/countries-${opts.resolution ?? '50m'}.json`) as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const countries = feature(topo, topo.objects.countries) as FeatureCollection<Geometry, { name: string }>;

  // Lambert conformal conic with standard parallels across the region: shapes stay recognisable at this latitude.
  const projection = geoConicConformal()
    .parallels([40, 52])
    .rotate([-68, 0])
    .fitExtent(
      [
        [0, 0],
        [width, height],
      ],
      bboxPolygon(),
    )
    .clipExtent([
      [0, 0],
      [width, height],
    ]);
  const path = geoPath(projection).digits(1);

  const countryPaths: string[] = [];
  const labels: string[] = [];
  for (const f of countries.features) {
    const d = path(f as GeoPermissibleObjects);
    if (!d) continue;
    const cc = REGION_COUNTRIES[String(f.id)];
    const cls = ['country', cc && FOCUS.has(cc) ? 'country-focus' : ''].filter(Boolean).join(' ');
    countryPaths.push(`<path class="${cls}"${cc ? ` data-cc="${cc}"` : ''} d="${d}"><title>${esc(f.properties.name)}</title></path>`);
    const at = cc ? LABEL_AT[cc] : undefined;
    const p = at ? projection(at) : null;
    if (cc && p) {
      labels.push(
        `<text class="country-label" data-cc="${cc}" x="${r1(p[0])}" y="${r1(p[1])}" text-anchor="middle">${esc(f.properties.name)}</text>`,
      );
    }
  }

  const markers: RegionMap['markers'] = {};
  const points: { c: Crossing; x: number; y: number }[] = [];
  for (const c of crossings) {
    const p = projection([c.coordinates.lon, c.coordinates.lat]);
    if (!p || p[0] < 0 || p[0] > width || p[1] < 0 || p[1] > height) continue;
    points.push({ c, x: r1(p[0]), y: r1(p[1]) });
    markers[c.id] = { x: r1(p[0]), y: r1(p[1]) };
  }
  const spread = spreadMarkers(points.map((p) => ({ id: p.c.id, x: p.x, y: p.y })));
  const drawn = points.map((p) => ({ ...p, ...spread.get(p.c.id)!, tx: p.x, ty: p.y }));
  const drawnAt: RegionMap['drawnAt'] = Object.fromEntries(drawn.map((p) => [p.c.id, { x: p.x, y: p.y }]));
  const labelAt = placeLabels(drawn, width, height);
  // Moved markers first: their true-position dots and lines then lie under every marker, never over one.
  const offsets = drawn
    .filter((p) => p.x !== p.tx || p.y !== p.ty)
    .map((p) => `<line class="marker-offset" x1="${p.tx}" y1="${p.ty}" x2="${p.x}" y2="${p.y}"/><circle class="marker-true" cx="${p.tx}" cy="${p.ty}" r="1.5"/>`);
  const markerEls = drawn.map(({ c, x, y }) => {
    const id = esc(c.id);
    const l = labelAt.get(c.id)!;
    const leader = l.leader ? `<line class="marker-leader" x1="${x}" y1="${y}" x2="${l.lx}" y2="${l.ly}"/>` : '';
    // <a href> is focusable and activates with Enter: keyboard access without extra script.
    return (
      `<a class="marker sev-unknown" data-crossing="${id}" href="#crossing/${id}" aria-label="${esc(c.names.en)}">` +
      leader +
      `<circle class="marker-halo" cx="${x}" cy="${y}" r="${HALO_R}"/>` +
      `<circle class="marker-dot" cx="${x}" cy="${y}" r="${MARKER_R}"/>` +
      `<text class="marker-label" x="${l.x}" y="${l.y}">${esc(c.names.en)}</text>` +
      `</a>`
    );
  });

  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
    `class="region-map" role="group" aria-labelledby="map-svg-title">` +
    `<title id="map-svg-title">Border crossings of Kazakhstan, Kyrgyzstan, Uzbekistan and western China</title>` +
    `<rect class="sea" x="0" y="0" width="${width}" height="${height}"/>` +
    `<g class="countries">${countryPaths.join('')}</g>` +
    `<g class="country-labels" aria-hidden="true">${labels.join('')}</g>` +
    (offsets.length ? `<g class="marker-offsets" aria-hidden="true">${offsets.join('')}</g>` : '') +
    `<g class="markers">${markerEls.join('')}</g>` +
    `</svg>`;

  return {
    svg,
    width,
    height,
    project: (lon, lat) => {
      const p = projection([lon, lat]);
      return p ? [p[0], p[1]] : null;
    },
    markers,
    drawnAt,
  };
}
