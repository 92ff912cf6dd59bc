// The escalation inbox (issue 17, decision 0037): callers waiting for a
// person now, callbacks and messages the AI took, and past hand-overs,
// most urgent first, from GET /api/v1/inbox; a callback or message is
// marked done with POST /api/v1/callbacks/{call_id}/{seq}/done. Beside
// it, the latest ended calls, each opening the call-detail view
// (detail.js, `#call/{id}`). Read while the view is shown, every
// POLL_MS: the waiting times tick in between.

import { call, savedToken } from './api.js';
import { registerView } from './views.js';

// Often enough that a call's record shows within 3 s of its end (the
// store writes within tens of ms), cheap enough for a desk open all day:
// three indexed queries of at most LIMIT rows.
const POLL_MS = 1_500;
const LIMIT = 50;
const RECENT = 15; // ended calls in the side list
const RECENT_EVERY = 4; // polls between reads of the side list

// Visible to tests and to the browser console.
const state = (window.warmlineInbox = {
  shown: false,
  items: [],
  loadedAt: null, // Date.now() of the last answer
  marks: 0, // callbacks this page marked done
  error: null,
});

let root = null;
let timer = null;
let ticker = null;
let polls = 0;
let rendered = ''; // the answer last drawn, to redraw only on change

const GROUPS = [
  ['pending', 'Waiting for a person', 'Nobody is waiting for a person.'],
  ['open', 'Callbacks and messages to do', 'No callback or message waits.'],
  ['past', 'Past hand-overs', 'No hand-over yet.'],
  ['done', 'Done', 'Nothing marked done yet.'],
];

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function build(section) {
  section.innerHTML = `
    <div class="inbox">
      <section class="panel inbox-main" aria-labelledby="inbox-title">
        <header class="panel-head">
          <h2 id="inbox-title">Inbox</h2>
          <span id="inbox-todo" class="count" title="Waiting callers and callbacks to do">0</span>
          <span id="inbox-updated" class="timer" aria-live="off"></span>
        </header>
        <p id="inbox-error" class="error" role="alert" hidden></p>
        <div id="inbox-groups"></div>
      </section>
      <aside class="panel recent" aria-labelledby="recent-title">
        <header class="panel-head"><h2 id="recent-title">Recent calls</h2></header>
        <table class="grid">
          <thead><tr><th scope="col">Ended</th><th scope="col">Caller</th><th scope="col">Outcome</th><th scope="col" class="num">Length</th></tr></thead>
          <tbody id="recent-rows"></tbody>
        </table>
        <p id="no-recent" class="empty">No ended call yet.</p>
      </aside>
    </div>`;
  const groups = section.querySelector('#inbox-groups');
  for (const [key, title, empty] of GROUPS) {
    const group = el('section', 'inbox-group');
    group.dataset.group = key;
    const head = el('h3', null, title);
    const count = el('span', 'count', '0');
    head.append(count);
    group.append(head, el('p', 'empty', empty), el('ol', 'inbox-items'));
    groups.append(group);
  }
}

export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  return `${h ? `${h}:` : ''}${mm}:${String(s % 60).padStart(2, '0')}`;
}

