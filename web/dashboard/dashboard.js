// The supervisor's desk (issue 17, decisions 0030 and 0038): log in with
// a name and the admin token (exchanged for a session), watch every live call from GET /api/v1/calls plus the event
// stream, listen in, coach, take over, whisper to the AI, and decide tool
// approvals. Everything goes through the documented API; no build step.

import { initAnalytics } from './analytics.js';
import { ApiError, call, forgetToken, logIn, logOut, saveToken, savedName, savedToken, streamEvents, verify } from './api.js';
import { initAudit } from './audit.js';
import { Leg } from './media.js';
import { currentView, startViews, stopViews } from './views.js';
import { initInbox } from './inbox.js';
import { initCallDetail } from './detail.js';

const $ = (id) => document.getElementById(id);
// Bounds: the page runs all day.
const MAX_LINES = 60; // transcript lines kept per call
const BARGE_WINDOW_MS = 60_000; // barge-ins counted over this
const FRUSTRATED_BARGE_INS = 3; // this many in the window flags the call
const TALKING_MS = 4_000; // a speaker shows as talking this long after their line
const APPROVAL_POLL_MS = 1_000; // pending approvals show within a second
const RECONNECT_MAX_MS = 10_000;

// Visible to tests and to the browser console.
const desk = (window.warmlineDesk = {
  state: 'logged-out', // logged-out | watching
  stream: 'off', // off | live | reconnecting
  calls: new Map(), // id -> call view
  selected: null,
  leg: null, // the Leg this page has in a call
  approvals: [],
  whispers: 0,
  who: null, // the supervisor's name
});

let token = null;
let streamAbort = null;
let approvalTimer = null;

function notice(text) { $('notice').textContent = text || ''; }

// A call as the desk shows it: the API's object plus what the events
// taught since the page opened.
function view(summary) {
  const known = desk.calls.get(summary.id);
  const v = known || { lines: [], bargeIns: [], tools: new Map(), speaker: null, spokeAt: 0, seenAt: Date.now() };
  Object.assign(v, summary);
  v.startedMs = Date.parse(summary.started_at) || Date.now();
  desk.calls.set(summary.id, v);
  return v;
}

async function loadCalls() {
  const answer = await call(token, 'GET', '/api/v1/calls?state=live&limit=1000');
  const live = new Set();
  for (const summary of answer.calls || []) { view(summary); live.add(summary.id); }
  for (const id of [...desk.calls.keys()]) if (!live.has(id)) desk.calls.delete(id);
  render();
}

// One event of GET /api/v1/events.
function onEvent(event) {
  if (event.type === 'lagged') { loadCalls().catch(() => {}); return; }
  const id = event.call_id;
  if (!id) return;
  let v = desk.calls.get(id);
  if (!v) {
    if (event.type === 'state' && event.state === 'ended') return;
    // A call the list has not shown yet: fetch its summary.
    call(token, 'GET', `/api/v1/calls/${encodeURIComponent(id)}`).then((s) => { if (s.state !== 'ended') { view(s); render(); } }).catch(() => {});
    v = view({ id, state: event.type === 'state' ? event.state : 'connecting', legs: [], started_at: new Date().toISOString() });
  }
  switch (event.type) {
    case 'state':
      if (event.state === 'ended') {
        desk.calls.delete(id);
        if (desk.selected === id && !desk.leg) desk.selected = null;
      } else {
        v.state = event.state;
        // A brief means a rep was found for an escalation; `bridged`
        // alone may be a supervisor's take-over.
        if (event.state === 'brief') v.escalated = true;
      }
      break;
    case 'transcript': {
      const line = { item: event.item_id, who: event.speaker, text: event.text, interrupted: event.interrupted };
      const same = v.lines.findIndex((l) => l.item && l.item === event.item_id);
      if (same >= 0) v.lines[same] = line; else v.lines.push(line);
      if (v.lines.length > MAX_LINES) v.lines.splice(0, v.lines.length - MAX_LINES);
      if (!event.interrupted) { v.speaker = event.speaker; v.spokeAt = Date.now(); }
      break;
    }
    case 'barge_in': {
      const now = Date.now();
      v.bargeIns = v.bargeIns.filter((t) => now - t < BARGE_WINDOW_MS).concat(now);
      v.speaker = 'caller';
      v.spokeAt = now;
      break;
    }
    case 'tool_call':
      if (v.tools.size < 64) v.tools.set(event.id, event.name);
      if (/escalat|transfer|human/.test(event.name)) v.escalated = true;
      break;
    case 'tool_result':
      v.tools.delete(event.id);
      break;
    case 'text_added':
      v.lines.push({ who: 'note', text: event.text });
      if (v.lines.length > MAX_LINES) v.lines.splice(0, v.lines.length - MAX_LINES);
      break;
    case 'legs':
      v.legs = event.legs;
      break;
    case 'long_silence':
      v.silent_since = event.silent ? event.since : null;
      break;
    default:
      return;
  }
  render();
}

