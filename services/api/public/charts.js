/**
 * Hand-written SVG time charts (no chart library). Elements are created with createElementNS and styled by
 * classes only, which keeps them inside a CSP without inline styles. X axis: times in the crossing's zone.
 *
 * timeChart({ id, title, from, to, timeZone, series, fmtY, legend }) -> <figure>
 *   series: [{ kind: 'line' | 'step' | 'band' | 'bars', cls, points }]
 *     line/step/bars points: { t, y } (y null = gap); band points: { t, lo, hi }; bars also take `width` (ms).
 */
import { fmtNumber, fmtTime } from './i18n.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 190;
const M = { l: 46, r: 12, t: 12, b: 26 };

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** 1, 2, 2.5, 5 x 10^n at or above v: tick steps people read easily. */
function niceStep(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function localHour(ms, timeZone) {
  return Number(new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' }).format(ms));
}

/** Splits points at nulls into runs so gaps stay gaps. */
function runs(points, hasValue) {
  const out = [];
  let cur = [];
  for (const p of points) {
    if (hasValue(p)) cur.push(p);
    else if (cur.length) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

export function timeChart({ id, title, from, to, timeZone, series, fmtY = (v) => fmtNumber(v), legend = [] }) {
  const fig = document.createElement('figure');
  fig.className = 'chart';
  fig.id = id;
  const cap = document.createElement('figcaption');
  cap.id = `${id}-caption`;
  cap.textContent = title;
  fig.append(cap);

  let max = 0;
  for (const s of series) {
    for (const p of s.points) {
      const v = s.kind === 'band' ? p.hi : p.y;
      if (v !== null && v !== undefined && v > max) max = v;
    }
  }
  const step = niceStep((max || 1) / 4);
  const yMax = Math.max(step, Math.ceil(max / step) * step);
  const iw = W - M.l - M.r;
  const ih = H - M.t - M.b;
  const x = (t) => M.l + ((t - from) / (to - from)) * iw;
  const y = (v) => M.t + ih - (v / yMax) * ih;

  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': cap.id, class: 'chart-svg' });
  const grid = el('g', { class: 'grid' });
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    grid.append(el('line', { x1: M.l, x2: W - M.r, y1: y(v), y2: y(v) }));
    grid.append(el('text', { x: M.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, fmtY(v)));
  }
  for (let h = Math.ceil(from / 3600_000) * 3600_000; h <= to; h += 3600_000) {
    if (localHour(h, timeZone) % 3 !== 0) continue;
    grid.append(el('line', { x1: x(h), x2: x(h), y1: M.t, y2: M.t + ih, class: 'vgrid' }));
    grid.append(el('text', { x: x(h), y: H - 8, 'text-anchor': 'middle', class: 'tick' }, fmtTime(h, timeZone)));
  }
  svg.append(grid);

  for (const s of series) {
    const g = el('g', { class: `series ${s.cls}` });
    if (s.kind === 'band') {
      for (const r of runs(s.points, (p) => p.lo !== null && p.hi !== null && p.lo !== undefined && p.hi !== undefined)) {
        const top = r.map((p) => `${x(p.t).toFixed(1)},${y(p.hi).toFixed(1)}`);
        const bottom = r.slice().reverse().map((p) => `${x(p.t).toFixed(1)},${y(p.lo).toFixed(1)}`);
        g.append(el('polygon', { points: [...top, ...bottom].join(' ') }));
      }
    } else if (s.kind === 'bars') {
      for (const p of s.points) {
        if (p.y === null || p.y === undefined) continue;
        const x0 = x(p.t);
        const x1 = x(p.t + (p.width ?? 3600_000));
        const bw = Math.max(1, (x1 - x0) * 0.7);
        g.append(el('rect', { x: (x0 + (x1 - x0 - bw) / 2).toFixed(1), y: y(p.y).toFixed(1), width: bw.toFixed(1), height: Math.max(0, M.t + ih - y(p.y)).toFixed(1) }));
      }
    } else {
      for (const r of runs(s.points, (p) => p.y !== null && p.y !== undefined)) {
        let d = '';
        r.forEach((p, i) => {
          const px = x(p.t).toFixed(1);
          const py = y(p.y).toFixed(1);
          if (i === 0) d += `M${px},${py}`;
          else if (s.kind === 'step') d += `H${px}V${py}`;
          else d += `L${px},${py}`;
        });
        if (r.length === 1) g.append(el('circle', { cx: x(r[0].t).toFixed(1), cy: y(r[0].y).toFixed(1), r: 2.5 }));
        else g.append(el('path', { d }));
      }
    }
    svg.append(g);
  }
  svg.append(el('line', { x1: M.l, x2: W - M.r, y1: M.t + ih, y2: M.t + ih, class: 'axis' }));
  fig.append(svg);

  if (legend.length) {
    const ul = document.createElement('ul');
    ul.className = 'legend';
    for (const item of legend) {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = `swatch ${item.cls}`;
      sw.setAttribute('aria-hidden', 'true');
      li.append(sw, document.createTextNode(item.label));
      ul.append(li);
    }
    fig.append(ul);
  }
  return fig;
}
