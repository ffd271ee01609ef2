/**
 * The web UI of the multi-session server: plain ES modules, no build step, no third-party code.
 * Server data is only ever rendered as text (see js/dom.js).
 */
import { api, ApiError, clearKey, getKey, onUnauthorized } from './js/api.js';
import { ClusterView } from './js/cluster.js';
import { CreateDialog } from './js/create.js';
import { DetailView } from './js/detail.js';
import { askForKey, confirmDialog } from './js/dialogs.js';
import { byId, clear, h } from './js/dom.js';
import { EventStream } from './js/events.js';
import { duration, mebibytes, percent, processCount, STATUSES, statusLabel } from './js/format.js';
import { SessionList, setRelTime } from './js/list.js';
import { announce, toast } from './js/notify.js';
import { reasonOf } from './js/parts.js';
import { refreshIntervalMs, VisiblePoller } from './js/poll.js';

const RUNNING = new Set(['initializing', 'qr_ready', 'authenticated', 'ready', 'disconnected']);
/** While linking: a pairing code stays useful (engines that ask for it as they launch start again). */
const LINKING = new Set(['initializing', 'qr_ready']);
/** The events after which a session's send queue may look different. */
const QUEUE_EVENTS = new Set(['message.queued', 'message.sent', 'message.failed']);
const MAX_MESSAGES = 200;

const state = {
  /** @type {any} */ info: null,
  infoAt: 0,
  /** @type {Map<string, any>} */ sessions: new Map(),
  /**
   * The current QR per session, kept as the API gives it (GET …/qr, or the payload of the
   * `session.qr` event): one shape for both.
   * @type {Map<string, { qrCode: string, qrData: string, expiresAt: string, attempt: number }>}
   */
  qr: new Map(),
  /**
   * The pairing code per session while it links (POST …/auth/request-code, or the payload of the
   * `session.pairing_code` event).
   * @type {Map<string, { code: string, phoneNumber: string }>}
   */
  pairing: new Map(),
  /** @type {Map<string, any[]>} */ messages: new Map(),
  /** @type {string | null} */ selected: null,
  loaded: false,
  /** Counts events, so a list fetched before an event cannot undo it. */
  seq: 0,
  /** @type {Map<string, number>} */ touched: new Map(),
  /** Log events that arrive while a session's log history is being fetched. */
  /** @type {{ id: string, entries: any[] } | null} */ logBuffer: null,
  conn: 'connecting',
};

const enc = encodeURIComponent;
const sessionPath = (id, rest = '') => `/api/v1/sessions/${enc(id)}${rest}`;
const messageOf = (err) => (err instanceof Error ? err.message : String(err));

// ---------------------------------------------------------------- views

const list = new SessionList(byId('session-list'), {
  onSelect: (id, byUser) => {
    select(id);
    // On a phone the details are below the list: bring them into view.
    if (byUser && window.matchMedia('(max-width: 899px)').matches) byId('detail').scrollIntoView({ block: 'start' });
  },
  onLogs: (id) => {
    select(id);
    detail.focusLogs();
  },
});

const detail = new DetailView(byId('detail'), {
  act,
  scan: async (id, code) => {
    try {
      upsert(await api('POST', sessionPath(id, '/sandbox/scan'), code ? { code } : undefined));
      announce(code ? `${id}: the simulated phone entered the pairing code` : `${id}: the simulated phone scanned the QR code`);
    } catch (err) {
      toast(`Simulate ${code ? 'entering the code' : 'scan'} on ${id} failed: ${messageOf(err)}`, 'error');
      throw err;
    }
  },
  // Queued: the server answers at once (202) with {jobId, position}; the queue sends it in turn.
  send: (id, path, body, queued) => api('POST', sessionPath(id, `/${path}`), body, queued ? { headers: { Prefer: 'respond-async' } } : {}),
  requestCode: async (id, phoneNumber) => {
    const r = await api('POST', sessionPath(id, '/auth/request-code'), { phoneNumber });
    setPairing(id, { code: r.code, phoneNumber: r.phoneNumber ?? phoneNumber.replace(/\D/g, '') });
    return r;
  },
  listQueue: (id) => api('GET', sessionPath(id, '/queue')),
  cancelJob: (id, jobId) => api('DELETE', sessionPath(id, `/queue/${enc(jobId)}`)),
  notifyError: (message) => toast(message, 'error'),
  incoming: (id, from, content) => api('POST', sessionPath(id, '/sandbox/incoming'), { from, content }),
  testProxy: (id) => api('POST', sessionPath(id, '/proxy/test'), {}),
});

