// The call detail (issue 17, decision 0037), at `#call/{id}`: an ended
// call from GET /api/v1/calls/{id} as one timeline in call time (both
// sides' lines, the barge-ins that cut the AI off, the tool calls, the
// hand-over and the callbacks taken), and the call's recording.
//
// The recording is behind the admin token, which an <audio> element
// cannot send: the page fetches it with the header into a Blob and plays
// the Blob's URL, so seeking is local and exact however long the call
// (8 kHz stereo 16-bit: 1.9 MB a minute). Clicking a timeline entry
// seeks the player to it.

import { call, savedToken } from './api.js';
import { registerView } from './views.js';
import { duration, when, words } from './inbox.js';

// Visible to tests and to the browser console.
const state = (window.warmlineCall = {
  id: null,
  loaded: false,
  loadedAt: null,
  error: null,
  entries: [], // { at, kind } in timeline order
  recording: 'none', // none | loading | ready | missing | error
  recordingBytes: 0,
  duration: null, // the player's, seconds
  seeks: 0,
});

let root = null;
let audioUrl = null; // the Blob URL playing, revoked when replaced
let loading = 0; // the latest load; an older answer is dropped

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function $(id) { return root.querySelector(`#${id}`); }

function showError(text) {
  $('cd-error').textContent = text;
  $('cd-error').hidden = !text;
}

function build(section) {
  section.innerHTML = `
    <div class="call-view">
      <header class="panel call-head">
        <div class="panel-head">
          <a class="back" href="#inbox">← Inbox</a>
          <h2 id="cd-title">Call</h2>
          <span id="cd-outcome" class="badge"></span>
          <span id="cd-length" class="timer"></span>
        </div>
        <p id="cd-error" class="error" role="alert" hidden></p>
        <dl id="cd-facts" class="facts call-facts"></dl>
      </header>
      <div class="call-grid">
        <section class="panel" aria-labelledby="cd-timeline-title">
          <header class="panel-head">
            <h2 id="cd-timeline-title">Timeline</h2>
            <span class="hint-inline">click an entry to play the recording from there</span>
          </header>
          <ol id="cd-timeline" class="timeline"></ol>
          <p id="cd-no-lines" class="empty" hidden>Nothing was said on this call.</p>
        </section>
        <aside class="call-side">
          <section class="panel" aria-labelledby="cd-rec-title">
            <header class="panel-head"><h2 id="cd-rec-title">Recording</h2></header>
            <audio id="cd-audio" controls preload="auto"></audio>
            <p id="cd-rec-state" class="hint" aria-live="polite"></p>
          </section>
          <section class="panel" aria-labelledby="cd-esc-title">
            <header class="panel-head"><h2 id="cd-esc-title">Hand-over</h2></header>
            <div id="cd-escalations"></div>
          </section>
          <section class="panel" aria-labelledby="cd-cb-title">
            <header class="panel-head"><h2 id="cd-cb-title">Callbacks and messages</h2></header>
            <ul id="cd-callbacks" class="cd-callbacks"></ul>
          </section>
        </aside>
      </div>
    </div>`;
  const audio = section.querySelector('#cd-audio');
  audio.addEventListener('loadedmetadata', () => {
    state.duration = Number.isFinite(audio.duration) ? audio.duration : null;
    state.recording = 'ready';
    recordingNote();
  });
  audio.addEventListener('timeupdate', () => follow(audio.currentTime * 1000));
}

// Milliseconds from the call's start to an RFC 3339 time, or null.
function offsetOf(iso, startedMs) {
  const t = Date.parse(iso || '');
  return Number.isNaN(t) ? null : Math.max(0, t - startedMs);
}

// m:ss.s of call time.
function clock(ms) {
  const tenths = Math.floor((ms % 1000) / 100);
  return `${duration(ms)}.${tenths}`;
}