// The event stream, reconnected with a growing pause while logged in;
// each (re)connection re-reads the list, since events have no history.
async function watch() {
  let pause = 500;
  while (desk.state === 'watching') {
    const abort = new AbortController();
    streamAbort = abort;
    try {
      const stream = streamEvents(token, abort.signal, onEvent);
      stream.catch(() => {}); // judged below, once awaited
      await loadCalls();
      setStream('live');
      pause = 500;
      await stream;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) { logout('Your session has ended: log in again.'); return; }
    } finally {
      abort.abort(); // never two streams at once
    }
    if (desk.state !== 'watching') return;
    setStream('reconnecting');
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, RECONNECT_MAX_MS);
  }
}

function setStream(state) {
  desk.stream = state;
  const el = $('stream');
  el.dataset.state = state;
  el.textContent = { off: 'Offline', live: 'Live', reconnecting: 'Reconnecting…' }[state];
}

async function pollApprovals() {
  if (desk.state !== 'watching') return;
  try {
    const list = await call(token, 'GET', '/api/v1/approvals');
    desk.approvals = Array.isArray(list) ? list.slice(0, 256) : [];
    renderApprovals();
  } catch (e) {
    if (e.status === 401) { logout('Your session has ended: log in again.'); return; }
  }
  approvalTimer = setTimeout(pollApprovals, APPROVAL_POLL_MS);
}

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  return `${h ? `${h}:` : ''}${mm}:${String(s % 60).padStart(2, '0')}`;
}

function flags(v) {
  const out = [];
  if (v.escalated) out.push(['escalation', 'Escalation']);
  if (desk.approvals.some((a) => a.call_id === v.id)) out.push(['approval', 'Approval waiting']);
  else if (v.tools.size) out.push(['tool', 'Tool running']);
  const now = Date.now();
  if (v.bargeIns.filter((t) => now - t < BARGE_WINDOW_MS).length >= FRUSTRATED_BARGE_INS) out.push(['barge', 'Repeated barge-ins']);
  // The server's flag (decision 0038): nobody heard while the AI holds the call.
  if (v.silent_since) out.push(['silence', `Long silence ${duration(now - Date.parse(v.silent_since))}`]);
  return out;
}

