/**
 * The kinds of message the session page sends, and the request each one is: its endpoint, and its
 * body from the form's values. What the server checks (chat ids, numbers, a file's type by its bytes)
 * is left to it, so that its own words are shown; only what it cannot see is caught here (no file
 * chosen, no URL given).
 */
export const SEND_KINDS = [
  { kind: 'text', label: 'Text', path: 'send-text' },
  { kind: 'image', label: 'Image', path: 'send-image', media: true, accept: 'image/png,image/jpeg,image/gif,image/webp', caption: true },
  { kind: 'file', label: 'File (document)', path: 'send-file', media: true, accept: '', caption: true },
  { kind: 'video', label: 'Video', path: 'send-video', media: true, accept: 'video/*', caption: true },
  // The server decides by the bytes: an Ogg/Opus file goes as a voice note, other audio as an audio file.
  { kind: 'voice', label: 'Voice note or audio', path: 'send-voice', media: true, accept: 'audio/*', caption: false },
  { kind: 'location', label: 'Location', path: 'send-location' },
  { kind: 'contact', label: 'Contact card', path: 'send-contact' },
];

/** @param {string} kind */
export function kindOf(kind) {
  return SEND_KINDS.find((k) => k.kind === kind) ?? SEND_KINDS[0];
}

/** A value missing from the form that the request cannot go without: `field` is the body key. */
export class MissingInput extends Error {
  /** @param {string} field @param {string} message */
  constructor(field, message) {
    super(message);
    this.name = 'MissingInput';
    this.field = field;
  }
}

/**
 * The request body of one send.
 * @param {string} kind
 * @param {{
 *   chatId: string, content: string,
 *   source: 'file' | 'url', file: File | null, url: string, filename: string, caption: string,
 *   latitude: number | undefined, longitude: number | undefined, title: string, address: string,
 *   contactId: string,
 * }} v numbers are undefined when left empty (the server says they are required) and NaN when the
 *   browser could not read them (sent as null: the server names the field)
 * @param {(file: File) => Promise<string>} readDataUrl
 * @returns {Promise<Record<string, unknown>>}
 */
export async function requestBody(kind, v, readDataUrl) {
  const k = kindOf(kind);
  /** @type {Record<string, unknown>} */
  const body = { chatId: v.chatId.trim() };
  const optional = (key, value) => {
    const t = value.trim();
    if (t) body[key] = t;
  };
  if (k.media) {
    if (v.source === 'url') {
      const url = v.url.trim();
      if (!url) throw new MissingInput('url', 'Give the address (http or https) of the file to send.');
      body.url = url;
      // Without one the server takes the name from its answer or the URL.
      optional('filename', v.filename);
    } else {
      if (!v.file) throw new MissingInput('data', 'Choose a file to send.');
      body.data = await readDataUrl(v.file);
      body.filename = v.filename.trim() || v.file.name;
    }
    if (k.caption) optional('caption', v.caption);
    return body;
  }
  switch (k.kind) {
    case 'location':
      if (v.latitude !== undefined) body.latitude = v.latitude;
      if (v.longitude !== undefined) body.longitude = v.longitude;
      optional('title', v.title);
      optional('address', v.address);
      return body;
    case 'contact':
      body.contactId = v.contactId.trim();
      return body;
    default:
      body.content = v.content;
      return body;
  }
}
