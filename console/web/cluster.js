import { get } from './api.js';
import { h, table, state, poll } from './dom.js';

// The cluster as this node sees it (GET /cluster), read every 2 s.
export function clusterPage(view) {
  const head = h('p', { id: 'cluster-summary' });
  const nodes = h('div');
  view.append(h('h1', null, 'Cluster'), head, nodes,
    h('p', { class: 'muted' }, 'Every node serves this console (sign in on each: the credential stays in its tab). Drivers & builds shows every node\'s driver processes.'));
  return poll(async () => {
    const c = await get('/api/engine/v2/cluster');
    head.replaceChildren('Leader: ', h('strong', null, c.leader || '(none: no majority)'), ' · epoch ', String(c.epoch),
      ' · cluster ', state(c.ready ? 'ready' : 'not ready', c.ready));
    nodes.replaceChildren(table(['node', 'state', 'ready', 'role', 'modules', 'client API'], (c.nodes || []).map((n) => [
      n.id,
      state(n.state, n.state === 'up'),
      state(n.ready ? 'ready' : 'not ready', n.ready),
      n.leader ? 'leader' : 'follower',
      String(n.modules),
      n.http_addr ? h('a', { href: `${location.protocol}//${n.http_addr}/console`, rel: 'noreferrer' }, n.http_addr) : '',
    ]), { id: 'nodes' }));
  }, 2000);
}
