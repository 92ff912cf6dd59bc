// The Analytics view's charts (decision 0036), drawn as inline SVG by
// hand: no chart library, no build step. Each function returns an <svg>
// sized by its viewBox (it scales to its container's width) whose marks
// carry their figures in data-* attributes and a <title> tooltip, so a
// person can hover for the number and a test can read what was drawn.

const SVG = 'http://www.w3.org/2000/svg';

// How the outcomes are drawn, bottom of a stack first.
export const OUTCOMES = [
  ['contained', 'Contained'],
  ['transferred', 'Transferred'],
  ['escalated', 'Escalated'],
  ['failed', 'Failed'],
  ['abandoned', 'Abandoned'],
];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function titled(node, text) {
  node.append(el('title', {}, text));
  return node;
}

// A round top for the axis: 1, 2, 2.5 or 5 times a power of ten, with
// `ticks` steps below it.
export function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { top: ticks, step: 1 };
  const rough = max / ticks;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough) || rough;
  const whole = step < 1 ? 1 : step; // calls are whole numbers
  return { top: whole * Math.ceil(max / whole), step: whole };
}

// "Mon 1" for a UTC date "2026-12-01".
export function dayLabel(day) {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return day;
  return d.toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', timeZone: 'UTC' });
}

// Charts are drawn at their box's width in CSS pixels (`W`, set per
// chart), so text keeps its size; the viewBox still scales them if the
// box changes before the next draw.
let W = 720;
const PAD = { left: 40, right: 12, top: 12, bottom: 28 };