function talking(v) {
  if (!v.speaker || Date.now() - v.spokeAt > TALKING_MS) return ['', '—'];
  return v.speaker === 'agent' ? ['agent', 'AI'] : ['caller', 'Caller'];
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function renderRows() {
  const rows = $('call-rows');
  const calls = [...desk.calls.values()].sort((a, b) => a.startedMs - b.startedMs);
  rows.replaceChildren(...calls.map((v) => {
    const tr = document.createElement('tr');
    tr.dataset.id = v.id;
    tr.tabIndex = -1;
    if (desk.selected === v.id) tr.setAttribute('aria-selected', 'true');
    const state = cell('', 'state');
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.state = v.state;
    badge.textContent = v.state;
    state.append(badge);
    const [who, label] = talking(v);
    const talk = cell(label, 'talking');
    talk.dataset.who = who;
    const flagCell = cell('');
    const flagList = document.createElement('span');
    flagList.className = 'flags';
    for (const [kind, text] of flags(v)) {
      const f = document.createElement('span');
      f.className = 'flag';
      f.dataset.flag = kind;
      f.textContent = text;
      flagList.append(f);
    }
    flagCell.append(flagList);
    tr.append(state, cell(v.from || '—'), cell(v.agent || '—'), cell(duration(Date.now() - v.startedMs), 'num time'), talk, flagCell);
    tr.addEventListener('click', () => select(v.id));
    return tr;
  }));
  $('call-count').textContent = String(calls.length);
  $('no-calls').hidden = calls.length > 0;
}

function renderDetail() {
  const v = desk.selected ? desk.calls.get(desk.selected) : null;
  $('no-selection').hidden = !!v;
  $('detail-body').hidden = !v;
  $('detail-state').textContent = v ? v.state : '';
  $('detail-state').dataset.state = v ? v.state : '';
  $('detail-time').textContent = v ? duration(Date.now() - v.startedMs) : '';
  if (!v) return;
  $('detail-title').textContent = v.from ? `Call from ${v.from}` : 'Call';
  $('detail-from').textContent = v.from || '—';
  $('detail-to').textContent = v.to || '—';
  $('detail-agent').textContent = v.agent || '—';
  $('detail-legs').textContent = (v.legs || []).map((l) => `${l.role}${l.muted ? ' (muted)' : ''}`).join(' · ') || '—';
  const joined = desk.leg && desk.leg.state !== 'ended';
  for (const id of ['listen', 'coach', 'take-over']) $(id).disabled = joined;
  const why = refusal(v, 'coach');
  $('coach').disabled = joined || !!why;
  $('coach').title = why || '';
  const whyNot = refusal(v, 'rep');
  $('take-over').disabled = joined || !!whyNot;
  $('take-over').title = whyNot || '';
  $('leave').hidden = !joined;
  // With the agent out of the call there is nobody to whisper to.
  const agentIn = !(v.legs && v.legs.length) || v.legs.some((l) => l.role === 'agent');
  $('whisper').disabled = !agentIn;
  $('whisper-form').querySelector('button').disabled = !agentIn;
  const list = $('transcript');
  list.replaceChildren(...v.lines.map((l) => {
    const li = document.createElement('li');
    li.dataset.who = l.who;
    const b = document.createElement('b');
    b.textContent = { agent: 'AI', caller: 'Caller', note: 'Whisper' }[l.who] || l.who;
    li.append(b, document.createTextNode(l.text + (l.interrupted ? ' —' : '')));
    return li;
  }));
  list.scrollTop = list.scrollHeight;
}

function renderApprovals() {
  const list = $('approvals');
  // Keep what the supervisor is editing: only add and drop items.
  const pending = new Set(desk.approvals.map((a) => a.id));
  for (const li of [...list.children]) if (!pending.has(li.dataset.id)) li.remove();
  const shown = new Set([...list.children].map((li) => li.dataset.id));
  for (const a of desk.approvals) if (!shown.has(a.id)) list.append(approvalItem(a));
  $('approval-count').textContent = String(desk.approvals.length);
  $('no-approvals').hidden = desk.approvals.length > 0;
  renderRows();
}

function approvalItem(a) {
  const li = document.createElement('li');
  li.className = 'approval';
  li.dataset.id = a.id;
  const head = document.createElement('div');
  head.className = 'approval-head';
  const tool = document.createElement('b');
  tool.textContent = a.tool;
  const since = document.createElement('span');
  since.className = 'hint-inline';
  const v = desk.calls.get(a.call_id);
  since.textContent = v && v.from ? `call from ${v.from}` : `call ${String(a.call_id).slice(0, 8)}`;
  head.append(tool, since);
  const label = document.createElement('label');
  label.textContent = 'Arguments (edit to change them)';
  const args = document.createElement('textarea');
  args.className = 'args';
  args.spellcheck = false;
  args.rows = 4;
  args.value = typeof a.arguments === 'string' ? a.arguments : JSON.stringify(a.arguments, null, 2);
  const original = args.value;
  label.append(args);
  const note = document.createElement('input');
  note.type = 'text';
  note.maxLength = 1000;
  note.placeholder = 'Note for the AI (optional)';
  const approve = document.createElement('button');
  approve.type = 'button';
  approve.className = 'primary approve';
  approve.textContent = 'Approve';
  const reject = document.createElement('button');
  reject.type = 'button';
  reject.className = 'secondary reject';
  reject.textContent = 'Reject';
  const error = document.createElement('p');
  error.className = 'error';
  const decide = async (decision) => {
    const body = { decision };
    if (note.value.trim()) body.note = note.value.trim();
    if (decision === 'approve' && args.value !== original) {
      try { body.arguments = JSON.parse(args.value); } catch { error.textContent = 'The arguments are not valid JSON.'; return; }
      if (!body.arguments || typeof body.arguments !== 'object' || Array.isArray(body.arguments)) { error.textContent = 'The arguments must be a JSON object.'; return; }
    }
    approve.disabled = reject.disabled = true;
    try {
      await call(token, 'POST', `/api/v1/approvals/${encodeURIComponent(a.id)}`, body);
      desk.approvals = desk.approvals.filter((x) => x.id !== a.id);
      renderApprovals();
      notice(`${a.tool}: ${decision === 'approve' ? 'approved' : 'rejected'}.`);
    } catch (e) {
      error.textContent = e.message;
      approve.disabled = reject.disabled = false;
    }
  };
  approve.addEventListener('click', () => decide('approve'));
  reject.addEventListener('click', () => decide('reject'));
  const actions = document.createElement('div');
  actions.className = 'row';
  actions.append(note, approve, reject);
  li.append(head, label, actions, error);
  return li;
}

function render() { renderRows(); renderDetail(); }

function select(id) {
  if (desk.leg && desk.leg.state !== 'ended' && desk.leg.callId !== id) {
    notice('Hang up first: you are in another call.');
    return;
  }
  desk.selected = id;
  render();
}

function move(step) {
  const ids = [...$('call-rows').children].map((tr) => tr.dataset.id);
  if (!ids.length) return;
  const at = ids.indexOf(desk.selected);
  select(ids[Math.max(0, Math.min(ids.length - 1, at < 0 ? 0 : at + step))]);
}

const ROLE_TEXT = { monitor: 'Listening', coach: 'Coaching (the rep hears you)', rep: 'You have the call: the AI has left' };

// Why joining `v` in `role` would be pointless or refused, if it would.
function refusal(v, role) {
  const legs = v.legs || [];
  if (role === 'coach' && !legs.some((l) => l.role === 'rep')) return 'Coaching is heard by a rep only, and no rep is in this call.';
  if (role === 'rep' && legs.length && !legs.some((l) => l.role === 'agent')) return 'The AI is not in this call: there is nothing to take over.';
  return null;
}

function join(role, takeOver = false) {
  if (!desk.selected || (desk.leg && desk.leg.state !== 'ended')) return;
  const v = desk.calls.get(desk.selected);
  const why = v && refusal(v, role);
  if (why) { notice(why); return; }
  const leg = new Leg({
    callId: desk.selected, role, token, takeOver, audio: $('remote'),
    onState: (state, why) => {
      $('media-state').textContent = state === 'ended' ? '' : state === 'connected' ? ROLE_TEXT[role] : 'Connecting…';
      $('media-state').dataset.state = state;
      if (state === 'ended') { if (desk.leg === leg) desk.leg = null; if (why) notice(why); }
      renderDetail();
    },
  });
  desk.leg = leg;
  notice('');
  leg.start().catch((e) => leg.leave(`Could not join: ${e.message}`));
  renderDetail();
}

// After a take-over the caller has nobody but this page: hanging up ends
// the call rather than leave the caller alone.
async function leave() {
  const leg = desk.leg;
  if (!leg) return;
  if (leg.takeOver) {
    try { await call(token, 'POST', `/api/v1/calls/${encodeURIComponent(leg.callId)}/hangup`); } catch (e) { notice(e.message); }
  }
  leg.leave();
}

async function whisper(event) {
  event.preventDefault();
  const text = $('whisper').value.trim();
  if (!text || !desk.selected) return;
  try {
    await call(token, 'POST', `/api/v1/calls/${encodeURIComponent(desk.selected)}/say`, { text });
    desk.whispers += 1;
    $('whisper').value = '';
    $('whisper-note').textContent = 'Whispered. The AI uses it on its next turn.';
  } catch (e) {
    $('whisper-note').textContent = e.message;
  }
}

// A session is in hand (a fresh login, or the tab's saved one): watch.
function enter(session, name) {
  token = session;
  desk.who = name;
  desk.state = 'watching';
  $('login-view').hidden = true;
  $('who').textContent = name;
  $('who').hidden = false;
  startViews();
  $('logout').hidden = false;
  $('keys-toggle').hidden = false;
  watch();
  pollApprovals();
}

// The login form: the name and the admin token become a session; only the
// session token is kept (sessionStorage: this tab only).
async function login(name, adminToken) {
  $('login-error').textContent = '';
  let made;
  try {
    made = await logIn(name, adminToken);
  } catch (e) {
    $('login-error').textContent = e.message;
    forgetToken();
    return;
  }
  $('token').value = '';
  saveToken(made.token, made.name);
  enter(made.token, made.name);
}

// A reload of the tab: the saved session, if it is still live.
async function resume(saved) {
  try {
    const session = await verify(saved);
    enter(saved, session.name || savedName() || '');
  } catch (e) {
    forgetToken();
    $('login-error').textContent = e.message;
  }
}

function logout(why) {
  if (desk.leg) desk.leg.leave();
  // Asked to leave (not refused): end the session on the server too.
  if (!why && token) logOut(token);
  desk.state = 'logged-out';
  token = null;
  desk.who = null;
  forgetToken();
  if (streamAbort) streamAbort.abort();
  clearTimeout(approvalTimer);
  desk.calls.clear();
  desk.selected = null;
  setStream('off');
  stopViews();
  $('who').hidden = true;
  $('logout').hidden = true;
  $('keys-toggle').hidden = true;
  $('login-view').hidden = false;
  $('token').value = '';
  $('login-error').textContent = why || '';
}

function onKey(event) {
  if (desk.state !== 'watching' || event.ctrlKey || event.metaKey || event.altKey) return;
  // The shortcuts act on the live view's selected call.
  if (currentView().name !== 'live') return;
  const typing = ['INPUT', 'TEXTAREA'].includes(document.activeElement && document.activeElement.tagName);
  if (typing) {
    if (event.key === 'Escape') document.activeElement.blur();
    return;
  }
  const actions = {
    ArrowDown: () => move(1), j: () => move(1), ArrowUp: () => move(-1), k: () => move(-1),
    l: () => join('monitor'), c: () => join('coach'), t: () => join('rep', true), h: leave,
    w: () => $('whisper').focus(), '?': () => $('keys-toggle').click(),
  };
  const action = actions[event.key.length === 1 ? event.key.toLowerCase() : event.key];
  if (!action) return;
  event.preventDefault();
  action();
}

$('login-form').addEventListener('submit', (event) => { event.preventDefault(); login($('name').value.trim(), $('token').value.trim()); });
$('logout').addEventListener('click', () => logout());
$('listen').addEventListener('click', () => join('monitor'));
$('coach').addEventListener('click', () => join('coach'));
$('take-over').addEventListener('click', () => join('rep', true));
$('leave').addEventListener('click', leave);
$('whisper-form').addEventListener('submit', whisper);
$('keys-toggle').addEventListener('click', () => {
  const open = $('keys').hidden;
  $('keys').hidden = !open;
  $('keys-toggle').setAttribute('aria-expanded', String(open));
});
document.addEventListener('keydown', onKey);
// Durations tick; talking and barge-in flags age out.
setInterval(() => { if (desk.state === 'watching') render(); }, 1000);

initAudit(() => token);
initAnalytics({ token: () => token });
initInbox();
initCallDetail();

const saved = savedToken();
if (saved) resume(saved);
