// The desk's views (decision 0030): one element with `data-view="NAME"`
// per view inside #views-body, and a tab bar (#views) of links to
// `#NAME`. The part of the hash after a slash is the view's argument
// (`#call/0193…` opens the call-detail view on one call), so every view
// has a URL a supervisor can bookmark or paste to a colleague.
//
// A view module registers hooks: `onShow(arg)` when it becomes the one
// shown (or its argument changes), `onHide()` when another replaces it.
// The live view is the default; an unknown name falls back to it.

const hooks = new Map(); // name -> { onShow, onHide }
const DEFAULT_VIEW = 'live';
let shown = null; // { name, arg }
let started = false;

/// The view named in the address bar, as `{ name, arg }`.
export function currentView() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, ''));
  const slash = raw.indexOf('/');
  const name = slash < 0 ? raw : raw.slice(0, slash);
  const arg = slash < 0 ? null : raw.slice(slash + 1);
  const known = name && document.querySelector(`#views-body > [data-view="${CSS.escape(name)}"]`);
  return known ? { name, arg } : { name: DEFAULT_VIEW, arg: null };
}

/// Registers a view's hooks. A view registered after the switcher started
/// and already shown gets its `onShow` at once.
export function registerView(name, { onShow, onHide } = {}) {
  hooks.set(name, { onShow, onHide });
  if (started && shown && shown.name === name && onShow) onShow(shown.arg);
}

/// Opens a view (through the address bar, so Back works).
export function showView(name, arg) {
  const hash = '#' + encodeURIComponent(name) + (arg == null ? '' : '/' + encodeURIComponent(arg));
  if (location.hash === hash) apply();
  else location.hash = hash;
}

function apply() {
  if (!started) return;
  const next = currentView();
  const same = shown && shown.name === next.name && shown.arg === next.arg;
  if (same) return;
  if (shown && shown.name !== next.name) {
    const was = hooks.get(shown.name);
    if (was && was.onHide) was.onHide();
  }
  for (const el of document.querySelectorAll('#views-body > [data-view]')) {
    el.hidden = el.dataset.view !== next.name;
  }
  for (const link of document.querySelectorAll('#views a[data-view]')) {
    if (link.dataset.view === next.name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  shown = next;
  const now = hooks.get(next.name);
  if (now && now.onShow) now.onShow(next.arg);
}

/// Shows the tab bar and the view in the address bar (after login).
export function startViews() {
  started = true;
  shown = null;
  document.getElementById('views').hidden = false;
  document.getElementById('views-body').hidden = false;
  apply();
}

/// Hides every view (at logout); the hooks stay registered.
export function stopViews() {
  if (shown) {
    const was = hooks.get(shown.name);
    if (was && was.onHide) was.onHide();
  }
  started = false;
  shown = null;
  document.getElementById('views').hidden = true;
  document.getElementById('views-body').hidden = true;
}

window.addEventListener('hashchange', apply);