function compact(value) {
  if (value == null) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

// Every entry of the call, in call time. A kind's `order` breaks ties:
// a line before the barge-in that cut it, the request before its answer.
function entries(detail) {
  const started = Date.parse(detail.started_at);
  const out = [];
  for (const line of detail.transcript || []) {
    out.push({ at: line.start_ms, order: 0, kind: 'line', line });
    if (line.truncated && line.speaker === 'agent' && line.end_ms != null) {
      out.push({ at: line.end_ms, order: 1, kind: 'barge', line });
    }
  }
  for (const tool of detail.tool_calls || []) {
    out.push({ at: tool.offset_ms ?? offsetOf(tool.at, started) ?? 0, order: 2, kind: 'tool', tool });
  }
  for (const esc of detail.escalations || []) {
    // A record holding only callbacks asked for nobody.
    if (!esc.outcome) continue;
    const asked = offsetOf(esc.requested_at, started);
    if (asked != null) out.push({ at: asked, order: 3, kind: 'handoff', step: 'requested', esc });
    const rang = offsetOf(esc.ring_at, started);
    if (rang != null) out.push({ at: rang, order: 4, kind: 'handoff', step: 'ring', esc });
    const answered = offsetOf(esc.answered_at, started);
    if (answered != null) out.push({ at: answered, order: 5, kind: 'handoff', step: 'answered', esc });
    else if (asked != null) out.push({ at: asked, order: 6, kind: 'handoff', step: 'outcome', esc });
  }
  for (const cb of detail.callbacks || []) {
    out.push({ at: offsetOf(cb.created_at, started) ?? detail.duration_ms, order: 7, kind: 'callback', cb });
  }
  out.push({ at: detail.duration_ms, order: 9, kind: 'end', reason: detail.end_reason });
  out.sort((a, b) => a.at - b.at || a.order - b.order);
  return out;
}

function entryView(entry) {
  const li = el('li', 'entry');
  li.dataset.kind = entry.kind;
  li.dataset.at = String(entry.at);
  li.tabIndex = 0;
  li.title = 'Play from here';
  const time = el('time', 'at', clock(entry.at));
  const body = el('div', 'entry-body');
  switch (entry.kind) {
    case 'line': {
      const { line } = entry;
      li.dataset.who = line.speaker;
      body.append(el('b', 'who', line.speaker === 'agent' ? 'AI' : 'Caller'), document.createTextNode(line.text));
      if (line.truncated) {
        li.dataset.cut = 'true';
        body.append(document.createTextNode(' '), el('span', 'cut-note', '— cut off; this is what the caller heard'));
      }
      break;
    }
    case 'barge': {
      const heard = entry.line.end_ms - entry.line.start_ms;
      body.append(el('b', 'marker', 'Barge-in'), document.createTextNode(`The caller talked over the AI after ${(heard / 1000).toFixed(1)} s of its line.`));
      break;
    }
    case 'tool': {
      const { tool } = entry;
      const head = el('div', 'tool-head');
      head.append(el('b', 'marker', 'Tool'), el('code', 'tool-name', tool.name));
      const result = el('span', 'tool-result', words(tool.result));
      result.dataset.ok = String(tool.result === 'ok');
      head.append(result);
      if (tool.latency_ms != null) head.append(el('span', 'meta', `${tool.latency_ms} ms`));
      if (tool.approval) head.append(el('span', 'meta', `${words(tool.approval)}${tool.approved_by ? ` by ${tool.approved_by}` : ''}`));
      body.append(head, el('code', 'tool-args', compact(tool.arguments)));
      break;
    }
    case 'handoff': {
      const { esc, step } = entry;
      const text = {
        requested: `The AI asked for a person: ${esc.reason || 'no reason given'}${esc.urgency && esc.urgency !== 'normal' ? ` (${esc.urgency} urgency)` : ''}.`,
        ring: `A rep's phone rang${esc.rep ? ` (${esc.rep})` : ''}.`,
        answered: `${esc.rep || 'A rep'} answered and took the call.`,
        outcome: `Nobody took the call: ${words(esc.outcome)}.`,
      }[step];
      li.dataset.step = step;
      body.append(el('b', 'marker', 'Hand-over'), document.createTextNode(text));
      break;
    }
    case 'callback': {
      const { cb } = entry;
      const what = cb.kind === 'callback' ? `Callback to ${cb.number || 'the caller'}` : 'Message';
      body.append(el('b', 'marker', cb.kind === 'callback' ? 'Callback' : 'Message'), document.createTextNode(`${what}${cb.message ? `: ${cb.message}` : ''}`));
      break;
    }
    case 'end':
      body.append(el('b', 'marker', 'End'), document.createTextNode(`The call ended: ${words(entry.reason)}.`));
      break;
    default:
      return null;
  }
  li.append(time, body);
  const seek = () => seekTo(entry.at);
  li.addEventListener('click', seek);
  li.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); seek(); } });
  return li;
}

function seekTo(ms) {
  const audio = $('cd-audio');
  if (state.recording !== 'ready') return;
  audio.currentTime = ms / 1000;
  state.seeks += 1;
  audio.play().catch(() => { /* a browser that refuses to play still seeked */ });
  follow(ms);
}

// Marks the entry the recording is at.
function follow(ms) {
  let current = null;
  for (const li of $('cd-timeline').children) {
    if (Number(li.dataset.at) <= ms + 50) current = li;
    li.removeAttribute('aria-current');
  }
  if (current) current.setAttribute('aria-current', 'true');
}

function fact(dl, label, value) {
  if (value == null || value === '') return;
  dl.append(el('dt', null, label), el('dd', null, value));
}