const createDialog = new CreateDialog({
  create: (body) => api('POST', '/api/v1/sessions', body),
  defaultEngine: () => state.info?.defaultEngine ?? 'wa-automate',
  onCreated: (session) => {
    upsert(session);
    toast(`Session ${session.sessionId} created`, 'ok');
    select(session.sessionId);
  },
});

/**
 * Cluster mode: the Nodes panel, and the node of each session in the list and on its page. Alone
 * (GET /api/v1/cluster answers 404) the page looks as it always did.
 */
const cluster = new ClusterView({
  panel: byId('nodes-panel'),
  list: byId('node-list'),
  count: byId('node-count'),
  fetch: () => api('GET', '/api/v1/cluster'),
  onChange: (view) => {
    list.setCluster(view);
    detail.setCluster(view);
  },
});

const stream = new EventStream({
  onEvent,
  onState: setConn,
  onOpen: (first) => {
    void syncSessions();
    void refreshInfo();
    // After a reconnection the server may have been restarted with (or without) --cluster.
    void cluster.refresh({ always: !first });
    if (!first) {
      // Jobs may have been sent or cancelled while the stream was away.
      if (state.selected) detail.queueChanged(state.selected);
      toast('Reconnected to the server', 'ok');
      announce('Reconnected to the server');
    }
  },
});

// ---------------------------------------------------------------- state changes

function upsert(session) {
  if (!session || typeof session.sessionId !== 'string') return;
  const id = session.sessionId;
  const known = state.sessions.get(id);
  // An answer that left the server before an event we already applied must not undo it.
  if (known && Date.parse(session.updatedAt) < Date.parse(known.updatedAt)) return;
  state.sessions.set(id, session);
  if (!session.qrAvailable && state.qr.delete(id)) detail.setQr(id, null);
  if (!LINKING.has(session.status)) setPairing(id, null);
  list.upsert(session);
  if (state.selected === id) {
    detail.update(session);
    if (session.qrAvailable && !state.qr.has(id)) void fetchQr(id);
  }
  renderCounts();
  if (state.loaded && !state.selected) select(id);
}

/** A session's pairing code, or null: linking is over. */
function setPairing(id, pairing) {
  if (pairing) state.pairing.set(id, pairing);
  else if (!state.pairing.delete(id)) return;
  detail.setPairingCode(id, pairing);
}

function removeSession(id) {
  if (!state.sessions.has(id)) return;
  state.sessions.delete(id);
  state.qr.delete(id);
  state.pairing.delete(id);
  state.messages.delete(id);
  list.remove(id);
  renderCounts();
  if (state.selected === id) {
    state.selected = null;
    const next = list.ids()[0];
    if (next) select(next);
    else {
      detail.showEmpty();
      history.replaceState(null, '', location.pathname + location.search);
    }
  }
}

async function fetchQr(id) {
  try {
    const qr = await api('GET', sessionPath(id, '/qr'));
    if (!state.sessions.get(id)?.qrAvailable) return;
    // A newer code may have come on the event stream while this request was out.
    const current = state.qr.get(id);
    if (current && current.attempt > qr.attempt) return;
    state.qr.set(id, qr);
    detail.setQr(id, qr);
  } catch {
    // 409 QR_NOT_AVAILABLE: it rotated or was scanned meanwhile; the events say what came next
  }
}

async function syncSessions() {
  const since = state.seq;
  let sessions;
  try {
    sessions = await api('GET', '/api/v1/sessions');
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) toast(`Could not list the sessions: ${messageOf(err)}`, 'error');
    return;
  }
  const ids = new Set(sessions.map((s) => s.sessionId));
  const first = !state.loaded;
  for (const s of sessions) upsert(s);
  state.loaded = true;
  for (const id of [...state.sessions.keys()]) {
    if (!ids.has(id) && (state.touched.get(id) ?? 0) <= since) removeSession(id);
  }
  byId('loading').hidden = true;
  renderCounts();
  if (first || !state.selected) {
    const wanted = decodeURIComponent(location.hash.slice(1));
    const pick = state.sessions.has(wanted) ? wanted : list.ids()[0];
    if (pick) select(pick);
  }
}

/**
 * One event of the stream: the envelope `{id, timestamp, event, session, engine, me, payload}`. After
 * a reconnection the server first replays what was missed, so an event may be older than what the
 * page already knows (from GET /api/v1/sessions): such an event changes nothing it shows.
 */