// "14:03" today, "3 Dec 14:03" before; the full time as a tooltip.
export function when(iso) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '—';
  const time = t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const today = new Date().toDateString() === t.toDateString();
  return today ? time : `${t.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

export function words(code) {
  return code ? String(code).replace(/_/g, ' ') : '';
}

function fact(dl, label, value, cls) {
  if (value == null || value === '') return;
  const dt = el('dt', null, label);
  const dd = el('dd', cls, value);
  dl.append(dt, dd);
}

function link(href, text) {
  const a = el('a', 'open', text);
  a.href = href;
  return a;
}

// One item's card.
function itemView(item) {
  const li = el('li', 'inbox-item');
  li.dataset.kind = item.kind;
  li.dataset.call = item.call_id;
  const head = el('div', 'item-head');
  const badge = el('span', 'kind');
  badge.dataset.kind = item.done_at ? 'done' : item.kind;
  const body = el('dl', 'item-facts');
  const actions = el('div', 'item-actions');
  switch (item.kind) {
    case 'pending': {
      badge.textContent = 'Waiting';
      if (item.urgency === 'high') badge.dataset.urgent = 'true';
      head.append(badge, el('b', 'who', item.from || 'Unknown caller'));
      const phase = item.phase === 'ringing' && item.rep ? `ringing ${item.rep}`
        : item.phase === 'briefing' && item.rep ? `briefing ${item.rep}` : words(item.phase);
      head.append(el('span', 'meta', `${phase}${item.agent ? ` · ${item.agent}` : ''}`));
      const waited = el('span', 'waited');
      waited.dataset.since = String(Date.now() - (item.waiting_ms || 0));
      waited.textContent = duration(item.waiting_ms || 0);
      waited.title = 'Waiting for a person';
      head.append(waited);
      fact(body, 'Reason', item.reason);
      fact(body, 'Summary', item.summary, 'summary');
      fact(body, 'Next action', item.next_action, 'next-action');
      actions.append(link('#live', 'Watch live'));
      if (item.transcript && item.transcript.length) {
        const more = el('details', 'item-transcript');
        more.append(el('summary', null, `Transcript (last ${item.transcript.length} lines)`));
        const ol = el('ol', 'mini-transcript');
        for (const line of item.transcript) {
          const row = el('li');
          row.dataset.who = line.who;
          row.append(el('b', null, line.who === 'agent' ? 'AI' : 'Caller'), document.createTextNode(line.text));
          ol.append(row);
        }
        more.append(ol);
        li.append(head, body, more, actions);
        return li;
      }
      break;
    }
    case 'callback':
    case 'message': {
      badge.textContent = item.done_at ? 'Done' : item.kind === 'callback' ? 'Call back' : 'Message';
      head.append(badge, el('b', 'who', item.number || item.from || 'No number'));
      head.append(el('span', 'meta', `taken by ${item.agent || 'the AI'} · ${when(item.created_at)}`));
      fact(body, 'Message', item.message, 'message');
      fact(body, 'When', item.detail && item.detail.when);
      fact(body, 'Caller', item.number && item.from !== item.number ? item.from : null);
      fact(body, 'Summary', item.summary, 'summary');
      fact(body, 'Next action', item.next_action, 'next-action');
      fact(body, 'Outcome', item.escalation_outcome ? `${words(item.call_outcome)} (${words(item.escalation_outcome)})` : words(item.call_outcome));
      if (item.done_at) {
        li.dataset.done = 'true';
        actions.append(el('span', 'done-note', `Done by ${item.done_by || 'someone'} · ${when(item.done_at)}`));
      } else {
        const done = el('button', 'primary mark-done', 'Mark done');
        done.type = 'button';
        done.addEventListener('click', () => markDone(item, done));
        actions.append(done);
      }
      actions.append(link(`#call/${encodeURIComponent(item.call_id)}`, 'Call detail'));
      break;
    }
    case 'escalation': {
      badge.textContent = 'Hand-over';
      badge.dataset.outcome = item.outcome || '';
      head.append(badge, el('b', 'who', item.from || 'Unknown caller'));
      const how = item.outcome === 'answered' ? `answered by ${item.rep || 'a rep'}` : words(item.outcome);
      head.append(el('span', 'meta', `${how} · ${when(item.requested_at || item.ended_at)}`));
      fact(body, 'Reason', item.reason);
      fact(body, 'Summary', item.summary, 'summary');
      fact(body, 'Next action', item.next_action, 'next-action');
      fact(body, 'Outcome', words(item.outcome), 'outcome');
      actions.append(link(`#call/${encodeURIComponent(item.call_id)}`, 'Call detail'));
      break;
    }
    default:
      return null;
  }
  li.append(head, body, actions);
  return li;
}

