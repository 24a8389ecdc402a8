import { get, call, enc, ALL } from './api.js';
import { h, table, state, poll } from './dom.js';
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
    stops.push(poll(() => watchPlacement(cards), 2000));
  })().catch(() => {});
  return () => stops.forEach((s) => s());
}

// watchPlacement tells each card whether its module is unplaced (docs/protocol.md §10): running
// in the model, yet no node has the labels its placement asks for, so none runs it. The reason
// is in the cluster document; a standalone node has none, and then a module read without a
// hosting node (core_node "") is all there is to go by.
async function watchPlacement(cards) {
  let reasons = null;
  try {
    const c = await get(`${C}/cluster`, { quiet: true });
    reasons = new Map((c.unplaced || []).map((u) => [u.id, u.reason]));
  } catch {
    // no cluster document: fall back on each module's core_node
  }
  for (const card of cards) card.placed(reasons ? reasons.get(card.id) || '' : card.fallback());
}

function moduleCard(ctx, sysID, e, stops) {
  const { m, d, slug } = e;
  const running = h('span', { id: `state-${slug}` });
  let on = m.running;
  // Why no node runs it, while it is unplaced; until the cluster document says, the module
  // read's core_node ("" when no node hosts it) does.
  const fallback = () => (m.core_node === '' ? 'no node may host it (its placement matches no node that is up)' : '');
  let unplaced = fallback();
  const fns = h('div');
  // show says what the module is. An unplaced module is running only in the model: its card says
  // why instead, and its Execute buttons are disabled (the engine would answer 503).
  const show = () => {
    const why = on && unplaced;
    running.replaceChildren(why ? state(`unplaced: ${why}`, false) : state(on ? 'running' : 'stopped', on));
    for (const b of fns.querySelectorAll('button[type=submit]')) {
      b.disabled = !!why;
      b.title = why ? `unplaced: ${why}` : '';
    }
  };
  const showRunning = (now) => {
    on = now;
    show();
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
      const fresh = await get(`${C}/modules/${enc(m.id)}`);
      showRunning(fresh.running);
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
    debugOut.append(`— debug stream of ${m.id} —\n`);
    endDebug = ctx.control.debug(m.id, (msg) => {
      debugOut.append(msg.type === 'error' ? `error: ${msg.msg}\n` : `[${msg.level}] ${msg.msg}\n`);
      while (debugOut.childNodes.length > 300) debugOut.firstChild.remove();
      debugOut.scrollTop = debugOut.scrollHeight;
    });
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

  get(`${C}/systems/${enc(sysID)}/functions/${enc(slug)}`, { quiet: true }).then((list) => {
    const names = Object.keys(list);
    if (!names.length) fns.append(h('p', { class: 'muted' }, 'No functions you may call.'));
    for (const name of names) {
      fns.append(functionForm(`fn-${slug}-${name}`, name, list[name], async (args) => {
        const r = await call('POST', `${C}/systems/${enc(sysID)}/${enc(slug)}/${enc(name)}`, args, { quiet: true, full: true });
        bindNew().catch(() => {});
        return r;
      }));
    }
    show();
  }).catch((err) => fns.append(h('p', { class: 'error' }, `functions: ${err.message}`)));

  const el = h('section', { class: 'card', id: `module-${slug}` },
    h('h2', null, slug, ' ', h('span', { class: 'muted' }, `${m.id} · ${d.name || d.module_name || m.driver_id}${m.notes ? ' · ' + m.notes : ''}`)),
    h('div', { class: 'row' }, running, controls, cardResult),
    h('h3', null, 'Status'), statusNote, h('div', { class: 'scroll' }, h('table', { id: `status-${slug}` }, statusRows)),
    debugOut,
    h('details', { open: true }, h('summary', null, 'Functions'), fns));
  const placed = (why) => {
    unplaced = why;
    show();
  };
  return { id: m.id, el, placed, fallback };
}