function onEvent(type, envelope) {
  state.seq += 1;
  const id = envelope?.session;
  const payload = envelope?.payload;
  if (typeof id !== 'string' || !payload) return;
  state.touched.set(id, state.seq);
  switch (type) {
    case 'session.created':
      if (!state.sessions.has(id)) announce(`Session ${id} was created`);
      upsert(payload);
      break;
    case 'session.deleted':
      if (state.sessions.has(id)) announce(`Session ${id} was deleted`);
      removeSession(id);
      break;
    case 'session.status': {
      const known = state.sessions.get(id);
      const stale = known && payload.session && Date.parse(payload.session.updatedAt) < Date.parse(known.updatedAt);
      upsert(payload.session);
      if (payload.status !== payload.previous && !stale) {
        announce(`${id} is now ${statusLabel(payload.status)}${payload.error ? `: ${payload.error}` : ''}`);
        // One notice per failing session: a session that keeps failing (restarts, then gives up)
        // updates it rather than stacking one per attempt.
        if (payload.status === 'failed') toast(`${id} failed: ${payload.error ?? 'no reason given'}`, 'error', `failed:${id}`);
      }
      break;
    }
    case 'session.qr': {
      const s = state.sessions.get(id);
      // A code older than the state the page has (replayed after a reconnection) is long gone.
      if (s && Date.parse(envelope.timestamp) < Date.parse(s.updatedAt)) break;
      state.qr.set(id, payload);
      if (s && !s.qrAvailable) {
        // The status event (qr_ready) may come after its first code: the session has one now, so
        // that a later re-render of the details from this copy does not drop the code.
        const updated = { ...s, qrAvailable: true };
        state.sessions.set(id, updated);
        list.upsert(updated);
        if (state.selected === id) detail.update(updated);
      }
      detail.setQr(id, payload);
      break;
    }
    case 'session.pairing_code': {
      // Only while the session links: a code replayed after it linked (or stopped) is no use.
      if (LINKING.has(state.sessions.get(id)?.status ?? '') && typeof payload.code === 'string') setPairing(id, { code: payload.code, phoneNumber: payload.phoneNumber });
      break;
    }
    case 'session.log': {
      const entry = { timestamp: payload.timestamp, level: payload.level, message: payload.message };
      if (state.logBuffer && state.logBuffer.id === id) state.logBuffer.entries.push(entry);
      else detail.appendLog(id, entry);
      break;
    }
    case 'message': {
      const msgs = state.messages.get(id) ?? [];
      msgs.push(payload);
      if (msgs.length > MAX_MESSAGES) msgs.shift();
      state.messages.set(id, msgs);
      detail.addMessage(id, payload);
      break;
    }
    case 'message.failed':
      toast(`${id}: a queued message failed: ${reasonOf(payload.error)}`, 'error', `send-failed:${id}`);
      break;
    default:
      break;
  }
  if (QUEUE_EVENTS.has(type)) detail.queueChanged(id);
}

// ---------------------------------------------------------------- selection

function select(id) {
  const s = state.sessions.get(id);
  if (!s) return;
  list.select(id);
  if (state.selected === id && detail.id === id) return;
  state.selected = id;
  history.replaceState(null, '', `#${enc(id)}`);
  detail.show(s);
  detail.setMessages(id, state.messages.get(id) ?? []);
  const qr = state.qr.get(id);
  if (qr) detail.setQr(id, qr);
  else if (s.qrAvailable) void fetchQr(id);
  const pairing = state.pairing.get(id);
  if (pairing) detail.setPairingCode(id, pairing);
  void loadLogs(id);
}

async function loadLogs(id) {
  state.logBuffer = { id, entries: [] };
  const buffer = state.logBuffer;
  try {
    const entries = await api('GET', sessionPath(id, '/logs?limit=500'));
    detail.setLogs(id, entries);
  } catch (err) {
    detail.setLogs(id, [{ timestamp: new Date().toISOString(), level: 'error', message: `could not load the log: ${messageOf(err)}` }]);
  } finally {
    if (state.logBuffer === buffer) state.logBuffer = null;
    for (const entry of buffer.entries) detail.appendLog(id, entry);
  }
}

// ---------------------------------------------------------------- actions

const DONE = { start: 'started', stop: 'stopped', restart: 'restarted', logout: 'logged out' };
const ACTION_LABEL = { start: 'Start', stop: 'Stop', restart: 'Restart', logout: 'Logout', delete: 'Delete' };

