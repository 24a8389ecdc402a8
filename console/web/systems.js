import { get, call, enc, ALL } from './api.js';
import { h, table, state, poll, when } from './dom.js';
import { functionForm } from './form.js';

const C = '/api/engine/v2';

// #/systems lists the systems; #/systems/<id> shows one as a front-end would.
export function systemsPage(view, ctx, args) {
  if (args[0]) return systemPage(view, ctx, args[0]);
  const list = h('div');
  view.append(h('h1', null, 'Systems'), list);
  get(`${C}/systems${ALL}`).then((systems) => {
    list.replaceChildren(table(['system', 'name', 'modules'], systems.map((s) => [
      h('a', { href: `#/systems/${enc(s.id)}` }, s.id), s.name || '', String((s.modules || []).length)]), { id: 'systems' }));
  }).catch(() => {});
  return null;
}

// modulesInOrder names a system's modules as the engine does (docs/protocol.md §2.4): the
// custom name, else the driver's module name, numbered from 1 per name in the system's order.
function modulesInOrder(sys, modules, drivers) {
  const mod = new Map(modules.map((m) => [m.id, m]));
  const drv = new Map(drivers.map((d) => [d.id, d]));
  const seen = {};
  const out = [];
  for (const id of sys.modules || []) {
    const m = mod.get(id);
    const name = m && (m.custom_name || (drv.get(m.driver_id) || {}).module_name);
    if (!name) continue;
    seen[name] = (seen[name] || 0) + 1;
    out.push({ m, d: drv.get(m.driver_id) || {}, name, index: seen[name], slug: `${name}_${seen[name]}` });
  }
  return out;
}

function systemPage(view, ctx, id) {
  const body = h('div');
  view.append(h('p', null, h('a', { href: '#/systems' }, '← systems')), body);
  const stops = [];
  (async () => {
    const [sys, modules, drivers] = await Promise.all([get(`${C}/systems/${enc(id)}`), get(`${C}/modules${ALL}`), get(`${C}/drivers${ALL}`)]);
    body.append(h('h1', null, `${sys.name || sys.id} `, h('span', { class: 'muted' }, `(${sys.id})`)),
      sys.description ? h('p', null, sys.description) : '',
      h('p', { class: 'muted' }, 'Statuses update live over the WebSocket API (bind), as in any front-end.'));
    const cards = modulesInOrder(sys, modules, drivers).map((e) => moduleCard(ctx, sys.id, e, stops));
    body.append(...cards.map((c) => c.el));
    stops.push(poll(() => watchRuntime(sys.id, cards), 2000));
  })().catch(() => {});
  return () => stops.forEach((s) => s());
}

// watchRuntime tells each card what the engine says of its module now, in one poll of two
// reads: the system's module reads (docs/protocol.md §9.5: running, and why a running one does
// not run — its driver has not built, or its start is failing) and the cluster document (§10:
// why one is unplaced). A standalone node has no cluster document; then a module read without a
// hosting node (core_node "") is all there is to go by.
async function watchRuntime(sysID, cards) {
  const [cluster, reads] = await Promise.all([
    get(`${C}/cluster`, { quiet: true }).catch(() => null),
    get(`${C}/modules${ALL}&control_system_id=${enc(sysID)}`, { quiet: true }).catch(() => []),
  ]);
  const unplaced = cluster && new Map((cluster.unplaced || []).map((u) => [u.id, u.reason]));
  const byID = new Map(reads.map((m) => [m.id, m]));
  for (const card of cards) card.update(byID.get(card.id), unplaced);
}

// updateRefused begins the runtime_error of a module whose driver refused its settings update:
// it runs on with its previous settings (core/runtime.go).
const updateRefused = 'settings update refused; the module runs on with its previous settings: ';

// notRunning says why a module running in the model is not running on any node, '' when it is
// (or is stopped): unplaced, its driver not built, or its start failing. Its Execute buttons
// are disabled then (the engine would answer 503).
function notRunning(m, unplaced) {
  if (!m.running) return '';
  if (unplaced) return `unplaced: ${unplaced}`;
  if (m.driver_not_built) return 'not running: its driver has not built (see Drivers)';
  if (m.has_runtime_error && !(m.runtime_error || '').startsWith(updateRefused)) return `not running: start failing since ${when(m.error_timestamp)}${m.runtime_error ? `: ${m.runtime_error}` : ''}`;
  return '';
}

