import { ApiError } from './api.js';
import { clear, h } from './dom.js';
import { absoluteTime } from './format.js';
import { relTime } from './list.js';

/**
 * Cluster mode (GET /api/v1/cluster): the Nodes panel under the server panel, one entry per node
 * with its load (the sessions it runs of its --max-sessions), live or down, draining, and the node
 * that answered; and, for the session list and page, which node runs each session. A server that
 * runs alone answers 404: the panel stays hidden and nothing else on the page changes.
 */

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** 'live', 'draining' (live, handing its sessions over) or 'down' (not seen within the lease ttl). */
export function nodeState(node) {
  if (!node.live) return 'down';
  return node.draining ? 'draining' : 'live';
}

const STATE_NOTE = {
  down: 'which has not renewed its leases: another node takes its sessions over',
  draining: 'which is handing its sessions over (it stops) and takes no new one',
};

export class ClusterView {
  /**
   * @param {{
   *   panel: HTMLElement, list: HTMLElement, count: HTMLElement,
   *   fetch: () => Promise<any>,
   *   onChange: (view: ClusterView) => void,
   * }} ctx `fetch`: GET /api/v1/cluster; `onChange`: cluster mode, or a node's state, changed (the
   *   session list and page show the node of each session)
   */
  constructor(ctx) {
    this.ctx = ctx;
    /**
     * The last answer: undefined before the first, null when the server runs alone.
     * @type {{ node: string, nodes: any[] } | null | undefined}
     */
    this.cluster = undefined;
    this.key = '';
  }

  /** The server runs as a node of a cluster (as far as its last answer said). */
  get on() {
    return Boolean(this.cluster);
  }

  /**
   * Asks the server for its nodes. A server that said it runs alone is not asked again unless
   * `always` (a new connection: it may have been restarted with --cluster). Any failure but a 404
   * leaves what is shown as it is: the next turn asks again.
   */
  async refresh({ always = false } = {}) {
    if (this.cluster === null && !always) return;
    let data;
    try {
      data = await this.ctx.fetch();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) this.#set(null);
      return;
    }
    if (!data || typeof data !== 'object' || !Array.isArray(data.nodes)) return;
    this.#set({ node: String(data.node ?? ''), nodes: data.nodes.filter((n) => n && typeof n.id === 'string') });
  }

  /** The node with this id in the last answer (undefined: none such, or not in a cluster). */
  node(id) {
    return this.cluster?.nodes.find((n) => n.id === id);
  }

  /**
   * Which node runs a session (its `node`), as text with its state: "node-b (down)"; "none" when
   * no node does. The title says more.
   */
  nodeRef(id) {
    const known = typeof id === 'string' && id !== '' ? id : null;
    const node = known ? this.node(known) : undefined;
    const state = known ? (node ? nodeState(node) : 'unknown') : 'none';
    let title = 'No node runs this session now';
    if (known) {
      title = `Run by node ${known}${node ? ` (${String(node.url)})` : ''}`;
      if (STATE_NOTE[state]) title += `, ${STATE_NOTE[state]}`;
    }
    const suffix = state === 'down' || state === 'draining' ? ` (${state})` : '';
    return h('span', { class: 'node-ref', dataset: { state }, title }, known ?? 'none', suffix);
  }

  #set(cluster) {
    this.cluster = cluster;
    this.#render();
    const key = cluster ? JSON.stringify(cluster.nodes.map((n) => [n.id, nodeState(n), n.url])) : 'alone';
    if (key === this.key) return;
    this.key = key;
    this.ctx.onChange(this);
  }

  #render() {
    const { panel, list, count } = this.ctx;
    const cluster = this.cluster;
    panel.hidden = !cluster;
    clear(list);
    count.textContent = '';
    if (!cluster) return;
    const nodes = [...cluster.nodes].sort((a, b) => collator.compare(a.id, b.id));
    count.textContent = String(nodes.length);
    const live = nodes.filter((n) => n.live).length;
    count.title = `${String(nodes.length)} nodes joined, ${String(live)} live`;
    for (const node of nodes) list.append(this.#item(node, node.id === cluster.node));
    if (!nodes.length) list.append(h('li', { class: 'muted small', text: 'no node has joined yet' }));
  }

  #item(node, answered) {
    const state = nodeState(node);
    const max = Math.max(0, Math.floor(Number(node.maxSessions) || 0));
    const used = Math.max(0, Math.floor(Number(node.sessions) || 0));
    const top = Math.max(1, max);
    // Green below 70 % of its slots, amber to 90 %, red above (optimum at 0).
    const meter = h('meter', {
      class: 'node-meter',
      min: 0,
      max: top,
      value: Math.min(used, top),
      low: top * 0.7,
      high: top * 0.9,
      optimum: 0,
      'aria-hidden': 'true',
    });
    const stateText = h('span', { class: 'node-state', text: state === 'down' ? 'down' : 'live' });
    const seen = state === 'down' ? h('span', { class: 'node-seen muted' }, 'last seen ', relTime(String(node.lastSeen))) : null;
    return h(
      'li',
      {
        class: 'node',
        dataset: { nodeId: node.id, state, answered: String(answered) },
        title: `Node ${node.id} at ${String(node.url)}; last renewed its leases ${absoluteTime(String(node.lastSeen))}`,
      },
      h('span', { class: 'node-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'node-id', text: node.id }),
      stateText,
      seen,
      state === 'draining' ? h('span', { class: 'tag node-draining', text: 'draining', title: STATE_NOTE.draining }) : null,
      meter,
      h('span', { class: 'node-load' }, h('strong', { text: `${String(used)} / ${String(max)}` }), ' sessions'),
      answered
        ? h('span', {
            class: 'tag node-answered',
            text: 'answered',
            title: 'This node answered the page (behind a load balancer, each request may reach another node)',
          })
        : null,
    );
  }
}
