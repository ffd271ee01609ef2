import { ApiError } from './api.js';
import { h } from './dom.js';
import { clearFieldErrors, field, markFieldErrors, messageOf, nextId, resultLine, setResult } from './parts.js';
import { kindOf, MissingInput, requestBody, SEND_KINDS } from './send-kinds.js';

/** What the file field says it takes, per kind (the server checks the bytes and says so if not). */
const FILE_HINT = {
  image: 'PNG, JPEG, GIF or WebP.',
  file: 'Any file; it arrives as a document.',
  video: 'An MP4 video plays best.',
  voice: 'An Ogg/Opus file goes as a voice note; other audio as an audio file.',
};

/** A local file as a data URL (the API takes media as `data`). */
function readDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener('load', () => resolve(String(reader.result)));
    reader.addEventListener('error', () => reject(new Error(`could not read ${file.name}: ${reader.error?.message ?? 'unknown error'}`)));
    reader.readAsDataURL(file);
  });
}

/** An <input type=number>'s value: undefined when empty, NaN when the browser could not read it. */
function numberOf(input) {
  if (input.validity.badInput) return NaN;
  return input.value.trim() === '' ? undefined : Number(input.value);
}

/**
 * The session page's send form: one kind at a time (text, media from a file or a URL, a location, a
 * contact card), sent at once or queued (`Prefer: respond-async`, answered with a job id).
 */
export class SendForm {
  /**
   * @param {{ send: (path: string, body: Record<string, unknown>, queued: boolean) => Promise<any> }} ctx
   *   `path` is the endpoint under the session (`send-location`); the answer is the API's `data`
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.paced = false;
    const c = (this.controls = {
      kind: h('select', {}, SEND_KINDS.map((k) => h('option', { value: k.kind, text: k.label }))),
      chatId: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '+1 234-567 890 or 1234567890@c.us', required: true }),
      content: h('textarea', { rows: 2, placeholder: 'Hello from multi-session!' }),
      file: h('input', { type: 'file' }),
      url: h('input', { type: 'url', autocomplete: 'off', spellcheck: 'false', placeholder: 'https://example.com/report.pdf' }),
      filename: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'taken from the file' }),
      caption: h('textarea', { rows: 2, placeholder: 'optional' }),
      latitude: h('input', { type: 'number', step: 'any', min: '-90', max: '90', inputmode: 'decimal', placeholder: '48.8584' }),
      longitude: h('input', { type: 'number', step: 'any', min: '-180', max: '180', inputmode: 'decimal', placeholder: '2.2945' }),
      title: h('input', { type: 'text', autocomplete: 'off', placeholder: 'optional' }),
      address: h('input', { type: 'text', autocomplete: 'off', placeholder: 'optional' }),
      contactId: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '+1 555 0100 or 15550100@c.us' }),
      queued: h('input', { type: 'checkbox' }),
    });

    // Where a file comes from: this computer (read here, sent as a data URL) or a URL the server fetches.
    const sourceName = nextId('send-source');
    this.sourceFile = h('input', { type: 'radio', name: sourceName, value: 'file', checked: true });
    this.sourceUrl = h('input', { type: 'radio', name: sourceName, value: 'url' });
    const source = h(
      'div',
      { class: 'segmented segmented-sm', role: 'radiogroup', 'aria-label': 'Where the file comes from' },
      h('label', {}, this.sourceFile, ' From this device'),
      h('label', {}, this.sourceUrl, ' From a URL'),
    );
    this.fileField = field('File', c.file, FILE_HINT.file);
    this.urlField = field('File URL', c.url, 'The server fetches it (through the session’s proxy).');
    this.captionField = field('Caption', c.caption);

    this.groups = {
      text: h('div', { class: 'stack', dataset: { group: 'text' } }, field('Message', c.content)),
      media: h(
        'div',
        { class: 'stack', dataset: { group: 'media' } },
        source,
        this.fileField,
        this.urlField,
        field('File name', c.filename, 'Optional: how the chat shows the file.'),
        this.captionField,
      ),
      location: h(
        'div',
        { class: 'grid-2 grid-keep', dataset: { group: 'location' } },
        field('Latitude', c.latitude),
        field('Longitude', c.longitude),
        field('Place name', c.title),
        field('Address', c.address),
      ),
      contact: h('div', { class: 'stack', dataset: { group: 'contact' } }, field('Contact', c.contactId, 'The contact to share: a phone number or a chat id.')),
    };

    this.button = h('button', { type: 'submit', class: 'btn', text: 'Send' });
    this.queueHint = h('p', { class: 'hint', id: nextId('queue-hint') });
    c.queued.setAttribute('aria-describedby', this.queueHint.id);
    this.result = resultLine();
    this.el = h(
      'form',
      { class: 'stack send-form', novalidate: true },
      h('div', { class: 'grid-kind' }, field('Kind', c.kind), field('Chat ID', c.chatId, 'A phone number in any notation, or a chat id.')),
      Object.values(this.groups),
      h('div', { class: 'form-row' }, this.button, h('label', { class: 'check' }, c.queued, ' Send later (queue)')),
      this.queueHint,
      this.result,
    );

    c.kind.addEventListener('change', () => this.#kindChanged());
    for (const radio of [this.sourceFile, this.sourceUrl]) radio.addEventListener('change', () => this.#sourceChanged());
    c.file.addEventListener('change', () => this.#sourceChanged());
    this.el.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#submit();
    });
    this.#kindChanged();
    this.setPaced(false);
  }

  /** Whether the session paces its sends (config.sendQueue): a send then waits its turn. */
  setPaced(paced) {
    this.paced = paced;
    this.queueHint.textContent = paced
      ? 'This session sends one message at a time. Queued, the send answers at once with a job id; otherwise the form waits its turn.'
      : 'Queued, the send answers at once with a job id and goes out in turn.';
  }

