import { get, call, enc, ALL } from './api.js';
import { h, table, state, poll, details, when, short } from './dom.js';

const base = (p) => String(p || '').split('/').pop();

// This node's driver processes, modules, repositories and builds (GET /api/core/v1/status), and
// the model's drivers; pull and recompile for admins (the API refuses anyone else anyway).
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
    const [st, drivers] = await Promise.all([get('/api/core/v1/status'), get('/api/engine/v2/drivers' + ALL)]);
    const key = JSON.stringify([st, drivers]);
    if (key === last) return; // unchanged: keep what the operator opened
    last = key;
    out.replaceChildren(...render(st, drivers, ctx, action));
  }, 3000);
}

function render(st, drivers, ctx, action) {
  const procs = (st.drivers || []).map((d) => [
    h('span', { title: d.driver }, base(d.driver)),
    state(d.state === 'crashloop' ? 'crash loop' : d.state, d.state === 'running'),
    d.pid ? String(d.pid) : '',
    String(d.restart_count),
    String(d.launch_count),
    String(d.last_exit_code),
    d.last_error ? h('span', { class: 'error' }, d.last_error) : '',
    String(d.module_instances),
    d.failed_build ? details(`newer build ${short(d.failed_build.commit)} failed: running the last good one`, d.failed_build.output || d.failed_build.error) : '',
  ]);
  const mods = (st.modules || []).map((m) => [m.id, base(m.driver), state(m.running ? 'running' : 'stopped', m.running), when(m.since),
    m.error ? h('span', { class: 'error' }, m.error) : '']);
  const repos = (st.repositories || []).map((r) => [r.id, r.uri, r.branch || '', state(r.state, r.state === 'ready'), short(r.head),
    when(r.last_fetch), r.last_error ? h('span', { class: 'error' }, r.last_error) : '', String(r.failures || 0),
    ctx.admin ? h('button', { type: 'button', onclick: () => action(`pull ${r.id}`, 'POST', `/api/engine/v2/repositories/${enc(r.id)}/pull`) }, 'Pull') : '']);
  const builds = (st.builds || []).map((b) => [b.name, b.repository_id, b.path, short(b.commit),
    state(b.state, b.state !== 'failed'), b.seconds ? b.seconds.toFixed(1) + ' s' : '',
    b.state === 'failed' ? details('build failed: compiler output', b.output || b.error, true) : (b.error || '')]);
  const model = (drivers || []).map((d) => [d.id, d.name || '', d.module_name, d.role,
    d.binary ? 'binary ' + d.binary : `${d.repository_id}:${d.path}${d.commit ? '@' + short(d.commit) : ''}`,
    ctx.admin && d.repository_id ? h('button', { type: 'button', onclick: () => action(`recompile ${d.id}`, 'POST', `/api/engine/v2/drivers/${enc(d.id)}/recompile`) }, 'Recompile') : '']);
  const head = (t, n) => h('h2', null, `${t} (${n})`);
  return [
    h('p', null, 'Node ', h('strong', null, st.node), ' · ', state(st.ready ? 'ready' : 'not ready', st.ready)),
    head('Driver processes on this node', procs.length),
    table(['driver', 'state', 'pid', 'restarts', 'launches', 'last exit', 'last error', 'modules', 'build'], procs, { id: 'processes' }),
    head('Modules on this node', mods.length),
    table(['module', 'driver', 'state', 'since', 'error'], mods, { id: 'node-modules' }),
    head('Repositories', repos.length),
    table(['repository', 'uri', 'branch', 'state', 'head', 'last fetch', 'last error', 'failures', ''], repos, { id: 'repositories' }),
    head('Builds on this node', builds.length),
    table(['build', 'repository', 'path', 'commit', 'state', 'took', 'output'], builds, { id: 'builds' }),
    head('Drivers in the model', model.length),
    table(['driver', 'name', 'module name', 'role', 'source', ''], model, { id: 'model-drivers' }),
  ];
}
