// The desk's Analytics view (issue 17, decision 0036): the figures of
// GET /api/v1/analytics for the last 7, 30 or 90 UTC days: headline
// figures, calls per day stacked by outcome, containment and escalation
// rates per day, the calls of each group (agent, number, trunk, version)
// by outcome, every agent's versions side by side, and a compact table.
// It reads the API with the page's token (api.js `call`), draws its own
// SVG (analytics_charts.js) and refreshes every minute while shown.

import { call } from './api.js';
import { registerView } from './views.js';
import { OUTCOMES, dayLabel, groupBars, outcomeShare, rateLines, stackedDays } from './analytics_charts.js';

const REFRESH_MS = 60_000;
const RANGES = [7, 30, 90]; // days; the API allows up to 92
const GROUPINGS = [['agent', 'Agent'], ['number', 'Number'], ['trunk', 'Trunk'], ['version', 'Version'], ['day', 'Day']];

// Visible to tests and to the browser console.
const view = (window.warmlineAnalytics = {
  state: 'idle', // idle | loading | ready | error
  days: 7,
  by: 'agent',
  loads: 0,
  shownAt: null,
  readyAt: null,
  error: null,
  data: null, // { days, groups, versions } as the API answered
});

let tokenOf = () => null;
let timer = null;
let root = null;
let generation = 0; // a newer load wins over a slower older one
let resizeTimer = null;

const TEMPLATE = `
  <header class="an-head">
    <h2 id="an-title" class="an-title">Analytics</h2>
    <span id="an-window" class="hint-inline"></span>
    <span class="spacer"></span>
    <div class="seg-control" role="group" aria-label="Range" id="an-range"></div>
    <div class="seg-control" role="group" aria-label="Group by" id="an-by"></div>
  </header>
  <p id="an-error" class="error" role="alert"></p>
  <div id="an-kpis" class="kpis" aria-live="polite"></div>
  <div class="an-grid">
    <section class="panel an-chart" aria-labelledby="an-days-title">
      <header class="panel-head"><h2 id="an-days-title">Calls per day</h2><span class="legend" id="an-legend"></span></header>
      <div id="an-days" class="chart-box"></div>
    </section>
    <section class="panel an-chart" aria-labelledby="an-rates-title">
      <header class="panel-head"><h2 id="an-rates-title">Containment and escalation</h2>
        <span class="legend"><i class="key line-contained"></i>Containment <i class="key line-escalation"></i>Escalation</span></header>
      <div id="an-rates" class="chart-box"></div>
    </section>
    <section class="panel an-wide" aria-labelledby="an-groups-title">
      <header class="panel-head"><h2 id="an-groups-title">By agent</h2><span id="an-omitted" class="hint-inline"></span></header>
      <div id="an-groups" class="chart-box"></div>
      <table class="grid an-table" id="an-table">
        <thead><tr>
          <th scope="col" id="an-key-head">Agent</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Containment</th>
          <th scope="col" class="num">Escalation</th><th scope="col" class="num">Handle time</th><th scope="col" class="num">To a human</th>
          <th scope="col" class="num">Barge-ins</th><th scope="col" class="num">False int.</th><th scope="col" class="num">Tool p95</th><th scope="col" class="num">CSAT</th>
        </tr></thead>
        <tbody id="an-rows"></tbody>
      </table>
    </section>
    <section class="panel an-wide" aria-labelledby="an-versions-title">
      <header class="panel-head"><h2 id="an-versions-title">Agent versions side by side</h2>
        <span class="hint-inline">each version is a content hash of the agent's definition; newest first</span></header>
      <div id="an-versions" class="versions"></div>
    </section>
  </div>`;

