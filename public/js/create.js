import { ApiError } from './api.js';
import { byId, clear, h } from './dom.js';

/** API field paths (error.details[].path) → the form control that holds them. */
const FIELD_OF_PATH = {
  'body.sessionId': 'f-session-id',
  'body.config.engine': 'f-engine',
  'body.config.qrTimeout': 'f-qr-timeout',
  'body.config.authTimeout': 'f-auth-timeout',
  'body.config.executablePath': 'f-executable-path',
  'body.config.chromiumArgs': 'f-chromium-args',
  'body.config.proxyServerCredentials.protocol': 'f-proxy-protocol',
  'body.config.proxyServerCredentials.username': 'f-proxy-username',
  'body.config.proxyServerCredentials.password': 'f-proxy-password',
  'body.config.sendQueue.minDelayMs': 'f-sq-min',
  'body.config.sendQueue.maxDelayMs': 'f-sq-max',
  'body.config.sendQueue.dailyNewChatLimit': 'f-sq-daily',
  'body.config.sendQueue.typing': 'f-sq-typing',
};

function input(id) {
  return /** @type {HTMLInputElement} */ (byId(id));
}

/** A number field's value into `target[key]`: left out when empty, NaN when unreadable (the API names it). */
function numberInto(target, key, fid) {
  const raw = input(fid).value.trim();
  if (raw !== '') target[key] = Number(raw);
  else if (input(fid).validity.badInput) target[key] = NaN;
}

/**
 * The New Session dialog. It sends only what the user set (the API refuses unknown keys and the
 * server fills in its own defaults), and shows the API's validation errors in its own words.
 */
/** What each engine is, in the words a user picks by (the README's "Which engine"). */
const ENGINE_HINTS = {
  'wa-automate': 'Real WhatsApp Web in Chromium: about 400 MB a session; starting new chats needs an open-wa licence.',
  baileys: "Real WhatsApp over its multi-device protocol, no browser: a fraction of the memory, many sessions per machine.",
  sandbox: 'A simulated phone: the same QR codes, statuses and messages, nothing leaves this machine.',
};

