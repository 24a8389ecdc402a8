import { get, call, enc, ALL } from './api.js';
import { h, table, state, poll, details, when, short } from './dom.js';

// driverName shows a built driver by its path in its repository: a binary's name is
// <path with '/' as '+'>_<commit>_<os>-<arch> (or _dev_…, _dev-<sum>_… from engine dev), which
// crowds a table. The full name stays in the title, shown on hover. A model's binary keeps its
// file name.
function driverName(p) {
  const key = String(p || '').split('/').pop();
  const m = key.match(/^(.+)_[^_]+_[A-Za-z0-9]+-[A-Za-z0-9]+$/);
  return h('span', { title: p }, m ? m[1].replaceAll('+', '/') : key);
}

// Every node's driver processes, modules, repositories and builds (GET /status/cluster: this node
// asks the others over the cluster port, which a browser cannot reach), and the model's drivers;
// pull and recompile for admins (the API refuses anyone else anyway). Both act on the node that
// serves this console, so they are offered in its section only.
export function driversPage(view, ctx) {
  const out = h('div');
  const result = h('div', { id: 'action-result', role: 'status' });
  view.append(h('h1', null, 'Drivers & builds'), result, out);
  let last = '';
  const action = async (label, method, path) => {
    result.replaceChildren(h('p', { class: 'muted' }, label + '…'));
    try {
      const r = await call(method, path, undefined, { quiet: true });
      result.replaceChildren(h('p', null, label + ': done'), h('pre', null, JSON.stringify(r, null, 2)));
      last = '';
    } catch (e) {
      result.replaceChildren(h('p', { class: 'error' }, `${label}: refused: ${e.message}`));
    }
  };
  return poll(async () => {
    const [cl, drivers] = await Promise.all([get('/api/core/v1/status/cluster'), get('/api/engine/v2/drivers' + ALL)]);
    const key = JSON.stringify([cl, drivers]);
    if (key === last) return; // unchanged: keep what the operator opened
    last = key;
    const here = (cl.nodes || []).find((n) => n.this_node) || {};
    out.replaceChildren(
      ...(cl.nodes || []).map((n) => nodeSection(n, ctx, action)),
      h('h2', null, `Drivers in the model (${(drivers || []).length})`),
      table(['driver', 'name', 'module name', 'role', 'source', ctx.admin ? `recompile on ${here.node}` : ''], (drivers || []).map((d) => [d.id, d.name || '', d.module_name, d.role,
        d.binary ? 'binary ' + d.binary : `${d.repository_id}:${d.path}${d.commit ? '@' + short(d.commit) : ''}`,
        ctx.admin && d.repository_id ? h('button', { type: 'button', onclick: () => action(`recompile ${d.id}`, 'POST', `/api/engine/v2/drivers/${enc(d.id)}/recompile`) }, 'Recompile') : '']),
      { id: 'model-drivers' }));
  }, 3000);
}

function nodeSection(n, ctx, action) {
  const title = h('h2', null, `Node ${n.node} `, state(n.state, n.state === 'up'), n.this_node ? ' (this console\'s node)' : '');
  if (!n.status) return h('section', { class: 'node', 'data-node': n.node }, title, h('p', { class: 'error' }, n.error || 'no status'));
  const st = n.status;
  const pull = ctx.admin && n.this_node;
  const procs = (st.drivers || []).map((d) => [
    driverName(d.driver),
    state(d.state === 'crashloop' ? 'crash loop' : d.state, d.state === 'running'),
    d.pid ? String(d.pid) : '',
    String(d.restart_count),
    String(d.launch_count),
    String(d.last_exit_code),
    d.last_error ? h('span', { class: 'error' }, d.last_error) : '',
    String(d.module_instances),
    d.failed_build ? details(`newer build ${short(d.failed_build.commit)} failed: running the last good one`, d.failed_build.output || d.failed_build.error) : '',
  ]);
  const mods = (st.modules || []).map((m) => [m.id, driverName(m.driver), state(m.running ? 'running' : 'stopped', m.running), when(m.since),
    m.error ? h('span', { class: 'error' }, m.error) : '']);
  const repos = (st.repositories || []).map((r) => [r.id, r.uri, r.branch || '', state(r.state, r.state === 'ready'), short(r.head),
    when(r.last_fetch), r.last_error ? h('span', { class: 'error' }, r.last_error) : '', String(r.failures || 0),
    pull ? h('button', { type: 'button', onclick: () => action(`pull ${r.id}`, 'POST', `/api/engine/v2/repositories/${enc(r.id)}/pull`) }, 'Pull') : '']);
  const builds = (st.builds || []).map((b) => [driverName(b.name), b.repository_id, b.path, short(b.commit),
    state(b.state, b.state !== 'failed'), b.seconds ? b.seconds.toFixed(1) + ' s' : '',
    b.state === 'failed' ? details('build failed: compiler output', b.output || b.error, true) : (b.error || '')]);
  const head = (t, rows) => h('h3', null, `${t} (${rows.length})`);
  return h('section', { class: 'node card', 'data-node': n.node }, title,
    h('p', null, state(st.ready ? 'ready' : 'not ready', st.ready)),
    head('Driver processes', procs),
    table(['driver', 'state', 'pid', 'restarts', 'launches', 'last exit', 'last error', 'modules', 'build'], procs, { class: 'processes' }),
    head('Modules', mods),
    table(['module', 'driver', 'state', 'since', 'error'], mods, { class: 'modules' }),
    head('Repositories', repos),
    table(['repository', 'uri', 'branch', 'state', 'head', 'last fetch', 'last error', 'failures', ''], repos, { class: 'repositories' }),
    head('Builds', builds),
    table(['build', 'repository', 'path', 'commit', 'state', 'took', 'output'], builds, { class: 'builds' }));
}
