// The Audit view (issue 17, decision 0038): who did what, when, on which
// call, newest first, from GET /api/v1/audit. Refreshed every few seconds
// while the view is shown (entries reach the store tens of milliseconds
// after the action), and at once when it is opened. A call's id filters
// the list to that call; the filter is the view's URL argument
// (#audit/<call id>), so a filtered list can be bookmarked or shared.

import { call } from './api.js';
import { registerView, showView } from './views.js';

const REFRESH_MS = 3_000;
const LIMIT = 200;

const ACTIONS = {
  login: 'Logged in',
  logout: 'Logged out',
  listen: 'Listened',
  coach: 'Coached',
  join_as_rep: 'Joined as rep',
  take_over: 'Took over',
  whisper: 'Whispered',
  hang_up: 'Hung up',
  approve: 'Approved',
  reject: 'Rejected',
  mark_done: 'Marked done',
};

// Visible to tests and to the browser console.
const state = (window.warmlineAudit = {
  entries: [],
  refreshedAt: null, // Date.now() of the last answer
  error: null,
  callId: null,
});

let getToken = () => null;
let timer = null;
let shown = false;
let root = null;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// Today's entries by time alone; older ones with their date.
function when(at) {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return at;
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

function describe(entry) {
  const d = entry.detail || {};
  switch (entry.action) {
    case 'whisper':
      return `“${d.text || ''}”`;
    case 'approve': {
      const parts = [d.tool || 'tool'];
      if (d.edited && d.arguments) parts.push(`edited to ${JSON.stringify(d.arguments)}`);
      if (d.note) parts.push(`note: “${d.note}”`);
      return parts.join(' · ');
    }
    case 'reject':
      return [d.tool || 'tool', d.note ? `note: “${d.note}”` : ''].filter(Boolean).join(' · ');
    case 'login':
      return d.expires_at ? `session until ${when(d.expires_at)}` : '';
    default:
      return '';
  }
}

function row(entry) {
  const time = el('td', { className: 'at', title: entry.at }, when(entry.at));
  time.dataset.at = entry.at;
  const action = el('span', { className: 'action', dataset: { action: entry.action } }, ACTIONS[entry.action] || entry.action);
  if (entry.action === 'approve' && entry.detail && entry.detail.edited) action.textContent += ' (edited)';
  const callCell = el('td', { className: 'call' });
  if (entry.call_id) {
    const link = el('a', { href: `#audit/${encodeURIComponent(entry.call_id)}`, title: `Only call ${entry.call_id}` }, entry.call_id.slice(0, 8));
    callCell.append(link);
  } else {
    callCell.textContent = '—';
  }
  const who = el('td', { className: 'who-cell' }, entry.who);
  if (entry.who === 'admin token') who.classList.add('raw');
  return el('tr', { dataset: { id: entry.id, action: entry.action } },
    time, who, el('td', {}, action), callCell, el('td', { className: 'what' }, describe(entry)));
}

function render() {
  if (!root) return;
  const rows = root.querySelector('#audit-rows');
  rows.replaceChildren(...state.entries.map(row));
  root.querySelector('#audit-count').textContent = String(state.entries.length);
  root.querySelector('#audit-empty').hidden = state.entries.length > 0 || !!state.error;
  root.querySelector('#audit-error').textContent = state.error || '';
  root.querySelector('#audit-filter').hidden = !state.callId;
  root.querySelector('#audit-filter-id').textContent = state.callId || '';
  root.querySelector('#audit-updated').textContent = state.refreshedAt
    ? `Updated ${when(new Date(state.refreshedAt).toISOString())}` : '';
}

async function refresh() {
  clearTimeout(timer);
  const token = getToken();
  if (!shown || !token) return;
  const query = new URLSearchParams({ limit: String(LIMIT) });
  if (state.callId) query.set('call_id', state.callId);
  try {
    const answer = await call(token, 'GET', `/api/v1/audit?${query}`);
    state.entries = Array.isArray(answer.entries) ? answer.entries : [];
    state.error = null;
    state.refreshedAt = Date.now();
  } catch (e) {
    // The desk's own stream notices an ended session and logs out.
    state.error = e.message;
  }
  render();
  if (shown) timer = setTimeout(refresh, REFRESH_MS);
}

function build(section) {
  section.replaceChildren(
    el('section', { className: 'panel audit', 'aria-labelledby': 'audit-title' },
      el('header', { className: 'panel-head' },
        el('h2', { id: 'audit-title' }, 'Audit log'),
        el('span', { id: 'audit-count', className: 'count' }, '0'),
        el('span', { id: 'audit-filter', className: 'audit-filter', hidden: true },
          'Call ', el('code', { id: 'audit-filter-id' }),
          el('button', { type: 'button', className: 'quiet', id: 'audit-all', onclick: () => showView('audit') }, 'Show all calls')),
        el('span', { id: 'audit-updated', className: 'timer', 'aria-live': 'off' })),
      el('p', { className: 'hint' }, 'Every action taken on this server’s desk, newest first: who (the name they logged in with), what, when (the server’s time) and on which call.'),
      el('table', { id: 'audit-table', className: 'grid audit-grid' },
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col' }, 'Time'),
          el('th', { scope: 'col' }, 'Who'),
          el('th', { scope: 'col' }, 'Action'),
          el('th', { scope: 'col' }, 'Call'),
          el('th', { scope: 'col' }, 'Detail'))),
        el('tbody', { id: 'audit-rows' })),
      el('p', { id: 'audit-empty', className: 'empty' }, 'Nothing recorded yet. Listening, coaching, taking over, whispering, hanging up and approvals appear here.'),
      el('p', { id: 'audit-error', className: 'error', role: 'alert' })));
  root = section;
}

/// Builds the view in its section and registers it; `tokenOf` gives the
/// desk's session token at the time of each request.
export function initAudit(tokenOf) {
  getToken = tokenOf;
  const section = document.querySelector('#views-body > [data-view="audit"]');
  if (!section) return;
  build(section);
  registerView('audit', {
    onShow(arg) {
      shown = true;
      const callId = arg || null;
      if (callId !== state.callId) state.entries = [];
      state.callId = callId;
      render();
      refresh();
    },
    onHide() {
      shown = false;
      clearTimeout(timer);
    },
  });
}