async function act(id, action) {
  if (action === 'delete') {
    const ok = await confirmDialog({
      title: `Delete session ${id}?`,
      text: 'This stops the session, ends its browser and deletes its folder, login data included. It cannot be undone.',
      confirm: 'Delete',
    });
    if (!ok) return;
  } else if (action === 'logout') {
    const ok = await confirmDialog({
      title: `Log out session ${id}?`,
      text: 'This unlinks the device from the phone and clears its login data; the session stops. Linking it again needs a new QR scan.',
      confirm: 'Logout',
    });
    if (!ok) return;
  }
  try {
    if (action === 'delete') {
      await api('DELETE', sessionPath(id));
      removeSession(id);
      toast(`Session ${id} deleted`, 'ok');
      byId('sessions-title').focus();
    } else {
      upsert(await api('POST', sessionPath(id, `/${action}`)));
      toast(`Session ${id} ${DONE[action] ?? action}`, 'ok');
    }
  } catch (err) {
    toast(`${ACTION_LABEL[action] ?? action} ${id} failed: ${messageOf(err)}`, 'error');
    throw err;
  }
}

// ---------------------------------------------------------------- server panel

/**
 * /info: the server panel, and what each session's processes use (`resources.sessions`, which no
 * event carries: the page asks every 10 s while it is visible, see boot()).
 */
async function refreshInfo() {
  try {
    state.info = await api('GET', '/info');
    state.infoAt = Date.now();
  } catch {
    return;
  }
  renderInfo();
  applyResources(state.info?.resources?.sessions);
  // While events are not stored none reach the page: the list is read at each refresh instead.
  if (state.info?.eventLog && !state.info.eventLog.ok) await syncSessions();
}

/**
 * The latest sample of each session's processes (absent: none, it does not run). Only the memory
 * figures are redrawn, never the rest of the session page (a message being typed stays).
 */
function applyResources(bySession) {
  if (!bySession || typeof bySession !== 'object') return;
  for (const [id, s] of [...state.sessions]) {
    const next = bySession[id] ?? null;
    const known = s.resources ?? null;
    if (JSON.stringify(next) === JSON.stringify(known)) continue;
    // An answer that left before a newer sample came (with a status event) does not undo it.
    if (known && next && Date.parse(next.sampledAt) < Date.parse(known.sampledAt)) continue;
    const updated = { ...s, resources: next };
    state.sessions.set(id, updated);
    list.updateResources(updated);
    if (state.selected === id) detail.updateResources(updated);
  }
}

function renderInfo() {
  const info = state.info;
  if (!info) return;
  byId('srv-version').textContent = String(info.version ?? '–');
  byId('srv-version').title = `${info.name ?? ''} ${info.version ?? ''} on Node.js ${info.node ?? ''}`.trim();
  byId('srv-max').textContent = String(info.maxSessions ?? '–');
  byId('srv-engine').textContent = String(info.defaultEngine ?? '–');
  const browser = byId('srv-browser');
  clear(browser);
  const wa = info.engines?.['wa-automate'];
  if (wa?.available) {
    browser.append(h('span', { class: 'ok-mark', 'aria-hidden': 'true', text: '✓' }), ' found ', h('code', { text: wa.browserPath ?? '' }));
    browser.title = '';
  } else {
    browser.append(h('span', { class: 'warn-mark', 'aria-hidden': 'true', text: '!' }), ' none: ', h('span', { text: wa?.reason ?? 'unknown' }));
  }
  browser.dataset.ok = String(Boolean(wa?.available));
  // The database does not take events (a full disk, Postgres out of reach): they wait in memory.
  const eventLog = byId('eventlog-alert');
  const failing = info.eventLog && !info.eventLog.ok ? info.eventLog.message : '';
  eventLog.textContent = failing ? `Events are not being stored: ${failing}.` : '';
  eventLog.hidden = !failing;
  renderMemory(info);
  renderUptime();
}

/** The sessions' processes (PSS, summed) and the server's own process (RSS). */
function renderMemory(info) {
  const total = info.resources?.total;
  const sessions = byId('srv-sessions-memory');
  if (total && total.sessions > 0) {
    sessions.textContent = mebibytes(total.pssBytes);
    const n = total.sessions === 1 ? '1 running session' : `${total.sessions} running sessions`;
    sessions.title = `PSS of the processes of ${n}: RSS ${mebibytes(total.rssBytes)}, ${processCount(total.processes)}, CPU ${percent(total.cpuPercent)} of one core`;
  } else {
    sessions.textContent = '—';
    sessions.title = 'No running session sampled yet (every 10 s)';
  }
  const server = byId('srv-memory');
  const mem = info.memory;
  server.textContent = mem ? mebibytes(mem.rss) : '—';
  server.title = mem ? `RSS of the server process (JavaScript heap: ${mebibytes(mem.heapUsed)} used of ${mebibytes(mem.heapTotal)})` : '';
}

