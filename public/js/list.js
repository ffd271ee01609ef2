import { clear, h } from './dom.js';
import { absoluteTime, mebibytes, meLabel, relativeTime, resourcesSummary, statusLabel } from './format.js';

/** The statuses in which a session runs a worker: its row shows what the worker's processes use. */
const RUNNING = new Set(['initializing', 'qr_ready', 'authenticated', 'ready', 'disconnected']);

/** A status pill: colour from data-status (styles.css), words for everyone. */
export function statusPill(status) {
  return h('span', { class: 'pill', dataset: { status } }, h('span', { class: 'pill-dot', 'aria-hidden': 'true' }), statusLabel(status));
}

export function setPill(pill, status) {
  pill.dataset.status = status;
  pill.lastChild.textContent = statusLabel(status);
}

/** A <time> that the page's clock keeps relative ("12 s ago"). */
export function relTime(iso) {
  const el = h('time', { datetime: iso, title: absoluteTime(iso), class: 'rel', text: relativeTime(iso) });
  return el;
}

export function setRelTime(el, iso) {
  el.setAttribute('datetime', iso);
  el.title = absoluteTime(iso);
  el.textContent = relativeTime(iso);
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/**
 * The session list: one row per session, created once and updated in place (so keyboard focus
 * survives live updates).
 */
export class SessionList {
  /**
   * @param {HTMLElement} root the <ul>
   * @param {{ onSelect: (id: string, byUser?: boolean) => void, onLogs: (id: string) => void }} handlers
   */
  constructor(root, handlers) {
    this.root = root;
    this.handlers = handlers;
    /** @type {Map<string, { li: HTMLElement, parts: Record<string, HTMLElement>, session: any }>} */
    this.rows = new Map();
    this.selected = null;
    this.filterText = '';
    /**
     * Cluster mode (js/cluster.js): each row shows the node that runs its session. null: the
     * server runs alone, and the rows show no node.
     * @type {{ on: boolean, nodeRef: (id: unknown) => HTMLElement } | null}
     */
    this.cluster = null;
  }

  /** Cluster mode began or ended, or a node's state changed: only the node of each row is redrawn. */
  setCluster(cluster) {
    this.cluster = cluster?.on ? cluster : null;
    for (const row of this.rows.values()) {
      this.#fillNode(row, row.session);
      this.#applyFilter(row);
    }
  }

  upsert(session) {
    let row = this.rows.get(session.sessionId);
    if (!row) {
      row = this.#create(session);
      this.rows.set(session.sessionId, row);
      const ids = [...this.rows.keys()].sort(collator.compare);
      const next = ids[ids.indexOf(session.sessionId) + 1];
      const before = next ? this.rows.get(next)?.li : null;
      this.root.insertBefore(row.li, before ?? null);
    }
    row.session = session;
    this.#fill(row, session);
    this.#applyFilter(row);
  }

  /**
   * Only the memory figure of a session's row (the periodic refresh of `resources`: the rest of
   * the row, and whatever has focus in it, stays as it is).
   */
  updateResources(session) {
    const row = this.rows.get(session.sessionId);
    if (!row) return;
    row.session = session;
    this.#fillResources(row, session);
  }

  remove(id) {
    const row = this.rows.get(id);
    if (!row) return;
    row.li.remove();
    this.rows.delete(id);
  }

  ids() {
    return [...this.rows.keys()];
  }

  select(id) {
    this.selected = id;
    for (const [rid, row] of this.rows) {
      const on = rid === id;
      row.li.classList.toggle('selected', on);
      if (on) row.parts.select.setAttribute('aria-current', 'true');
      else row.parts.select.removeAttribute('aria-current');
    }
  }

  filter(text) {
    this.filterText = text.trim().toLowerCase();
    for (const row of this.rows.values()) this.#applyFilter(row);
  }

  visibleCount() {
    return [...this.rows.values()].filter((r) => !r.li.hidden).length;
  }

  #applyFilter(row) {
    if (!this.filterText) {
      row.li.hidden = false;
      return;
    }
    const s = row.session;
    const hay = [s.sessionId, s.status, statusLabel(s.status), s.engine, s.me?.id, s.me?.name, s.error, this.cluster ? s.node : null].filter(Boolean).join(' ').toLowerCase();
    row.li.hidden = !hay.includes(this.filterText);
  }

  #create(session) {
    const id = session.sessionId;
    const select = h('button', { type: 'button', class: 'row-select', text: id });
    select.addEventListener('click', () => this.handlers.onSelect(id, true));
    const logs = h('button', { type: 'button', class: 'btn btn-sm btn-ghost row-logs', 'aria-label': `Logs of ${id}` }, 'Logs');
    logs.addEventListener('click', () => this.handlers.onLogs(id));
    const parts = {
      select,
      logs,
      pill: statusPill(session.status),
      engine: h('span', { class: 'tag' }),
      me: h('span', { class: 'row-me' }),
      activity: relTime(session.lastActivity),
      restarts: h('span', { class: 'row-restarts' }),
      errorText: h('span', { class: 'row-error-text' }),
      memSep: h('span', { class: 'sep', 'aria-hidden': 'true', text: '·' }),
      memValue: h('span'),
      nodeValue: h('span', { class: 'row-node-value' }),
    };
    // Cluster mode only (in the row only then): "node | node-b", the node that runs the session.
    parts.node = h('span', { class: 'row-node' }, h('span', { class: 'row-node-label', text: 'node' }), ' ', parts.nodeValue);
    // "312 MiB" alone says little to a screen reader: it hears "memory 312 MiB".
    parts.mem = h('span', { class: 'row-mem' }, h('span', { class: 'sr-only', text: 'memory ' }), parts.memValue);
    parts.error = h('p', { class: 'row-error' }, parts.errorText);
    const li = h(
      'li',
      { class: 'session-row', dataset: { sessionId: id } },
      h('div', { class: 'row-top' }, h('h3', { class: 'row-title' }, select), parts.pill),
      h(
        'div',
        { class: 'row-meta' },
        parts.engine,
        parts.me,
      ),
      h(
        'div',
        { class: 'row-foot' },
        h('span', { class: 'row-activity' }, 'active ', parts.activity),
        h('span', { class: 'sep', 'aria-hidden': 'true', text: '·' }),
        parts.restarts,
        parts.memSep,
        parts.mem,
        logs,
      ),
      parts.error,
    );
    // The whole card selects (mouse); the id button is the keyboard way.
    li.addEventListener('click', (e) => {
      if (e.target instanceof Element && e.target.closest('button, a, input')) return;
      this.handlers.onSelect(id, true);
    });
    return { li, parts, session };
  }

  #fill(row, s) {
    const { parts, li } = row;
    li.dataset.status = s.status;
    setPill(parts.pill, s.status);
    parts.engine.textContent = s.engine;
    parts.engine.dataset.engine = s.engine;
    const me = meLabel(s.me);
    parts.me.textContent = me ? me : 'not linked';
    parts.me.classList.toggle('muted', !me);
    setRelTime(parts.activity, s.lastActivity);
    parts.restarts.textContent = s.restarts === 1 ? '1 restart' : `${s.restarts} restarts`;
    parts.error.hidden = !s.error;
    parts.errorText.textContent = s.error ?? '';
    parts.error.title = s.error ?? '';
    this.#fillResources(row, s);
    this.#fillNode(row, s);
  }

  #fillNode(row, s) {
    const { parts } = row;
    if (!this.cluster) {
      parts.node.remove();
      return;
    }
    if (!parts.node.isConnected) parts.engine.after(parts.node);
    clear(parts.nodeValue);
    parts.nodeValue.append(this.cluster.nodeRef(s.node));
  }

  /** PSS of the session's processes while it runs ("—" before the first sample); nothing when stopped. */
  #fillResources(row, s) {
    const { parts } = row;
    const r = s.resources ?? null;
    const shown = r !== null || RUNNING.has(s.status);
    parts.mem.hidden = !shown;
    parts.memSep.hidden = !shown;
    parts.memValue.textContent = r ? mebibytes(r.pssBytes) : '—';
    parts.mem.title = resourcesSummary(r);
    parts.mem.dataset.sampled = String(r !== null);
  }
}