  #kind() {
    return kindOf(/** @type {HTMLSelectElement} */ (this.controls.kind).value);
  }

  #kindChanged() {
    const k = this.#kind();
    const group = k.media ? 'media' : k.kind;
    for (const [name, el] of Object.entries(this.groups)) el.hidden = name !== group;
    if (k.media) {
      this.controls.file.setAttribute('accept', k.accept);
      this.fileField.querySelector('.hint').textContent = FILE_HINT[k.kind] ?? '';
      this.captionField.hidden = !k.caption;
      this.#sourceChanged();
    }
    clearFieldErrors(this.el);
  }

  #sourceChanged() {
    const fromUrl = /** @type {HTMLInputElement} */ (this.sourceUrl).checked;
    this.fileField.hidden = fromUrl;
    this.urlField.hidden = !fromUrl;
    // The name the chat shows when none is typed: the chosen file's, or what the server finds.
    const file = /** @type {HTMLInputElement} */ (this.controls.file).files?.[0];
    this.controls.filename.setAttribute('placeholder', fromUrl ? 'taken from the URL' : (file?.name ?? 'taken from the file'));
  }

  /** The control a body key (or an API error path, `body.latitude`) is typed in. */
  #controlFor(path) {
    const key = path.replace(/^body\./, '').split('.')[0];
    if (key === 'data') return this.controls.file;
    return key === 'kind' || key === 'queued' ? null : this.controls[key];
  }

  async #submit() {
    if (this.button.disabled) return;
    const c = this.controls;
    const val = (el) => /** @type {HTMLInputElement} */ (el).value;
    const k = this.#kind();
    const queued = /** @type {HTMLInputElement} */ (c.queued).checked;
    clearFieldErrors(this.el);
    this.button.disabled = true;
    this.button.setAttribute('aria-busy', 'true');
    try {
      let body;
      try {
        body = await requestBody(
          k.kind,
          {
            chatId: val(c.chatId),
            content: val(c.content),
            source: /** @type {HTMLInputElement} */ (this.sourceUrl).checked ? 'url' : 'file',
            file: /** @type {HTMLInputElement} */ (c.file).files?.[0] ?? null,
            url: val(c.url),
            filename: val(c.filename),
            caption: val(c.caption),
            latitude: numberOf(c.latitude),
            longitude: numberOf(c.longitude),
            title: val(c.title),
            address: val(c.address),
            contactId: val(c.contactId),
          },
          readDataUrl,
        );
      } catch (err) {
        setResult(this.result, 'error', messageOf(err));
        if (err instanceof MissingInput) markFieldErrors([{ path: err.field, message: err.message }], (p) => this.#controlFor(p))?.focus();
        return;
      }
      setResult(this.result, 'pending', queued ? 'Queueing…' : this.paced ? 'Waiting its turn in the send queue…' : 'Sending…');
      try {
        const r = await this.ctx.send(k.path, body, queued);
        if (r && typeof r.jobId === 'string') setResult(this.result, 'ok', `Queued as job ${r.jobId}${typeof r.position === 'number' ? ` · position ${r.position}` : ''}`);
        else setResult(this.result, 'ok', `Sent to ${r?.chatId ?? body.chatId}${r?.messageId ? ` · id ${r.messageId}` : ''}`);
      } catch (err) {
        setResult(this.result, 'error', messageOf(err));
        if (err instanceof ApiError) markFieldErrors(err.details, (p) => this.#controlFor(p));
      }
    } finally {
      this.button.disabled = false;
      this.button.removeAttribute('aria-busy');
    }
  }
}