export class CreateDialog {
  /**
   * @param {{ create: (body: unknown) => Promise<any>, onCreated: (session: any) => void, defaultEngine: () => string }} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.dialog = /** @type {HTMLDialogElement} */ (byId('create-dialog'));
    this.form = /** @type {HTMLFormElement} */ (byId('create-form'));
    this.error = byId('create-error');
    this.submit = /** @type {HTMLButtonElement} */ (byId('create-submit'));
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#submit();
    });
    for (const btn of this.dialog.querySelectorAll('[data-close]')) btn.addEventListener('click', () => this.dialog.close());
    for (const radio of this.form.querySelectorAll('input[name="proxy-mode"]')) radio.addEventListener('change', () => this.#proxyMode());
    input('f-engine').addEventListener('change', () => this.#engineChanged());
    input('f-send-queue').addEventListener('change', () => this.#sendQueueChanged());
    // Clicking the backdrop closes the dialog.
    this.dialog.addEventListener('click', (e) => {
      if (e.target === this.dialog) this.dialog.close();
    });
  }

  open() {
    this.form.reset();
    input('f-engine').value = this.ctx.defaultEngine();
    this.#proxyMode();
    this.#engineChanged();
    this.#sendQueueChanged();
    this.#clearErrors();
    this.dialog.showModal();
    input('f-session-id').focus();
  }

  #proxyMode() {
    const mode = /** @type {HTMLInputElement | null} */ (this.form.querySelector('input[name="proxy-mode"]:checked'))?.value ?? 'none';
    byId('proxy-fields').hidden = mode !== 'fields';
    byId('proxy-url').hidden = mode !== 'url';
  }

  #sendQueueChanged() {
    byId('send-queue-fields').hidden = !input('f-send-queue').checked;
  }

  #engineChanged() {
    const engine = input('f-engine').value;
    byId('f-autoscan-wrap').hidden = engine !== 'sandbox';
    byId('f-engine-hint').textContent = ENGINE_HINTS[engine] ?? '';
  }

  /** The request body from the form: only the keys the user set. */
  body() {
    /** @type {Record<string, any>} */
    const body = {};
    /** @type {Record<string, any>} */
    const config = {};
    const id = input('f-session-id').value.trim();
    if (id) body.sessionId = id;
    if (!input('f-start').checked) body.start = false;
    config.engine = input('f-engine').value;
    for (const box of this.form.querySelectorAll('input[type=checkbox][data-key]')) {
      const b = /** @type {HTMLInputElement} */ (box);
      const def = b.dataset.default === 'true';
      if (b.checked !== def && b.dataset.key) config[b.dataset.key] = b.checked;
    }
    for (const [fid, key] of [['f-qr-timeout', 'qrTimeout'], ['f-auth-timeout', 'authTimeout']]) numberInto(config, key, fid);
    if (input('f-send-queue').checked) {
      /** @type {Record<string, number | boolean>} */
      const sendQueue = {};
      for (const [fid, key] of [['f-sq-min', 'minDelayMs'], ['f-sq-max', 'maxDelayMs'], ['f-sq-daily', 'dailyNewChatLimit']]) numberInto(sendQueue, key, fid);
      if (input('f-sq-typing').checked) sendQueue.typing = true;
      config.sendQueue = sendQueue;
    }
    const exe = input('f-executable-path').value.trim();
    if (exe) config.executablePath = exe;
    const args = input('f-chromium-args')
      .value.split('\n')
      .map((a) => a.trim())
      .filter(Boolean);
    if (args.length) config.chromiumArgs = args;
    if (config.engine === 'sandbox' && input('f-autoscan').checked) config.sandbox = { autoScan: true };
    const mode = /** @type {HTMLInputElement | null} */ (this.form.querySelector('input[name="proxy-mode"]:checked'))?.value;
    if (mode === 'fields') {
      /** @type {Record<string, string>} */
      const proxy = { address: input('f-proxy-address').value.trim() };
      const protocol = input('f-proxy-protocol').value;
      if (protocol) proxy.protocol = protocol;
      const user = input('f-proxy-username').value;
      const pass = input('f-proxy-password').value;
      if (user) proxy.username = user;
      if (pass) proxy.password = pass;
      config.proxyServerCredentials = proxy;
    } else if (mode === 'url') {
      config.proxyServerCredentials = { address: input('f-proxy-url').value.trim() };
    }
    body.config = config;
    return body;
  }

  async #submit() {
    this.#clearErrors();
    this.submit.disabled = true;
    this.submit.setAttribute('aria-busy', 'true');
    this.submit.textContent = 'Creating…';
    try {
      const session = await this.ctx.create(this.body());
      this.dialog.close();
      this.ctx.onCreated(session);
    } catch (err) {
      this.#showError(err);
    } finally {
      this.submit.disabled = false;
      this.submit.removeAttribute('aria-busy');
      this.submit.textContent = 'Create';
    }
  }

  #clearErrors() {
    this.error.hidden = true;
    clear(this.error);
    for (const el of this.form.querySelectorAll('[aria-invalid]')) {
      el.removeAttribute('aria-invalid');
      const rest = (el.getAttribute('aria-describedby') ?? '').split(' ').filter((x) => x && !x.endsWith('-error'));
      if (rest.length) el.setAttribute('aria-describedby', rest.join(' '));
      else el.removeAttribute('aria-describedby');
    }
    for (const el of this.form.querySelectorAll('.field-error')) el.remove();
  }

  #showError(err) {
    const message = err instanceof Error ? err.message : String(err);
    this.error.append(h('strong', { text: err instanceof ApiError && err.status === 400 ? 'The server refused this session: ' : 'Could not create the session: ' }), message);
    this.error.hidden = false;
    /** @type {HTMLElement | null} */
    let first = null;
    const details = err instanceof ApiError && Array.isArray(err.details) ? err.details : [];
    for (const d of details) {
      if (!d || typeof d.path !== 'string') continue;
      const fid = this.#fieldFor(d.path);
      if (!fid) continue;
      const control = byId(fid);
      control.setAttribute('aria-invalid', 'true');
      const note = h('p', { class: 'field-error', id: `${fid}-error`, text: String(d.message ?? '') });
      control.insertAdjacentElement('afterend', note);
      control.setAttribute('aria-describedby', [control.getAttribute('aria-describedby'), note.id].filter(Boolean).join(' '));
      first ??= control;
    }
    // A session id the server refused: focus it, so the fix is one keystroke away.
    if (first) first.focus();
    else {
      this.error.setAttribute('tabindex', '-1');
      this.error.focus();
    }
  }

  #fieldFor(path) {
    if (FIELD_OF_PATH[path]) return FIELD_OF_PATH[path];
    if (path.startsWith('body.config.chromiumArgs')) return 'f-chromium-args';
    // A rule across the pauses (the longest shorter than the shortest) is reported on sendQueue.
    if (path.startsWith('body.config.sendQueue')) return 'f-sq-max';
    if (path.startsWith('body.config.proxyServerCredentials')) {
      const mode = /** @type {HTMLInputElement | null} */ (this.form.querySelector('input[name="proxy-mode"]:checked'))?.value;
      return mode === 'url' ? 'f-proxy-url' : 'f-proxy-address';
    }
    return null;
  }
}