// Formatting: what the supervisor reads (tests read the same text).
const dash = '—';
export const fmt = {
  rate: (r) => (r === null || r === undefined ? dash : `${(r * 100).toFixed(1)}%`),
  duration: (ms) => {
    if (ms === null || ms === undefined) return dash;
    if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
    const s = Math.round(ms / 1000);
    return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  },
  ms: (v) => (v === null || v === undefined ? dash : `${Math.round(v)} ms`),
  perCall: (v) => (v === null || v === undefined ? dash : v.toFixed(2)),
  csat: (v) => (v === null || v === undefined ? dash : `${v.toFixed(2)} / 5`),
  count: (n) => n.toLocaleString('en-US'),
};

// The window: whole UTC days ending with today.
function windowOf(days) {
  const now = new Date();
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  const iso = (ms) => new Date(ms).toISOString().slice(0, 10);
  return { from: iso(end - days * 86_400_000), to: iso(end) };
}

function $(id) { return document.getElementById(id); }

function segmented(container, options, current, pick) {
  container.replaceChildren(...options.map(([value, label]) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.dataset.value = String(value);
    b.setAttribute('aria-pressed', String(value === current));
    b.addEventListener('click', () => pick(value));
    return b;
  }));
}

function shortHash(hash) {
  if (!hash) return 'none recorded';
  const hex = hash.replace(/^sha256:/, '');
  return hex.slice(0, 8);
}

function keyLabel(by, g) {
  if (g.key === null) return { agent: 'No agent', version: 'No version', number: 'Unknown', trunk: 'Unknown', day: dash }[by];
  if (by === 'day') return dayLabel(g.key);
  if (by === 'version') return `${g.agent || 'no agent'} · ${shortHash(g.key)}`;
  return g.key;
}

function kpi(figure, label, value, note) {
  const card = document.createElement('div');
  card.className = 'kpi';
  card.dataset.figure = figure;
  const l = document.createElement('span');
  l.className = 'kpi-label';
  l.textContent = label;
  const v = document.createElement('span');
  v.className = 'value';
  v.textContent = value;
  const n = document.createElement('span');
  n.className = 'kpi-note';
  n.textContent = note;
  card.append(l, v, n);
  return card;
}

