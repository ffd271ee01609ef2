import { clear, h, safeImageUrl } from './dom.js';
import { absoluteTime, clockTime, meLabel, proxySummary, statusLabel } from './format.js';
import { relTime, setPill, setRelTime, statusPill } from './list.js';
import { PairingPanel } from './pairing.js';
import { card, field, resultLine, setResult } from './parts.js';
import { QueueCard } from './queue.js';
import { ResourcesCard } from './resources.js';
import { SendForm } from './send-form.js';

const MAX_LOG_LINES = 1000;
const MAX_MESSAGES = 200;

/** Which lifecycle actions make sense in which status (the API would refuse or no-op the others). */
const ACTIONS = [
  { action: 'start', label: 'Start', enabled: (s) => ['stopped', 'failed', 'disconnected'].includes(s.status) },
  { action: 'stop', label: 'Stop', enabled: (s) => s.status !== 'stopped' },
  { action: 'restart', label: 'Restart', enabled: () => true },
  // Logout works in any state; offered wherever there may be a login to remove.
  { action: 'logout', label: 'Logout', enabled: (s) => s.me !== null || ['ready', 'authenticated', 'disconnected'].includes(s.status) },
  { action: 'delete', label: 'Delete', enabled: () => true, danger: true },
];

/**
 * The selected session: actions, QR, forms, messages and its live log. Built once per selection,
 * then updated in place.
 */