function section(item) {
  if (item.kind === 'pending') return 'pending';
  if (item.kind === 'escalation') return 'past';
  return item.done_at ? 'done' : 'open';
}

function render(answer) {
  const items = Array.isArray(answer.items) ? answer.items : [];
  state.items = items;
  const lists = new Map(GROUPS.map(([key]) => [key, []]));
  for (const item of items) {
    const view = itemView(item);
    if (view) lists.get(section(item)).push(view);
  }
  for (const [key, views] of lists) {
    const group = root.querySelector(`[data-group="${key}"]`);
    group.querySelector('.inbox-items').replaceChildren(...views);
    group.querySelector('.count').textContent = String(views.length);
    group.querySelector('.empty').hidden = views.length > 0;
  }
  root.querySelector('#inbox-todo').textContent = String(lists.get('pending').length + lists.get('open').length);
}

function renderRecent(calls) {
  const rows = calls.map((c) => {
    const tr = el('tr');
    tr.dataset.id = c.id;
    const open = () => { location.hash = `#call/${encodeURIComponent(c.id)}`; };
    tr.addEventListener('click', open);
    const caller = el('td');
    caller.append(link(`#call/${encodeURIComponent(c.id)}`, c.from || '—'));
    const outcome = el('td');
    const badge = el('span', 'badge', words(c.outcome));
    badge.dataset.outcome = c.outcome;
    outcome.append(badge);
    tr.append(el('td', null, when(c.ended_at)), caller, outcome, el('td', 'num', duration(c.duration_ms || 0)));
    return tr;
  });
  root.querySelector('#recent-rows').replaceChildren(...rows);
  root.querySelector('#no-recent').hidden = rows.length > 0;
}

async function refresh() {
  const token = savedToken();
  if (!token || !state.shown) return;
  try {
    const answer = await call(token, 'GET', `/api/v1/inbox?limit=${LIMIT}`);
    state.loadedAt = Date.now();
    const text = JSON.stringify(answer.items);
    const changed = text !== rendered;
    if (changed) {
      rendered = text;
      render(answer);
    }
    state.error = answer.store_error || null;
    showError(answer.store_error ? `Only the waiting callers are shown: ${answer.store_error}` : '');
    root.querySelector('#inbox-updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
    // A change in the inbox is often a call that just ended.
    if (changed || polls % RECENT_EVERY === 0) {
      const recent = await call(token, 'GET', `/api/v1/calls?state=ended&limit=${RECENT}`);
      renderRecent(recent.calls || []);
    }
    polls += 1;
  } catch (e) {
    state.error = e.message;
    showError(e.message);
  }
}

function showError(text) {
  const error = root.querySelector('#inbox-error');
  error.textContent = text;
  error.hidden = !text;
}

async function markDone(item, button) {
  button.disabled = true;
  button.textContent = 'Marking…';
  try {
    await call(savedToken(), 'POST', item.done_path);
    state.marks += 1;
    rendered = ''; // the item moves to Done: redraw
    await refresh();
  } catch (e) {
    button.disabled = false;
    button.textContent = 'Mark done';
    showError(`Not marked: ${e.message}`);
  }
}

function loop() {
  clearTimeout(timer);
  refresh().finally(() => {
    if (state.shown) timer = setTimeout(loop, POLL_MS);
  });
}

function tick() {
  for (const waited of root.querySelectorAll('.waited[data-since]')) {
    waited.textContent = duration(Date.now() - Number(waited.dataset.since));
  }
}

/// Builds the view in its section and registers it with the switcher.
export function initInbox() {
  // The view's section (the tab bar's link carries the same data-view).
  root = document.querySelector('#views-body > [data-view="inbox"]');
  if (!root) return;
  build(root);
  registerView('inbox', {
    onShow() {
      state.shown = true;
      polls = 0;
      rendered = '';
      loop();
      clearInterval(ticker);
      ticker = setInterval(tick, 1000);
    },
    onHide() {
      state.shown = false;
      clearTimeout(timer);
      clearInterval(ticker);
    },
  });
}
