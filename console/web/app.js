// The console's entry: sign-in, who the caller is, and hash routing between the pages.
import { credential, remember, forget, get, onNotice, Control } from './api.js';
import { h } from './dom.js';
import { clusterPage } from './cluster.js';
import { driversPage } from './drivers.js';
import { systemsPage } from './systems.js';
import { modelPage } from './model.js';

const pages = { cluster: clusterPage, drivers: driversPage, systems: systemsPage, model: modelPage };
const view = document.getElementById('view');
const notice = document.getElementById('notice');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const signout = document.getElementById('signout');

// ctx is what every page is given: the caller (GET /users/current) and the WebSocket session.
// The role only decides which buttons are offered; the API checks every request regardless.
const ctx = { user: null, support: false, admin: false, control: null };
let leave = null;

onNotice((text) => {
  notice.textContent = text;
  notice.hidden = false;
});

function signIn(message) {
  nav.hidden = true;
  signout.hidden = true;
  who.textContent = '';
  const kind = h('select', { id: 'cred-kind' }, h('option', { value: 'key' }, 'API key'), h('option', { value: 'token' }, 'Bearer token'));
  const secret = h('input', { id: 'cred-secret', type: 'password', autocomplete: 'off', required: true });
  const form = h('form', { class: 'signin', id: 'signin' },
    h('h1', null, 'Sign in'),
    h('p', { class: 'muted' }, 'With an API key or a bearer token, as the API takes them. It is kept in this tab only (sessionStorage) and sent in a header; the console sets no cookie.'),
    h('label', { for: 'cred-kind' }, 'Credential'), kind,
    h('label', { for: 'cred-secret' }, 'Value'), secret,
    message ? h('p', { class: 'error', id: 'signin-error' }, message) : '',
    h('p', null, h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, 'Sign in')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    remember(kind.value, secret.value.trim());
    start();
  });
  view.replaceChildren(form);
  secret.focus();
}

// start signs in with the stored credential. Without one it asks the node anyway: a node without
// authentication (--auth none, `make run`) answers, and then there is nothing to sign in with.
async function start() {
  const signedIn = !!credential();
  try {
    ctx.user = await get('/api/engine/v2/users/current', { quiet: true });
  } catch (e) {
    forget();
    return signIn(signedIn ? `Not signed in: ${e.message}` : '');
  }
  ctx.support = ctx.user.support;
  ctx.admin = ctx.user.sys_admin;
  who.textContent = `${ctx.user.id || '(no user id)'} · ${ctx.user.role}`;
  nav.hidden = false;
  signout.hidden = !signedIn;
  ctx.control = new Control((s, reason) => {
    if (s === 'signed-out') return signedOut(reason);
    who.textContent = `${ctx.user.id || '(no user id)'} · ${ctx.user.role}${s === 'connected' ? '' : ' · live updates ' + s}`;
  });
  if (!routing) window.addEventListener('hashchange', route);
  routing = true;
  route();
}

let routing = false; // the hashchange listener is added once, whatever the number of sign-ins

// signedOut ends the signed-in page when the engine closed the WebSocket because its credential
// is no longer valid: a token that expired ("credential expired"), a key the keys file no longer
// holds or holds with a lower role ("credential revoked", after the operator's reload).
function signedOut(reason) {
  if (leave) leave();
  leave = null;
  forget();
  ctx.control = null;
  signIn(reason === 'credential expired'
    ? 'Your bearer token has expired: sign in with a fresh one.'
    : 'Your credential was revoked or its role changed (the engine read its API keys again): sign in again.');
}

function route() {
  if (!ctx.control) return; // signed out: the sign-in form stays
  if (leave) leave();
  leave = null;
  notice.hidden = true;
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const name = pages[parts[0]] ? parts[0] : 'cluster';
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  view.replaceChildren();
  leave = pages[name](view, ctx, parts.slice(1)) || null;
}

signout.addEventListener('click', () => {
  forget();
  if (ctx.control) ctx.control.close();
  location.hash = '';
  location.reload();
});

start();