function moduleCard(ctx, sysID, e, stops) {
  const { d, slug } = e;
  let m = e.m; // the module as last read
  const running = h('span', { id: `state-${slug}` });
  // Why no node runs it, while it is unplaced; without the cluster document, the module read's
  // core_node ("" when no node hosts it) says so.
  const fallback = () => (m.core_node === '' ? 'no node may host it (its placement matches no node that is up)' : '');
  let unplaced = fallback();
  const fns = h('div');
  // show says what the module is: one running only in the model says why instead.
  const show = () => {
    const why = notRunning(m, unplaced);
    running.replaceChildren(why ? state(why, false) : state(m.running ? 'running' : 'stopped', m.running));
    for (const b of fns.querySelectorAll('button[type=submit]')) {
      b.disabled = !!why;
      b.title = why;
    }
  };
  show();
  const statusRows = h('tbody');
  const cells = new Map();
  const debugOut = h('pre', { class: 'debug', id: `debug-${slug}`, hidden: true });
  const controls = h('span', { class: 'row' });
  const cardResult = h('span', { role: 'status' });

  const setRunning = async (verb) => {
    cardResult.replaceChildren(h('span', { class: 'muted' }, `${verb}…`));
    try {
      await call('POST', `${C}/modules/${enc(m.id)}/${verb}`, undefined, { quiet: true });
      m = await get(`${C}/modules/${enc(m.id)}`);
      show();
      cardResult.replaceChildren(`${verb}: done`);
    } catch (err) {
      cardResult.replaceChildren(h('span', { class: 'error' }, `${verb} refused: ${err.message}`));
    }
  };
  if (ctx.support) {
    controls.append(
      h('button', { type: 'button', id: `start-${slug}`, onclick: () => setRunning('start') }, 'Start'),
      h('button', { type: 'button', id: `stop-${slug}`, onclick: () => setRunning('stop') }, 'Stop'),
      h('button', { type: 'button', id: `debug-btn-${slug}`, onclick: () => toggleDebug() }, 'Debug'));
  }
  let endDebug = null;
  const toggleDebug = () => {
    if (endDebug) {
      endDebug();
      endDebug = null;
      debugOut.append('— debug stream ended —\n');
      return;
    }
    debugOut.hidden = false;
    // Said once the engine has attached the stream (the driver forwards its lines from then on),
    // not at the click: a function run in between would log lines the stream never carries.
    let said = false;
    const attached = () => {
      if (!said) debugOut.append(`— debug stream of ${m.id} —\n`);
      said = true;
    };
    endDebug = ctx.control.debug(m.id, (msg) => {
      if (msg.type !== 'error') attached(); // a line may overtake the answer
      debugOut.append(msg.type === 'error' ? `error: ${msg.msg}\n` : `[${msg.level}] ${msg.msg}\n`);
      while (debugOut.childNodes.length > 300) debugOut.firstChild.remove();
      debugOut.scrollTop = debugOut.scrollHeight;
    }, attached);
  };
  stops.push(() => endDebug && endDebug());

  // bindNew binds every status the module has that is not bound yet; values then arrive only
  // by notify, so what the table shows is what the WebSocket delivered.
  const bindNew = async () => {
    const st = await get(`${C}/systems/${enc(sysID)}/${enc(slug)}`, { quiet: true });
    for (const name of Object.keys(st).sort()) {
      if (cells.has(name)) continue;
      const cell = h('td', { 'data-status': name }, '…');
      cells.set(name, cell);
      statusRows.append(h('tr', null, h('th', { scope: 'row' }, name), cell));
      stops.push(ctx.control.bind(sysID, e.name, e.index, name, (msg) => {
        cell.textContent = msg.type === 'error' ? `error: ${msg.msg}` : JSON.stringify(msg.value);
      }));
    }
  };
  const statusNote = h('p', { class: 'muted' });
  stops.push(poll(() => bindNew().catch((err) => {
    statusNote.textContent = err.status === 403 ? 'Protected module: its status needs support clearance.' : `status: ${err.message}`;
    throw err;
  }), 5000));

  // listFunctions fills the Functions part from the module's function listing. A module that
  // has not run yet has none (its driver has not built, or its start fails): listed again once
  // it runs.
  let listed = false;
  let listing = null;
  const listFunctions = () => {
    listing = listing || get(`${C}/systems/${enc(sysID)}/functions/${enc(slug)}`, { quiet: true }).then((list) => {
      listed = true;
      const names = Object.keys(list);
      fns.replaceChildren(...(names.length ? [] : [h('p', { class: 'muted' }, 'No functions you may call.')]));
      for (const name of names) {
        fns.append(functionForm(`fn-${slug}-${name}`, name, list[name], async (args) => {
          const r = await call('POST', `${C}/systems/${enc(sysID)}/${enc(slug)}/${enc(name)}`, args, { quiet: true, full: true });
          bindNew().catch(() => {});
          return r;
        }));
      }
      show();
    }).catch((err) => {
      listed = err.status !== 503 && err.status !== 0; // a refusal stays; not running yet, or no answer, is tried again
      fns.replaceChildren(h('p', { class: 'error' }, `functions: ${err.message}`));
    }).finally(() => {
      listing = null;
    });
  };
  listFunctions();

  const el = h('section', { class: 'card', id: `module-${slug}` },
    h('h2', null, slug, ' ', h('span', { class: 'muted' }, `${m.id} · ${d.name || d.module_name || m.driver_id}${m.notes ? ' · ' + m.notes : ''}`)),
    h('div', { class: 'row' }, running, controls, cardResult),
    h('h3', null, 'Status'), statusNote, h('div', { class: 'scroll' }, h('table', { id: `status-${slug}` }, statusRows)),
    debugOut,
    h('details', { open: true }, h('summary', null, 'Functions'), fns));
  // update shows the module as read now (read: undefined when it could not be read) and, from
  // the cluster document (null when there is none), why it is unplaced.
  const update = (read, unplacedReasons) => {
    if (read) m = read;
    unplaced = unplacedReasons ? unplacedReasons.get(m.id) || '' : fallback();
    show();
    if (!listed && m.running && !notRunning(m, unplaced)) listFunctions();
  };
  return { id: m.id, el, update };
}