function frame(height, label) {
  return el('svg', { viewBox: `0 0 ${W} ${height}`, width: W, height, class: 'chart', role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMid meet' });
}

function sized(width) {
  W = Math.max(280, Math.round(width || 720));
}

function gridY(svg, height, top, step, format) {
  const inner = height - PAD.top - PAD.bottom;
  for (let v = 0; v <= top + 1e-9; v += step) {
    const y = PAD.top + inner - (v / top) * inner;
    svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: v === 0 ? 'axis' : 'grid' }));
    svg.append(el('text', { x: PAD.left - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' }, format(v)));
  }
}

// Every x label when they fit, else every n-th (the first and last kept).
function xLabels(svg, height, days, x, band) {
  const every = Math.max(1, Math.ceil(days.length / Math.floor((W - PAD.left - PAD.right) / 56)));
  days.forEach((day, i) => {
    if (i % every && i !== days.length - 1) return;
    svg.append(el('text', { x: x(i) + band / 2, y: height - 9, class: 'tick', 'text-anchor': 'middle' }, dayLabel(day)));
  });
}

// Calls per day, one stacked bar a day, segments by outcome.
export function stackedDays(groups, width, height = 230) {
  sized(width);
  const svg = frame(height, 'Calls per day by outcome');
  const max = Math.max(0, ...groups.map((g) => g.calls));
  const { top, step } = niceScale(max);
  gridY(svg, height, top, step, (v) => String(v));
  const inner = height - PAD.top - PAD.bottom;
  const slot = (W - PAD.left - PAD.right) / Math.max(1, groups.length);
  const band = Math.min(48, slot * 0.62);
  const x = (i) => PAD.left + i * slot + (slot - band) / 2;
  groups.forEach((g, i) => {
    let base = PAD.top + inner;
    const bar = el('g', { class: 'bar', 'data-day': g.key, 'data-calls': g.calls });
    for (const [outcome, label] of OUTCOMES) {
      const n = g.outcomes[outcome];
      if (!n) continue;
      const h = (n / top) * inner;
      base -= h;
      bar.append(titled(el('rect', {
        x: x(i), y: base, width: band, height: Math.max(h, 0.5), rx: 2,
        class: `seg seg-${outcome}`, 'data-outcome': outcome, 'data-calls': n,
      }), `${g.key}: ${n} ${label.toLowerCase()}`));
    }
    if (g.calls) {
      bar.append(el('text', { x: x(i) + band / 2, y: base - 5, class: 'bar-total', 'text-anchor': 'middle' }, String(g.calls)));
    }
    svg.append(bar);
  });
  xLabels(svg, height, groups.map((g) => g.key), x, band);
  return svg;
}

// Rates per day (0–100 %), one line per series; a day without handled
// calls has no point, and the line breaks there.
export function rateLines(groups, series, width, height = 230) {
  sized(width);
  const svg = frame(height, 'Rates per day');
  gridY(svg, height, 1, 0.25, (v) => `${Math.round(v * 100)}%`);
  const inner = height - PAD.top - PAD.bottom;
  const slot = (W - PAD.left - PAD.right) / Math.max(1, groups.length);
  const x = (i) => PAD.left + i * slot + slot / 2;
  const y = (v) => PAD.top + inner - v * inner;
  for (const { field, label, cls } of series) {
    let path = '';
    let open = false;
    groups.forEach((g, i) => {
      const v = g[field];
      if (v === null || v === undefined) { open = false; return; }
      path += `${open ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      open = true;
    });
    if (path) svg.append(el('path', { d: path, class: `line ${cls}` }));
    groups.forEach((g, i) => {
      const v = g[field];
      if (v === null || v === undefined) return;
      svg.append(titled(el('circle', { cx: x(i), cy: y(v), r: 3.5, class: `dot ${cls}`, 'data-day': g.key, 'data-field': field, 'data-value': v }),
        `${g.key}: ${label} ${(v * 100).toFixed(1)}%`));
    });
  }
  xLabels(svg, height, groups.map((g) => g.key), (i) => PAD.left + i * slot, slot);
  return svg;
}

// One horizontal bar per group, its calls split by outcome; the label
// on the left, the total on the right.
export function groupBars(groups, labelOf, width) {
  sized(width);
  const row = 30;
  const left = 190;
  const right = 56;
  const height = Math.max(1, groups.length) * row + 8;
  const svg = frame(height, 'Calls by group and outcome');
  const max = Math.max(1, ...groups.map((g) => g.calls));
  const span = W - left - right;
  groups.forEach((g, i) => {
    const y = 4 + i * row;
    const label = labelOf(g);
    svg.append(titled(el('text', { x: left - 10, y: y + row / 2 + 4, class: 'row-label', 'text-anchor': 'end' }, label.length > 26 ? `${label.slice(0, 25)}…` : label), label));
    svg.append(el('rect', { x: left, y: y + 5, width: span, height: row - 12, rx: 3, class: 'track' }));
    let at = left;
    const bar = el('g', { class: 'bar', 'data-key': g.key === null ? '' : g.key, 'data-calls': g.calls });
    for (const [outcome, name] of OUTCOMES) {
      const n = g.outcomes[outcome];
      if (!n) continue;
      const w = (n / max) * span;
      bar.append(titled(el('rect', { x: at, y: y + 5, width: Math.max(w, 0.5), height: row - 12, class: `seg seg-${outcome}`, 'data-outcome': outcome, 'data-calls': n }),
        `${label}: ${n} ${name.toLowerCase()}`));
      at += w;
    }
    svg.append(bar);
    svg.append(el('text', { x: at + 8, y: y + row / 2 + 4, class: 'bar-total' }, String(g.calls)));
  });
  return svg;
}

// A 100 % bar of one group's outcomes (the versions' comparison).
export function outcomeShare(g) {
  const svg = el('svg', { viewBox: '0 0 100 10', class: 'share', preserveAspectRatio: 'none', role: 'img', 'aria-label': 'Outcomes' });
  let at = 0;
  for (const [outcome, name] of OUTCOMES) {
    const n = g.outcomes[outcome];
    if (!n || !g.calls) continue;
    const w = (n / g.calls) * 100;
    svg.append(titled(el('rect', { x: at, y: 0, width: w, height: 10, class: `seg seg-${outcome}`, 'data-outcome': outcome, 'data-calls': n }),
      `${n} ${name.toLowerCase()} (${(w).toFixed(0)}%)`));
    at += w;
  }
  return svg;
}