function renderUptime() {
  if (!state.info) return;
  byId('srv-uptime').textContent = duration(state.info.uptime + (Date.now() - state.infoAt) / 1000);
}

function renderCounts() {
  const sessions = [...state.sessions.values()];
  const running = sessions.filter((s) => RUNNING.has(s.status)).length;
  byId('srv-sessions').textContent = `${sessions.length} (${running} running)`;
  byId('session-count').textContent = sessions.length ? String(sessions.length) : '';
  const box = byId('srv-by-status');
  clear(box);
  for (const status of STATUSES) {
    const n = sessions.filter((s) => s.status === status).length;
    if (!n) continue;
    box.append(
      h('li', { class: 'pill pill-count', dataset: { status } }, h('span', { class: 'pill-dot', 'aria-hidden': 'true' }), `${statusLabel(status)} `, h('strong', { text: String(n) })),
    );
  }
  if (!box.childElementCount) box.append(h('li', { class: 'muted small', text: 'no sessions' }));
  byId('empty').hidden = !state.loaded || sessions.length > 0;
}

// ---------------------------------------------------------------- connection

const CONN_TEXT = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', unauthorized: 'API key needed' };

function setConn(next) {
  const prev = state.conn;
  state.conn = next;
  const el = byId('conn');
  el.dataset.state = next;
  byId('conn-text').textContent = CONN_TEXT[next] ?? next;
  el.title = next === 'live' ? 'Live: the list updates by itself' : 'The live event stream is not connected';
  if (prev === 'live' && next === 'reconnecting') announce('Connection to the server lost; reconnecting');
  if (next === 'reconnecting') showBanner('The connection to the server is lost; reconnecting by itself. What you see may be out of date.');
  else if (next === 'live') showBanner('');
  document.body.classList.toggle('stale', next === 'reconnecting');
  if (next === 'unauthorized') void unauthorized('The server refused the API key this tab had; enter it again.');
}

let reauthorizing = null;
function unauthorized(reason) {
  reauthorizing ??= (async () => {
    clearKey();
    stream.stop();
    await askForKey(reason);
    byId('forget-key').hidden = !getKey();
    await refreshInfo();
    await cluster.refresh({ always: true });
    await syncSessions();
    stream.start();
    reauthorizing = null;
  })();
  return reauthorizing;
}

// ---------------------------------------------------------------- start-up

function showBanner(text) {
  const banner = byId('banner');
  banner.textContent = text;
  banner.hidden = !text;
}

async function boot() {
  byId('new-session').addEventListener('click', () => createDialog.open());
  byId('filter').addEventListener('input', (e) => list.filter(/** @type {HTMLInputElement} */ (e.target).value));
  byId('forget-key').addEventListener('click', () => {
    clearKey();
    location.reload();
  });
  byId('sessions-title').setAttribute('tabindex', '-1');
  document.addEventListener('keydown', (e) => {
    // "n" opens the New Session form when focus is not in a field or a dialog.
    const t = /** @type {HTMLElement} */ (e.target);
    if (e.key === 'n' && !e.ctrlKey && !e.metaKey && !e.altKey && !t.closest('input, textarea, select, dialog')) {
      e.preventDefault();
      createDialog.open();
    }
  });

  for (;;) {
    try {
      state.info = await api('GET', '/info', undefined, { quiet401: true });
      state.infoAt = Date.now();
      break;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        clearKey();
        await askForKey(err.message);
        continue;
      }
      showBanner(`The server cannot be reached (${messageOf(err)}); retrying…`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  showBanner('');
  onUnauthorized((err) => void unauthorized(err.message));
  byId('forget-key').hidden = !getKey();
  renderInfo();
  await cluster.refresh({ always: true });
  await syncSessions();
  stream.start();

  setInterval(() => {
    renderUptime();
    detail.tick();
  }, 1000);
  setInterval(() => {
    for (const t of document.querySelectorAll('#session-list time.rel, #node-list time.rel')) setRelTime(t, t.getAttribute('datetime') ?? '');
  }, 5000);
  // The server panel, the sessions' resource figures (sampled by the server every 10 s; no event
  // carries them) and, in a cluster, the nodes' load. `?refresh=<ms>` sets another period (js/poll.js).
  new VisiblePoller(() => Promise.all([refreshInfo(), cluster.refresh()]), refreshIntervalMs()).start();
}

void boot();
