// The engine's API as the console calls it: REST with the operator's credential in a header, the
// WebSocket control API with it in the query (a browser cannot set headers on a WebSocket). The
// credential lives in sessionStorage only: it is gone when the tab closes, and no cookie is ever
// set or sent (fetch with credentials: 'omit'), so no other site's page can act with it.

const STORE = 'engine-console-credential';

export function credential() {
  try {
    const c = JSON.parse(sessionStorage.getItem(STORE));
    return c && c.secret ? c : null;
  } catch {
    return null;
  }
}

export function remember(kind, secret) {
  sessionStorage.setItem(STORE, JSON.stringify({ kind, secret }));
}

export function forget() {
  sessionStorage.removeItem(STORE);
}

function authHeaders() {
  const c = credential();
  if (!c) return {};
  return c.kind === 'token' ? { Authorization: 'Bearer ' + c.secret } : { 'X-API-Key': c.secret };
}

// ApiError is a refusal or failure as the API answered it (docs/protocol.md §6.2).
export class ApiError extends Error {
  constructor(method, path, status, body) {
    const code = body && typeof body === 'object' ? body.error : '';
    const msg = body && typeof body === 'object' ? body.message : String(body || '');
    super(`${status} ${code || 'error'}: ${msg}`);
    this.method = method;
    this.path = path;
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const notices = new Set();

// onNotice registers fn to hear about every failed call that its caller did not handle itself.
export function onNotice(fn) {
  notices.add(fn);
}

function notify(text) {
  for (const fn of notices) fn(text);
}

// call makes one REST call and answers the parsed body (with opts.full, {status, data}). A failure
// is thrown as an ApiError and, unless opts.quiet (the caller shows it where it belongs), shown in
// the page's notice.
export async function call(method, path, body, opts = {}) {
  const init = { method, headers: authHeaders(), credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    const err = new ApiError(method, path, 0, { error: 'network', message: 'the node did not answer: ' + e.message });
    if (!opts.quiet) notify(`${method} ${path}: ${err.message}`);
    throw err;
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const err = new ApiError(method, path, res.status, data);
    if (!opts.quiet) notify(`${method} ${path}: ${err.message}`);
    throw err;
  }
  return opts.full ? { status: res.status, data } : data;
}

export const get = (path, opts) => call('GET', path, undefined, opts);

// ALL asks a management list for its largest page (docs/protocol.md §9.1: lists are paged, 100
// by default, 10 000 at most); the console shows that many of a kind.
export const ALL = '?limit=10000';

export const enc = encodeURIComponent;

// Control is one WebSocket session of the control API (docs/protocol.md §7), shared by the pages:
// binds, execs and debug streams, re-established after the connection drops.
export class Control {
  constructor(onState) {
    this.onState = onState || (() => {});
    this.nextID = 1;
    this.pending = new Map(); // id -> {resolve, reject}
    this.streams = new Map(); // id -> {req, fn}: binds and debug streams to re-send on reconnect
    this.closed = false;
    this.retry = 500;
    this.open();
  }

  open() {
    if (this.closed) return;
    const c = credential(); // none on a node without authentication (--auth none)
    const query = c ? `?${c.kind === 'token' ? 'bearer_token' : 'api-key'}=${enc(c.secret)}` : '';
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/api/engine/v2/systems/control${query}`);
    this.ws = ws;
    ws.onopen = () => {
      this.retry = 500;
      this.onState('connected');
      for (const [id, s] of this.streams) ws.send(JSON.stringify({ ...s.req, id }));
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => {
      for (const p of this.pending.values()) p.reject(new Error('the WebSocket closed'));
      this.pending.clear();
      if (this.closed) return;
      // 4001: the credential that opened the session is no longer valid — the token expired, or
      // the key was removed or lowered (docs/protocol.md §7.8). Reconnecting with it would only be
      // refused or get less: the operator signs in again instead.
      if (ev.code === 4001) {
        this.closed = true;
        this.onState('signed-out', ev.reason);
        return;
      }
      this.onState('reconnecting');
      setTimeout(() => this.open(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  }

  receive(text) {
    if (text === 'pong') return;
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (m.type === 'notify' || m.type === 'debug') {
      const s = this.streams.get(m.id);
      if (s) s.fn(m);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.type === 'error') p.reject(Object.assign(new Error(`${m.code} error ${m.error_code}: ${m.msg}`), m));
    else p.resolve(m);
  }

  request(req, id = this.nextID++) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error('the WebSocket is not connected'));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...req, id }));
    });
  }

  // stream sends a bind or debug request and calls fn with each notify or debug reply; it answers
  // a function that ends the stream. While the socket is down the request waits for it. attached
  // (optional) runs once the engine has answered the request: a debug stream carries the lines
  // logged from then on, not those of a call made between the click and the answer.
  stream(req, fn, endCmd, attached) {
    const id = this.nextID++;
    this.streams.set(id, { req, fn });
    const sent = this.ws && this.ws.readyState === WebSocket.OPEN ? this.request(req, id) : Promise.resolve();
    sent.then(() => attached && attached(), (e) => {
      this.streams.delete(id);
      fn({ type: 'error', msg: e.message, code: e.code });
    });
    return () => {
      if (!this.streams.delete(id)) return;
      this.request({ ...req, cmd: endCmd }).catch(() => {});
    };
  }

  bind(sys, mod, index, name, fn) {
    return this.stream({ cmd: 'bind', sys, mod, index, name }, fn, 'unbind');
  }

  debug(moduleID, fn, attached) {
    return this.stream({ cmd: 'debug', mod: moduleID }, fn, 'ignore', attached);
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }
}
