// The rep's softphone: log in with a token (kept in sessionStorage, sent as
// a bearer token; no cookie), set presence, answer rings with the
// screen-pop card, and after accepting talk: the microphone goes to the
// call as a WebRTC leg offered on the same socket. Signalling: /rep/ws
// (docs/WEBRTC.md). No build step.

import { renderRecord, renderTranscript } from './card_view.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'warmline.rep.token';

// Visible to tests and to the browser console.
const rep = (window.warmlineRep = {
  state: 'logged-out', // logged-out | idle | ringing | brief | bridged
  presence: 'offline',
  card: null,
  rings: 0,
  socket: null,
  peer: null, // the RTCPeerConnection of the call's audio
  microphone: null,
  audio: null, // null | 'offered' | 'connected'
});

let ringTimer = null;

function setNotice(text) { $('notice').textContent = text || ''; }

function send(message) {
  if (rep.socket && rep.socket.readyState === WebSocket.OPEN) {
    rep.socket.send(JSON.stringify(message));
  }
}

async function checkToken(token) {
  const response = await fetch('/rep/me', { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401) throw new Error('That token is not known here.');
  if (!response.ok) throw new Error(`The server answered ${response.status}.`);
  return response.json();
}

async function login(token) {
  $('login-error').textContent = '';
  try {
    await checkToken(token);
  } catch (e) {
    $('login-error').textContent = e.message;
    sessionStorage.removeItem(TOKEN_KEY);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/rep/ws`);
  rep.socket = socket;
  socket.addEventListener('open', () => send({ type: 'login', token }));
  socket.addEventListener('message', (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    onMessage(message);
  });
  socket.addEventListener('close', () => {
    if (rep.socket === socket) {
      rep.socket = null;
      stopAudio();
      if (rep.state !== 'logged-out') setNotice('Disconnected from the server. Reload to log in again.');
      showPresence('offline');
    }
  });
}

// The rep's audio: after `accept`, an offer on the same socket; the
// caller (and, during the brief, the AI) plays through #remote.
async function startAudio() {
  stopAudio();
  let microphone;
  try {
    microphone = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (e) {
    setNotice('The microphone is needed to talk to the caller: allow it and accept again.');
    return;
  }
  const pc = new RTCPeerConnection();
  rep.peer = pc;
  rep.microphone = microphone;
  microphone.getTracks().forEach((track) => pc.addTrack(track, microphone));
  pc.ontrack = (event) => {
    $('remote').srcObject = event.streams[0] || new MediaStream([event.track]);
  };
  pc.onicecandidate = (event) => {
    send({ type: 'candidate', candidate: event.candidate ? event.candidate.candidate : '' });
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'failed') setNotice('The call audio could not connect.');
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  send({ type: 'offer', sdp: offer.sdp });
  rep.audio = 'offered';
}

function stopAudio() {
  if (rep.peer) rep.peer.close();
  if (rep.microphone) for (const track of rep.microphone.getTracks()) track.stop();
  rep.peer = null;
  rep.microphone = null;
  rep.audio = null;
  $('remote').srcObject = null;
  $('mute').setAttribute('aria-pressed', 'false');
  $('mute').firstChild.textContent = 'Mute ';
}

function logout() {
  stopAudio();
  sessionStorage.removeItem(TOKEN_KEY);
  rep.state = 'logged-out';
  if (rep.socket) rep.socket.close();
  rep.socket = null;
  $('desk').hidden = true;
  $('who').hidden = true;
  $('login-view').hidden = false;
  $('token').value = '';
  $('token').focus();
}

function showPresence(presence, wrapUpMs) {
  rep.presence = presence;
  for (const input of document.querySelectorAll('input[name="presence"]')) {
    input.checked = input.value === presence;
  }
  const names = { available: 'Available', busy: 'Busy', away: 'Away', offline: 'Offline' };
  let text = names[presence] || presence;
  if (wrapUpMs > 0) text += ` · wrap-up, ${Math.ceil(wrapUpMs / 1000)} s`;
  $('presence-state').textContent = text;
}

function onMessage(message) {
  switch (message.type) {
    case 'welcome':
      rep.state = 'idle';
      $('login-view').hidden = true;
      $('desk').hidden = false;
      $('who').hidden = false;
      $('rep-name').textContent = message.status.name;
      showPresence(message.status.presence, message.status.wrap_up_ms);
      document.querySelector('input[name="presence"][value="available"]').focus();
      break;
    case 'presence':
      showPresence(message.status.presence, message.status.wrap_up_ms);
      break;
    case 'ring':
      rep.rings += 1;
      showCard(message.card, 'ringing');
      startRingTimer(message.ring_timeout_ms);
      break;
    case 'answer':
      if (rep.peer) rep.peer.setRemoteDescription({ type: 'answer', sdp: message.sdp });
      break;
    case 'state':
      if (rep.peer) rep.audio = message.state;
      break;
    case 'card':
      if (rep.card && rep.card.call_id === message.card.call_id) showCard(message.card, rep.state);
      break;
    case 'ring_cancelled':
      endCard(message.call_id, 'The caller is no longer waiting for you.');
      break;
    case 'call_state':
      clearInterval(ringTimer);
      $('ring-timer').textContent = '';
      rep.state = message.state;
      $('card').dataset.state = message.state;
      $('ring-actions').hidden = true;
      $('call-actions').hidden = false;
      $('skip-brief').hidden = message.state !== 'brief';
      // Handing back is for a caller the rep has talked to.
      for (const id of ['note', 'hand-back']) $(id).disabled = message.state !== 'bridged';
      $('call-state').textContent = message.state === 'brief'
        ? 'The AI is briefing you; the caller hears hold music.'
        : 'You are talking with the caller.';
      $('card-title').textContent = 'In a call';
      break;
    case 'call_ended': {
      const why = {
        rep_hung_up: 'Call ended.',
        handed_back: 'The caller is back with the AI.',
        call_over: 'The call is over.',
      };
      endCard(message.call_id, why[message.reason] || 'Call ended.');
      break;
    }
    case 'error':
      if (rep.state === 'logged-out') {
        $('login-error').textContent = message.message;
      } else {
        setNotice(message.message);
      }
      break;
    default:
      break;
  }
}

function text(id, value) { $(id).textContent = value || ''; }

function showCard(card, state) {
  rep.card = card;
  rep.state = state;
  const el = $('card');
  el.hidden = false;
  el.dataset.state = state;
  $('idle').hidden = true;
  if (state === 'ringing') {
    $('card-title').textContent = 'Incoming call';
    $('ring-actions').hidden = false;
    $('call-actions').hidden = true;
  }
  text('caller', card.caller);
  text('skill', card.skill);
  text('reason', card.reason);
  const urgency = $('urgency');
  urgency.textContent = card.urgency;
  urgency.dataset.urgency = card.urgency;
  text('summary', card.summary || 'Waiting for the AI summary…');
  text('next-action', card.next_action || '—');
  renderTranscript($('transcript'), card.transcript);
  const records = $('records');
  records.replaceChildren();
  for (const record of card.records || []) records.append(renderRecord(record));
  $('records-box').hidden = !(card.records && card.records.length);
  if (state === 'ringing') $('accept').focus();
}

function startRingTimer(ms) {
  clearInterval(ringTimer);
  const until = Date.now() + ms;
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    $('ring-timer').textContent = `${left} s`;
    if (left === 0 || rep.state !== 'ringing') { clearInterval(ringTimer); $('ring-timer').textContent = ''; }
  };
  tick();
  ringTimer = setInterval(tick, 500);
}

function endCard(callId, notice) {
  if (!rep.card || rep.card.call_id !== callId) return;
  clearInterval(ringTimer);
  stopAudio();
  rep.card = null;
  rep.state = 'idle';
  $('card').hidden = true;
  $('idle').hidden = false;
  setNotice(notice);
}

function answer(type, extra = {}) {
  if (!rep.card) return;
  send({ type, call_id: rep.card.call_id, ...extra });
  if (type === 'accept') startAudio();
}

function wire() {
  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    login($('token').value.trim());
  });
  $('logout').addEventListener('click', logout);
  for (const input of document.querySelectorAll('input[name="presence"]')) {
    input.addEventListener('change', () => send({ type: 'presence', presence: input.value }));
  }
  $('accept').addEventListener('click', () => answer('accept'));
  $('decline').addEventListener('click', () => answer('decline'));
  $('skip-brief').addEventListener('click', () => answer('skip_brief'));
  $('hangup').addEventListener('click', () => answer('hangup'));
  $('hand-back').addEventListener('click', () => {
    const note = $('note').value.trim();
    answer('hand_back', note ? { note } : {});
    $('note').value = '';
  });
  $('mute').addEventListener('click', () => {
    const muted = $('mute').getAttribute('aria-pressed') !== 'true';
    $('mute').setAttribute('aria-pressed', String(muted));
    $('mute').firstChild.textContent = muted ? 'Unmute ' : 'Mute ';
    if (rep.microphone) for (const track of rep.microphone.getAudioTracks()) track.enabled = !muted;
  });
  // Keyboard: digits set presence, letters answer; never while typing.
  document.addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type === 'text') return;
    if (event.target instanceof HTMLInputElement && event.target.type === 'password') return;
    if (event.ctrlKey || event.metaKey || event.altKey || rep.state === 'logged-out') return;
    const presence = { 1: 'available', 2: 'busy', 3: 'away', 4: 'offline' }[event.key];
    if (presence) { send({ type: 'presence', presence }); return; }
    const key = event.key.toLowerCase();
    if (rep.state === 'ringing' && key === 'a') answer('accept');
    else if (rep.state === 'ringing' && key === 'd') answer('decline');
    else if (rep.state === 'brief' && key === 's') answer('skip_brief');
    else if ((rep.state === 'brief' || rep.state === 'bridged') && key === 'h') answer('hangup');
    else if (rep.state === 'bridged' && key === 'b') $('hand-back').click();
    else if ((rep.state === 'brief' || rep.state === 'bridged') && key === 'm') $('mute').click();
  });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) login(saved); else $('token').focus();
}

wire();