function renderKpis(t) {
  const o = t.outcomes;
  $('an-kpis').replaceChildren(
    kpi('calls', 'Calls', fmt.count(t.calls), `${fmt.count(t.handled)} handled · ${fmt.count(o.abandoned)} abandoned`),
    kpi('containment_rate', 'Containment', fmt.rate(t.containment_rate), `${fmt.count(o.contained)} of ${fmt.count(t.handled)} handled`),
    kpi('escalation_rate', 'Escalation', fmt.rate(t.escalation_rate), `${fmt.count(o.transferred)} reached a person · ${fmt.count(o.escalated)} did not`),
    kpi('avg_handle_time_ms', 'Avg handle time', fmt.duration(t.avg_handle_time_ms), 'mean of handled calls'),
    kpi('time_to_human_ms', 'Time to a human', fmt.duration(t.time_to_human_ms.median), `median of ${fmt.count(t.time_to_human_ms.count)} · mean ${fmt.duration(t.time_to_human_ms.mean)}`),
    kpi('csat', 'CSAT', fmt.csat(t.csat.mean), `${fmt.count(t.csat.count)} answers`),
    kpi('tool_latency_ms', 'Tool latency p95', fmt.ms(t.tool_latency_ms.p95), `p50 ${fmt.ms(t.tool_latency_ms.p50)} · ${fmt.count(t.tool_latency_ms.count)} calls`),
    kpi('barge_ins_per_call', 'Barge-ins / call', fmt.perCall(t.barge_ins_per_call), `false interruptions ${fmt.perCall(t.false_interruptions_per_call)} / call`),
  );
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function renderTable(by, answer) {
  $('an-key-head').textContent = Object.fromEntries(GROUPINGS)[by];
  const rows = answer.groups.filter((g) => by !== 'day' || g.calls > 0);
  const body = rows.map((g) => {
    const tr = document.createElement('tr');
    tr.dataset.key = g.key === null ? '' : g.key;
    const key = cell(keyLabel(by, g));
    if (g.key) key.title = g.key;
    tr.append(key, cell(fmt.count(g.calls), 'num'), cell(fmt.rate(g.containment_rate), 'num'), cell(fmt.rate(g.escalation_rate), 'num'),
      cell(fmt.duration(g.avg_handle_time_ms), 'num'), cell(fmt.duration(g.time_to_human_ms.median), 'num'),
      cell(fmt.perCall(g.barge_ins_per_call), 'num'), cell(fmt.perCall(g.false_interruptions_per_call), 'num'),
      cell(fmt.ms(g.tool_latency_ms.p95), 'num'), cell(fmt.csat(g.csat.mean), 'num'));
    return tr;
  });
  const t = answer.total;
  const total = document.createElement('tr');
  total.className = 'total';
  total.append(cell('All calls'), cell(fmt.count(t.calls), 'num'), cell(fmt.rate(t.containment_rate), 'num'), cell(fmt.rate(t.escalation_rate), 'num'),
    cell(fmt.duration(t.avg_handle_time_ms), 'num'), cell(fmt.duration(t.time_to_human_ms.median), 'num'),
    cell(fmt.perCall(t.barge_ins_per_call), 'num'), cell(fmt.perCall(t.false_interruptions_per_call), 'num'),
    cell(fmt.ms(t.tool_latency_ms.p95), 'num'), cell(fmt.csat(t.csat.mean), 'num'));
  $('an-rows').replaceChildren(...body, total);
}

// Each agent's versions in columns, newest (latest call) first; rows are
// the figures, so a change between versions reads across a line.
function renderVersions(answer) {
  const byAgent = new Map();
  for (const g of answer.groups) {
    const agent = g.agent || 'No agent';
    if (!byAgent.has(agent)) byAgent.set(agent, []);
    byAgent.get(agent).push(g);
  }
  const cards = [...byAgent.entries()].map(([agent, versions]) => {
    versions.sort((a, b) => String(b.last_call_at).localeCompare(String(a.last_call_at)));
    const card = document.createElement('div');
    card.className = 'version-card';
    card.dataset.agent = agent;
    const h = document.createElement('h3');
    h.textContent = agent;
    const table = document.createElement('table');
    table.className = 'grid version-table';
    const head = document.createElement('tr');
    head.append(cell(''));
    for (const v of versions) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.className = 'num';
      th.dataset.version = v.key || '';
      const code = document.createElement('code');
      code.textContent = shortHash(v.key);
      code.title = v.key || 'calls that recorded no version';
      const since = document.createElement('span');
      since.className = 'since';
      since.textContent = v.first_call_at ? `${v.first_call_at.slice(5, 10)} → ${v.last_call_at.slice(5, 10)}` : '';
      th.append(code, since);
      head.append(th);
    }
    const line = (label, of, cls) => {
      const tr = document.createElement('tr');
      tr.append(cell(label, 'metric'));
      for (const v of versions) {
        const td = cell('', `num ${cls || ''}`);
        const shown = of(v);
        if (shown instanceof Node) td.append(shown); else td.textContent = shown;
        tr.append(td);
      }
      return tr;
    };
    const body = document.createElement('tbody');
    body.append(
      line('Calls', (v) => fmt.count(v.calls)),
      line('Outcomes', (v) => outcomeShare(v), 'share-cell'),
      line('Containment', (v) => fmt.rate(v.containment_rate)),
      line('Escalation', (v) => fmt.rate(v.escalation_rate)),
      line('Handle time', (v) => fmt.duration(v.avg_handle_time_ms)),
      line('To a human', (v) => fmt.duration(v.time_to_human_ms.median)),
      line('Barge-ins / call', (v) => fmt.perCall(v.barge_ins_per_call)),
      line('CSAT', (v) => fmt.csat(v.csat.mean)),
    );
    const thead = document.createElement('thead');
    thead.append(head);
    table.append(thead, body);
    card.append(h, table);
    return card;
  });
  if (!cards.length) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = 'No calls in this range.';
    cards.push(p);
  }
  $('an-versions').replaceChildren(...cards);
}

