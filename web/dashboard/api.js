// The desk's side of the admin API (docs/API.md): the supervisor's
// session (decision 0038: the admin token and a name exchanged for a
// session token, which alone is kept, in sessionStorage, and sent as a
// bearer token; no cookie), authorised JSON calls, and the process-wide
// event stream read with fetch() streaming, because EventSource cannot
// send the Authorization header.

const TOKEN_KEY = 'warmline.session.token';
const NAME_KEY = 'warmline.session.name';
// A server-sent event bigger than this is a broken stream, not an event:
// the buffer is dropped rather than grown without bound.
const MAX_EVENT_CHARS = 256 * 1024;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function savedToken() { return sessionStorage.getItem(TOKEN_KEY); }
export function savedName() { return sessionStorage.getItem(NAME_KEY); }
export function saveToken(token, name) {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (name) sessionStorage.setItem(NAME_KEY, name);
}
export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(NAME_KEY);
}

// An authorised request; the JSON answer, or an ApiError carrying the
// server's own `{"error": ...}` text.
export async function call(token, method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'The server cannot be reached.');
  }
  let answer = null;
  try { answer = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    const text = answer && typeof answer.error === 'string' ? answer.error : `The server answered ${response.status}.`;
    throw new ApiError(response.status, text);
  }
  return answer;
}

// The server's own words when the API is off (no WARMLINE_ADMIN_TOKEN),
// else `wrong` for a refused token.
function refusal(e, wrong) {
  if (e.status === 401 && /is off/.test(e.message)) return new ApiError(401, `The admin API ${e.message.replace(/^the admin API /, '')}.`);
  if (e.status === 401) return new ApiError(401, wrong);
  if (e.status === 429) return new ApiError(429, 'Too many wrong tokens lately: wait a little, then try again.');
  return e;
}

// Logs in: the admin token and the supervisor's name for a session
// ({token, name, session_id, expires_at}). The admin token is used for
// this one request and kept nowhere.
export async function logIn(name, adminToken) {
  try {
    return await call(adminToken, 'POST', '/api/v1/sessions', { name });
  } catch (e) {
    throw refusal(e, 'That token is not the admin token of this server.');
  }
}

// Whom a saved token stands for ({name, session_id, ...}), or an
// ApiError when its session has ended.
export async function verify(token) {
  try {
    return await call(token, 'GET', '/api/v1/sessions/current');
  } catch (e) {
    throw refusal(e, 'Your session has ended: log in again.');
  }
}

// Ends the session on the server (best effort: the page forgets the
// token either way).
export async function logOut(token) {
  try { await call(token, 'DELETE', '/api/v1/sessions/current'); } catch { /* ended already */ }
}

// Reads GET /api/v1/events until `signal` aborts or the stream ends;
// `onEvent` gets each JSON event. Resolves when the stream ends (the
// caller reconnects); rejects on a refused request.
export async function streamEvents(token, signal, onEvent) {
  const response = await fetch('/api/v1/events', {
    headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
    signal,
  });
  if (!response.ok || !response.body) throw new ApiError(response.status, `The event stream answered ${response.status}.`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (!data) continue; // a keep-alive comment
      let event;
      try { event = JSON.parse(data); } catch { continue; }
      onEvent(event);
    }
    if (buffer.length > MAX_EVENT_CHARS) buffer = '';
  }
}