export class DetailView {
  /**
   * @param {HTMLElement} root
   * @param {{
   *   act: (id: string, action: string) => Promise<unknown>,
   *   scan: (id: string, code?: string) => Promise<unknown>,
   *   send: (id: string, path: string, body: Record<string, unknown>, queued: boolean) => Promise<any>,
   *   requestCode: (id: string, phoneNumber: string) => Promise<{ code: string }>,
   *   listQueue: (id: string) => Promise<any[]>,
   *   cancelJob: (id: string, jobId: string) => Promise<unknown>,
   *   notifyError: (message: string) => void,
   *   incoming: (id: string, from: string, content: string) => Promise<any>,
   *   testProxy: (id: string) => Promise<any>,
   * }} ctx `scan` with a code: the sandbox's phone enters that pairing code
   */
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.id = null;
    /** @type {Record<string, any>} */
    this.el = {};
    this.session = null;
    this.qr = null;
    /** @type {{ code: string, phoneNumber: string } | null} */
    this.pairing = null;
    this.follow = true;
    this.logKeys = new Set();
    /**
     * Cluster mode (js/cluster.js): the Session card says which node runs the session. null: the
     * server runs alone.
     * @type {{ on: boolean, nodeRef: (id: unknown) => HTMLElement } | null}
     */
    this.cluster = null;
    this.showEmpty();
  }

  /** Cluster mode began or ended, or a node's state changed: only the Session card is redrawn. */
  setCluster(cluster) {
    this.cluster = cluster?.on ? cluster : null;
    if (this.session && this.el.facts) this.#renderFacts(this.session);
  }

  showEmpty(text = 'Pick a session on the left to see its QR code, actions, messages and logs.') {
    this.id = null;
    this.session = null;
    this.el = {};
    clear(this.root);
    this.root.append(h('div', { class: 'detail-empty' }, h('p', { class: 'empty-title', text: 'No session selected' }), h('p', { text })));
  }

  /** Build the view for a session. */
  show(session) {
    this.id = session.sessionId;
    this.session = session;
    this.qr = null;
    this.pairing = null;
    this.follow = true;
    this.logKeys = new Set();
    clear(this.root);
    const id = session.sessionId;
    const el = (this.el = {});

    // ---- header: id, status, actions ----
    el.pill = statusPill(session.status);
    el.engine = h('span', { class: 'tag', text: session.engine, dataset: { engine: session.engine } });
    el.actions = {};
    const toolbar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': `Actions on ${id}` });
    for (const a of ACTIONS) {
      const btn = h('button', { type: 'button', class: `btn btn-sm${a.danger ? ' btn-danger-ghost' : ''}`, dataset: { action: a.action }, text: a.label });
      btn.addEventListener('click', () => void this.#run(btn, () => this.ctx.act(id, a.action)));
      el.actions[a.action] = btn;
      toolbar.append(btn);
    }
    const header = h(
      'header',
      { class: 'detail-head' },
      h('div', { class: 'detail-title' }, h('h2', { id: 'detail-title', text: id }), el.pill, el.engine),
      toolbar,
    );

    // ---- QR ----
    el.qrImg = h('img', { class: 'qr-img', width: 264, height: 264, alt: '' });
    el.qrWait = h('div', { class: 'qr-wait' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { class: 'qr-wait-text' }));
    el.qrMeta = h('p', { class: 'qr-meta muted' });
    el.qrFigure = h(
      'figure',
      { class: 'qr-figure' },
      el.qrImg,
      h('figcaption', {}, 'On your phone: WhatsApp → Settings → Linked devices → Link a device, then point the camera at this code.'),
    );
    el.qrCard = card('Link a phone', el.qrFigure, el.qrWait, el.qrMeta);
    el.qrCard.classList.add('qr-card');
    if (session.engine === 'sandbox') {
      el.scan = h('button', { type: 'button', class: 'btn btn-primary', dataset: { action: 'scan' }, text: 'Simulate scan' });
      el.scan.addEventListener('click', () => void this.#run(el.scan, () => this.ctx.scan(id)));
      el.qrCard.append(h('div', { class: 'qr-actions' }, el.scan, h('span', { class: 'hint', text: 'Sandbox: the simulated phone scans this code.' })));
    }

    // ---- error ----
    el.errorText = h('p', { class: 'callout-text' });
    el.error = h('div', { class: 'callout callout-error' }, h('strong', { text: 'Error' }), el.errorText);

    // ---- facts ----
    el.facts = h('dl', { class: 'facts' });
    const facts = card('Session', el.facts);
    facts.classList.add('facts-card');

    // ---- what its processes use (refreshed every 10 s: updateResources) ----
    el.resources = new ResourcesCard();

    // ---- link with a phone number (shown beside the QR while it waits) ----
    el.pair = new PairingPanel({
      request: (phoneNumber) => this.ctx.requestCode(id, phoneNumber),
      simulate: session.engine === 'sandbox' ? (code) => this.ctx.scan(id, code) : undefined,
    });

    // ---- send a message: every kind, now or queued ----
    el.send = new SendForm({ send: (path, body, queued) => this.ctx.send(id, path, body, queued) });
    el.sendCard = card('Send a message', el.send.el);
    el.sendCard.classList.add('send-card');

    // ---- the send queue ----
    el.queue = new QueueCard({
      list: () => this.ctx.listQueue(id),
      cancel: (jobId) => this.ctx.cancelJob(id, jobId),
      onCancelError: (message) => this.ctx.notifyError(`Cancel on ${id} failed: ${message}`),
      onRender: () => this.#renderQueueVisibility(),
    });

    // ---- sandbox: a contact writes in ----
    if (session.engine === 'sandbox') {
      const from = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', value: '+1 555 0100' });
      const text = h('textarea', { rows: 2, placeholder: 'Hi there' });
      const inBtn = h('button', { type: 'submit', class: 'btn', text: 'Simulate incoming message' });
      const inResult = resultLine();
      const inForm = h('form', { class: 'stack', novalidate: true }, field('From', from), field('Incoming text', text), h('div', { class: 'form-row' }, inBtn), inResult);
      inForm.addEventListener('submit', (e) => {
        e.preventDefault();
        void this.#run(inBtn, async () => {
          try {
            const msg = await this.ctx.incoming(id, from.value, text.value);
            setResult(inResult, 'ok', `Received from ${msg.from}`);
          } catch (err) {
            setResult(inResult, 'error', err instanceof Error ? err.message : String(err));
          }
        });
      });
      el.sandboxCard = card('Sandbox phone', h('p', { class: 'hint card-intro', text: 'A contact writes to this session; it arrives as a message event.' }), inForm);
      el.sandboxCard.classList.add('sandbox-card');
    }

    // ---- proxy ----
    el.proxyText = h('p', { class: 'proxy-text' });
    el.proxyBtn = h('button', { type: 'button', class: 'btn btn-sm', text: 'Test proxy' });
    el.proxyResult = resultLine();
    el.proxyBtn.addEventListener('click', () =>
      void this.#run(el.proxyBtn, async () => {
        setResult(el.proxyResult, 'pending', 'Testing through the proxy…');
        try {
          const r = await this.ctx.testProxy(id);
          const how = r.ok
            ? `Reachable in ${r.latencyMs} ms${r.statusCode ? ` (HTTP ${r.statusCode})` : ''}`
            : `Failed after ${r.latencyMs} ms: ${r.error ?? 'unknown error'}`;
          setResult(el.proxyResult, r.ok ? 'ok' : 'error', how);
        } catch (err) {
          setResult(el.proxyResult, 'error', err instanceof Error ? err.message : String(err));
        }
      }),
    );
    el.proxyCard = card('Proxy', h('div', { class: 'form-row' }, el.proxyText, el.proxyBtn), el.proxyResult);
    el.proxyCard.classList.add('proxy-card');

    // ---- config ----
    el.config = h('pre', { class: 'config' });
    const config = h('details', { class: 'card config-card' }, h('summary', { text: 'Config' }), el.config);

    // ---- messages ----
    el.messages = h('ol', { class: 'messages', 'aria-label': `Messages received by ${id}` });
    el.noMessages = h('p', { class: 'muted small', text: 'No message received since this page opened.' });
    const messages = card('Messages', el.noMessages, el.messages);
    messages.classList.add('messages-card');

    // ---- logs ----
    el.logList = h('ol', { class: 'log-list', tabindex: '0', 'aria-label': `Log of ${id}`, dataset: { min: 'debug' } });
    el.logList.addEventListener('scroll', () => {
      const atBottom = el.logList.scrollHeight - el.logList.scrollTop - el.logList.clientHeight < 24;
      if (atBottom !== this.follow) {
        this.follow = atBottom;
        el.followBox.checked = atBottom;
      }
    });
    el.followBox = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
    el.followBox.addEventListener('change', () => {
      this.follow = el.followBox.checked;
      if (this.follow) this.#scrollLogs();
    });
    const level = h(
      'select',
      { id: 'log-level' },
      h('option', { value: 'debug', text: 'All levels' }),
      h('option', { value: 'info', text: 'Info and above' }),
      h('option', { value: 'warn', text: 'Warnings and errors' }),
      h('option', { value: 'error', text: 'Errors only' }),
    );
    level.addEventListener('change', () => {
      el.logList.dataset.min = level.value;
      this.#scrollLogs();
    });
    el.logEmpty = h('p', { class: 'muted small log-empty', text: 'Loading log…' });
    el.logsCard = h(
      'section',
      { class: 'card logs-card', id: 'logs', 'aria-labelledby': 'logs-title' },
      h(
        'div',
        { class: 'card-head' },
        h('h3', { class: 'card-title', id: 'logs-title', text: 'Logs' }),
        h(
          'div',
          { class: 'log-controls' },
          h('label', { class: 'sr-only', for: 'log-level', text: 'Log level' }),
          level,
          h('label', { class: 'check' }, el.followBox, ' Follow'),
        ),
      ),
      el.logEmpty,
      el.logList,
    );

    this.root.append(
      h(
        'article',
        { class: 'detail', dataset: { sessionId: id } },
        header,
        h(
          'div',
          { class: 'detail-grid' },
          h('div', { class: 'detail-col' }, el.error, el.qrCard, facts, el.resources.el, el.sendCard, el.queue.el, el.sandboxCard, el.proxyCard, config),
          h('div', { class: 'detail-col detail-col-wide' }, el.logsCard, messages),
        ),
      ),
    );
    this.update(session);
    this.root.scrollTop = 0;
    void el.queue.refresh();
  }

  /** The session changed (status event, action result). */
  update(session) {
    if (session.sessionId !== this.id) return;
    this.session = session;
    const el = this.el;
    setPill(el.pill, session.status);
    this.root.querySelector('.detail')?.setAttribute('data-status', session.status);
    for (const a of ACTIONS) {
      const btn = el.actions[a.action];
      if (btn.getAttribute('aria-busy') !== 'true') btn.disabled = !a.enabled(session);
    }
    el.error.hidden = !session.error;
    el.errorText.textContent = session.error ?? '';

    this.#renderFacts(session);
    el.resources.render(session);

    // QR area
    if (!session.qrAvailable) this.qr = null;
    this.#renderQr();

    // proxy and config
    const proxy = proxySummary(session.config?.proxyServerCredentials);
    el.proxyText.textContent = proxy ?? 'No proxy: this session connects directly.';
    el.proxyText.classList.toggle('muted', !proxy);
    el.proxyBtn.hidden = !proxy;
    el.config.textContent = JSON.stringify(session.config ?? {}, null, 2);
    // Only a ready session can send or receive: the forms that need it are not offered before.
    const ready = session.status === 'ready';
    el.sendCard.hidden = !ready;
    if (el.sandboxCard) el.sandboxCard.hidden = !ready;
    el.send.setPaced(Boolean(session.config?.sendQueue));
    this.#renderQueueVisibility();
  }

  /**
   * New figures of what the session's processes use (the page's periodic refresh): only the
   * Resources card changes, so a message being typed, focus and open menus stay as they are.
   */
  updateResources(session) {
    if (session.sessionId !== this.id) return;
    this.session = session;
    this.el.resources.render(session);
  }

  #renderFacts(session) {
    const facts = this.el.facts;
    clear(facts);
    const me = meLabel(session.me);
    const rows = [
      ['Status', statusLabel(session.status)],
      ['Engine', session.engine],
      this.cluster ? ['Node', this.cluster.nodeRef(session.node)] : null,
      ['Logged in as', me ?? 'not linked'],
      ['Last activity', relTime(session.lastActivity)],
      ['Created', absoluteTime(session.createdAt)],
      ['Restarts', String(session.restarts)],
    ];
    for (const row of rows) {
      if (!row) continue;
      const [k, v] = row;
      facts.append(h('div', { class: 'fact' }, h('dt', { text: k }), h('dd', {}, v)));
    }
  }

  /** The queue matters while the session can send, or while jobs wait (they outlive a stop). */
  #renderQueueVisibility() {
    const queue = this.el.queue;
    if (!queue || !this.session) return;
    queue.el.hidden = this.session.status !== 'ready' && queue.jobs.length === 0;
  }

  /** The send queue may have changed (a message.queued / sent / failed event of this session). */
  queueChanged(sessionId) {
    if (sessionId !== this.id) return;
    void this.el.queue.refresh();
  }

  /** A pairing code for this session ({code, phoneNumber}), or null: linking is over. */
  setPairingCode(sessionId, pairing) {
    if (sessionId !== this.id) return;
    this.pairing = pairing;
    this.el.pair.setCode(pairing);
    this.#renderQr();
  }

  /** A QR for this session, as the API gives it ({ qrCode, qrData, expiresAt, attempt }), or null: it is gone. */
  setQr(sessionId, qr) {
    if (sessionId !== this.id) return;
    this.qr = qr;
    this.#renderQr();
  }

  #renderQr() {
    const el = this.el;
    const s = this.session;
    const src = this.qr ? safeImageUrl(this.qr.qrCode) : null;
    const waitingText =
      s.status === 'initializing' ? 'Starting the session; the QR code appears here.' : s.status === 'authenticated' ? 'Scanned. Loading WhatsApp…' : s.status === 'qr_ready' ? 'Fetching the QR code…' : '';
    const showCard = Boolean(src) || waitingText !== '';
    el.qrCard.hidden = !showCard;
    el.qrFigure.hidden = !src;
    el.qrWait.hidden = Boolean(src);
    el.qrWait.lastChild.textContent = waitingText;
    if (src) {
      if (el.qrImg.getAttribute('src') !== src) el.qrImg.setAttribute('src', src);
      el.qrImg.alt = `QR code to link session ${s.sessionId} (code ${this.qr.attempt}): scan it with WhatsApp on your phone`;
      el.qrImg.dataset.attempt = String(this.qr.attempt);
    } else {
      el.qrImg.removeAttribute('src');
      el.qrImg.alt = '';
      delete el.qrImg.dataset.attempt;
    }
    if (el.scan) el.scan.disabled = !src;
    // Linking by phone number is offered while the QR waits; a code already given stays while the
    // session (re)starts for it (engines that ask for the code as they launch).
    const pairing = s.status === 'qr_ready' || (this.pairing !== null && s.status === 'initializing');
    if (pairing && !el.pair.el.isConnected) el.qrCard.append(el.pair.el);
    else if (!pairing) el.pair.el.remove();
    this.#renderQrMeta();
  }

  #renderQrMeta() {
    const el = this.el;
    if (!this.qr || el.qrFigure.hidden) {
      el.qrMeta.textContent = '';
      return;
    }
    const left = Math.round((Date.parse(this.qr.expiresAt) - Date.now()) / 1000);
    el.qrMeta.textContent = `Code ${this.qr.attempt} · ${left > 0 ? `a new one comes in ${left} s` : 'a new one is on its way'}`;
  }

  /** Every second: countdowns and relative times. */
  tick() {
    if (!this.id) return;
    this.#renderQrMeta();
    for (const t of this.root.querySelectorAll('time.rel')) setRelTime(t, t.getAttribute('datetime') ?? '');
  }

  /** Replace the log with the server's recent lines (then live lines are appended). */
  setLogs(sessionId, entries) {
    if (sessionId !== this.id) return;
    clear(this.el.logList);
    this.logKeys = new Set();
    for (const entry of entries) this.#appendLog(entry);
    this.el.logEmpty.textContent = 'No log lines yet.';
    this.el.logEmpty.hidden = this.el.logList.childElementCount > 0;
    this.#scrollLogs();
  }

  appendLog(sessionId, entry) {
    if (sessionId !== this.id) return;
    this.#appendLog(entry);
    this.el.logEmpty.hidden = true;
    this.#scrollLogs();
  }

  #appendLog(entry) {
    const key = `${entry.timestamp}|${entry.level}|${entry.message}`;
    if (this.logKeys.has(key)) return;
    this.logKeys.add(key);
    const list = this.el.logList;
    list.append(
      h(
        'li',
        { class: 'log-line', dataset: { level: entry.level } },
        h('time', { class: 'log-time', datetime: entry.timestamp, title: absoluteTime(entry.timestamp), text: clockTime(entry.timestamp) }),
        h('span', { class: 'log-level', text: entry.level }),
        h('span', { class: 'log-msg', text: entry.message }),
      ),
    );
    while (list.childElementCount > MAX_LOG_LINES) list.firstElementChild?.remove();
  }

  #scrollLogs() {
    if (!this.follow || !this.el.logList) return;
    this.el.logList.scrollTop = this.el.logList.scrollHeight;
  }

  /** Messages received so far (newest first). */
  setMessages(sessionId, messages) {
    if (sessionId !== this.id) return;
    clear(this.el.messages);
    for (const m of messages) this.addMessage(sessionId, m);
  }

  addMessage(sessionId, message) {
    if (sessionId !== this.id) return;
    const list = this.el.messages;
    list.prepend(
      h(
        'li',
        { class: 'message' },
        h(
          'div',
          { class: 'message-head' },
          h('span', { class: 'message-from', text: message.from }),
          h('time', { class: 'muted', datetime: message.timestamp, title: absoluteTime(message.timestamp), text: clockTime(message.timestamp) }),
        ),
        h('p', { class: 'message-body', text: message.body }),
      ),
    );
    while (list.childElementCount > MAX_MESSAGES) list.lastElementChild?.remove();
    this.el.noMessages.hidden = list.childElementCount > 0;
  }

  focusLogs() {
    const list = this.el.logList;
    if (!list) return;
    this.el.logsCard.scrollIntoView({ block: 'start', behavior: 'smooth' });
    list.focus({ preventScroll: true });
  }

  /** Runs an action behind a button: busy while it runs, enabled per status after. */
  async #run(button, fn) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await fn();
    } catch {
      // the caller reports errors (toast or result line)
    } finally {
      button.removeAttribute('aria-busy');
      button.disabled = false;
      if (this.session) this.update(this.session);
    }
  }
}