function render() {
  const { days, groups, versions } = view.data;
  $('an-window').textContent = `${days.from.slice(0, 10)} to ${new Date(Date.parse(days.to) - 1).toISOString().slice(0, 10)} (UTC)`;
  renderKpis(days.total);
  const width = (id) => $(id).clientWidth;
  $('an-days').replaceChildren(stackedDays(days.groups, width('an-days')));
  $('an-rates').replaceChildren(rateLines(days.groups, [
    { field: 'containment_rate', label: 'containment', cls: 'line-contained' },
    { field: 'escalation_rate', label: 'escalation', cls: 'line-escalation' },
  ], width('an-rates')));
  const by = view.by;
  $('an-groups-title').textContent = `By ${Object.fromEntries(GROUPINGS)[by].toLowerCase()}`;
  const shown = by === 'day' ? groups.groups.filter((g) => g.calls > 0) : groups.groups;
  $('an-groups').replaceChildren(shown.length ? groupBars(shown, (g) => keyLabel(by, g), width('an-groups')) : emptyNote());
  $('an-omitted').textContent = groups.groups_omitted ? `${groups.groups_omitted} smaller groups not shown` : '';
  renderTable(by, groups);
  renderVersions(versions);
}

function emptyNote() {
  const p = document.createElement('p');
  p.className = 'empty';
  p.textContent = 'No calls in this range.';
  return p;
}

async function load() {
  const token = tokenOf();
  if (!token || !root) return;
  const mine = ++generation;
  view.state = 'loading';
  root.dataset.state = 'loading';
  const { from, to } = windowOf(view.days);
  const get = (by, limit) => call(token, 'GET', `/api/v1/analytics?from=${from}&to=${to}&by=${by}&limit=${limit}`);
  try {
    const [days, groups, versions] = await Promise.all([
      get('day', 20),
      view.by === 'day' ? null : get(view.by, 12),
      get('version', 100),
    ]);
    if (mine !== generation) return;
    view.data = { days, groups: groups || days, versions };
    view.error = null;
    $('an-error').textContent = '';
    render();
    view.state = 'ready';
    view.loads += 1;
    view.readyAt = Date.now();
  } catch (e) {
    if (mine !== generation) return;
    view.state = 'error';
    view.error = e.message;
    $('an-error').textContent = `The figures could not be read: ${e.message}`;
  }
  root.dataset.state = view.state;
}

function controls() {
  segmented($('an-range'), RANGES.map((d) => [d, `${d} days`]), view.days, (d) => { view.days = d; controls(); load(); });
  segmented($('an-by'), GROUPINGS, view.by, (b) => { view.by = b; controls(); load(); });
}

// Charts are drawn at their box's width: draw again when it changes.
function onResize() {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (timer && view.data) render(); }, 150);
}

function onShow() {
  view.shownAt = Date.now();
  clearInterval(timer);
  timer = setInterval(load, REFRESH_MS);
  load();
}

function onHide() {
  clearInterval(timer);
  timer = null;
}

// Builds the view in its section and registers it; `token` returns the
// page's current bearer token (admin or session).
export function initAnalytics({ token }) {
  tokenOf = token;
  root = document.querySelector('#views-body > [data-view="analytics"]');
  if (!root) return;
  root.classList.add('analytics');
  root.innerHTML = TEMPLATE; // static markup: no data in it
  $('an-legend').replaceChildren(...OUTCOMES.map(([outcome, label]) => {
    const s = document.createElement('span');
    const i = document.createElement('i');
    i.className = `key seg-${outcome}`;
    s.append(i, document.createTextNode(label));
    return s;
  }));
  controls();
  window.addEventListener('resize', onResize);
  registerView('analytics', { onShow, onHide });
}