function renderFacts(d) {
  $('cd-title').textContent = d.from ? `Call from ${d.from}` : 'Call';
  $('cd-outcome').textContent = words(d.outcome || d.state);
  $('cd-outcome').dataset.outcome = d.outcome || '';
  $('cd-length').textContent = d.duration_ms != null ? duration(d.duration_ms) : '';
  const facts = $('cd-facts');
  facts.replaceChildren();
  fact(facts, 'From', d.from);
  fact(facts, 'To', d.to);
  fact(facts, 'Agent', d.agent);
  fact(facts, 'Started', d.started_at ? `${when(d.started_at)} (${d.started_at})` : null);
  fact(facts, 'Ended', words(d.end_reason));
  fact(facts, 'Barge-ins', d.quality && d.quality.barge_ins != null ? String(d.quality.barge_ins) : null);
  fact(facts, 'Survey', d.csat != null ? `${d.csat} of 5` : null);
}

function renderSide(d) {
  const box = $('cd-escalations');
  const tried = (d.escalations || []).filter((e) => e.outcome);
  box.replaceChildren(...(tried.length ? tried.map((e) => {
    const dl = el('dl', 'facts');
    fact(dl, 'Reason', e.reason);
    fact(dl, 'Summary', e.summary);
    fact(dl, 'Next action', e.next_action);
    fact(dl, 'Rep', e.rep);
    fact(dl, 'Outcome', words(e.outcome));
    return dl;
  }) : [el('p', 'empty', 'The AI did not ask for a person.')]));
  const cbs = d.callbacks || [];
  $('cd-callbacks').replaceChildren(...(cbs.length ? cbs.map((cb) => {
    const li = el('li');
    li.append(el('b', null, cb.kind === 'callback' ? `Call back ${cb.number || ''}` : 'Message'));
    if (cb.message) li.append(document.createTextNode(` — ${cb.message}`));
    li.append(el('span', 'done-note', cb.done_at ? ` Done by ${cb.done_by} · ${when(cb.done_at)}` : ' To do'));
    return li;
  }) : [el('li', 'empty', 'None taken.')]));
}

function recordingNote() {
  const note = {
    none: 'This call was not recorded.',
    loading: 'Loading the recording…',
    ready: `${(state.recordingBytes / 1e6).toFixed(1)} MB · ${state.duration != null ? duration(state.duration * 1000) : ''} · caller left, what the caller heard right`,
    missing: 'No recording: the call was not recorded, or its recording expired.',
    error: 'The recording could not be loaded.',
  }[state.recording];
  $('cd-rec-state').textContent = note || '';
  $('cd-audio').hidden = state.recording !== 'ready' && state.recording !== 'loading';
}

function dropRecording() {
  const audio = $('cd-audio');
  audio.pause();
  audio.removeAttribute('src');
  audio.load();
  if (audioUrl) URL.revokeObjectURL(audioUrl);
  audioUrl = null;
  state.duration = null;
  state.recordingBytes = 0;
}

async function loadRecording(url, load) {
  state.recording = 'loading';
  recordingNote();
  try {
    const response = await fetch(url, { headers: { Authorization: `Bearer ${savedToken()}` } });
    if (load !== loading) return;
    if (response.status === 404) { state.recording = 'missing'; recordingNote(); return; }
    if (!response.ok) throw new Error(`answered ${response.status}`);
    const blob = await response.blob();
    if (load !== loading) return;
    state.recordingBytes = blob.size;
    audioUrl = URL.createObjectURL(blob);
    $('cd-audio').src = audioUrl;
  } catch (e) {
    if (load !== loading) return;
    state.recording = 'error';
    recordingNote();
  }
}

async function open(id) {
  const load = ++loading;
  Object.assign(state, { id, loaded: false, loadedAt: null, error: null, entries: [], recording: 'none' });
  dropRecording();
  showError('');
  $('cd-timeline').replaceChildren();
  if (!id) { showError('No call named: open one from the inbox.'); return; }
  let detail;
  try {
    detail = await call(savedToken(), 'GET', `/api/v1/calls/${encodeURIComponent(id)}`);
  } catch (e) {
    if (load !== loading) return;
    state.error = e.message;
    showError(e.message);
    return;
  }
  if (load !== loading) return;
  renderFacts(detail);
  if (detail.state !== 'ended') {
    // A live call has no record yet: the live view follows it.
    showError('This call is still live: follow it on the Live view. Its timeline and recording are here once it ends.');
    renderSide({});
    recordingNote();
    return;
  }
  const list = entries(detail);
  state.entries = list.map((e) => ({ at: e.at, kind: e.kind }));
  $('cd-timeline').replaceChildren(...list.map(entryView).filter(Boolean));
  $('cd-no-lines').hidden = (detail.transcript || []).length > 0;
  renderSide(detail);
  state.loaded = true;
  state.loadedAt = Date.now();
  if (detail.recording_url) loadRecording(detail.recording_url, load);
  else recordingNote();
}

/// Builds the view in its section and registers it with the switcher.
export function initCallDetail() {
  root = document.querySelector('#views-body > [data-view="call"]');
  if (!root) return;
  build(root);
  registerView('call', {
    onShow(id) { open(id); },
    onHide() {
      loading += 1; // an answer still on its way is dropped
      dropRecording();
    },
  });
}
