import { get } from './api.js';
import { h, table, state, poll, plural } from './dom.js';

// labels shows a node's --labels as key=value pairs (docs/protocol.md §10).
const labels = (l) => Object.entries(l || {}).map(([k, v]) => `${k}=${v}`).join(', ');

// role is the node's Raft role: a non-voter (--voter=false) is never a follower that could be
// elected, so calling it one would mislead an operator counting the quorum.
const role = (n) => (n.leader ? 'leader' : n.voter === false ? 'non-voter' : 'follower');

// The cluster as this node sees it (GET /cluster), read every 2 s.
export function clusterPage(view) {
  const head = h('p', { id: 'cluster-summary' });
  const nodes = h('div');
  const unplaced = h('div');
  view.append(h('h1', null, 'Cluster'), head, nodes, unplaced,
    h('p', { class: 'muted' }, 'Every node serves this console (sign in on each: the credential stays in its tab). Drivers & builds shows every node\'s driver processes.'));
  return poll(async () => {
    const c = await get('/api/engine/v2/cluster');
    const un = c.unplaced || [];
    // Readiness does not count unplaced modules (§10), so "ready" alone would hide them.
    head.replaceChildren('Leader: ', h('strong', null, c.leader || '(none: no majority)'), ' · epoch ', String(c.epoch),
      ' · cluster ', state(c.ready ? 'ready' : 'not ready', c.ready),
      ...(un.length ? [' · ', state(`${plural(un.length, 'module')} unplaced`, false)] : []));
    nodes.replaceChildren(table(['node', 'state', 'ready', 'role', 'labels', 'modules', 'client API'], (c.nodes || []).map((n) => [
      n.id,
      state(n.state, n.state === 'up'),
      state(n.ready ? 'ready' : 'not ready', n.ready),
      role(n),
      labels(n.labels),
      String(n.modules),
      n.http_addr ? h('a', { href: `${location.protocol}//${n.http_addr}/console`, rel: 'noreferrer' }, n.http_addr) : '',
    ]), { id: 'nodes' }));
    unplaced.replaceChildren(...(un.length ? [h('h2', null, `Unplaced modules (${un.length})`),
      h('p', { class: 'muted' }, 'Running in the model, but no up node has the labels their placement asks for: no node runs them and their executes answer 503.'),
      table(['module', 'placement', 'reason'], un.map((u) => [u.id, u.placement, h('span', { class: 'error' }, u.reason)]), { id: 'unplaced' })] : []));
  }, 2000);
}
