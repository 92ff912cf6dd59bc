// The card page, /rep/calls/{id} (decision 0040): the screen pop of one
// call for the rep it was offered to, the URL a SIP rep's INVITE carries
// in X-Warmline-Card for a desktop beside the phone. It reads
// GET /rep/calls/{id}/card with the rep's token (the softphone's, from
// this tab's sessionStorage, or typed here), and reads it again every
// 2 s until the call is over for the reps. No build step.

import { renderRecord, renderTranscript } from './card_view.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'warmline.rep.token'; // the softphone's key: one login serves both
const REFRESH_MS = 2_000;
const STATES = { ringing: 'Ringing', brief: 'AI briefing', bridged: 'In a call', ended: 'Ended' };

const callId = decodeURIComponent(location.pathname.replace(/^\/rep\/calls\//, '').replace(/\/$/, ''));

// Visible to tests and to the browser console.
const page = (window.warmlineCard = { callId, state: 'loading', card: null, reads: 0 });

let timer = null;

function text(id, value) { $(id).textContent = value || ''; }

function askForToken(why) {
  clearTimeout(timer);
  page.state = 'login';
  $('card').hidden = true;
  $('login-view').hidden = false;
  $('login-error').textContent = why || '';
  $('token').focus();
}

function show(shelved) {
  const card = shelved.card;
  page.card = card;
  page.state = shelved.state;
  $('login-view').hidden = true;
  const el = $('card');
  el.hidden = false;
  el.dataset.state = shelved.state;
  text('card-title', card.caller ? `Call from ${card.caller}` : 'Call');
  const badge = $('state');
  badge.textContent = STATES[shelved.state] || shelved.state;
  badge.dataset.state = shelved.state;
  const urgency = $('urgency');
  urgency.textContent = card.urgency;
  urgency.dataset.urgency = card.urgency;
  text('caller', card.caller);
  text('skill', card.skill);
  text('reason', card.reason);
  text('call-id', card.call_id);
  text('summary', card.summary || 'Waiting for the AI summary…');
  text('next-action', card.next_action || '—');
  renderTranscript($('transcript'), card.transcript);
  const records = $('records');
  records.replaceChildren();
  for (const record of card.records || []) records.append(renderRecord(record));
  $('records-box').hidden = !(card.records && card.records.length);
  document.title = `${card.caller || 'Call'} · ${STATES[shelved.state] || ''} · warmline`;
}

async function read() {
  clearTimeout(timer);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) { askForToken(); return; }
  let answer;
  try {
    answer = await fetch(`/rep/calls/${encodeURIComponent(callId)}/card`, {
      headers: { Authorization: `Bearer ${token}` },
      cache: 'no-store',
    });
  } catch (e) {
    $('notice').textContent = 'The server cannot be reached; trying again.';
    timer = setTimeout(read, REFRESH_MS);
    return;
  }
  page.reads += 1;
  if (answer.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken('That token is not a rep\'s.');
    return;
  }
  if (answer.status === 429) {
    const wait = Number(answer.headers.get('retry-after')) || 5;
    askForToken(`Too many wrong tokens: try again in ${wait} s.`);
    return;
  }
  if (answer.status === 404) {
    page.state = 'unknown';
    $('card').hidden = true;
    $('login-view').hidden = true;
    $('notice').textContent = 'No card: this call was not offered to you, or it is too old to show.';
    return;
  }
  if (!answer.ok) {
    $('notice').textContent = `The server answered ${answer.status}; trying again.`;
    timer = setTimeout(read, REFRESH_MS);
    return;
  }
  $('notice').textContent = '';
  show(await answer.json());
  if (page.state !== 'ended') timer = setTimeout(read, REFRESH_MS);
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  read();
});

read();
