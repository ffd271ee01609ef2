/** The HTTP API: the JSON envelope, the API key (sessionStorage, per tab) and its 401s. */

const KEY_STORAGE = 'wa-multi-session.apiKey';

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {unknown} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function getKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function setKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function clearKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

/** @type {((err: ApiError) => void) | null} */
let unauthorizedHandler = null;

/** Called on every 401 (a missing, wrong or changed key). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {{ key?: string, quiet401?: boolean, headers?: Record<string, string> }} [opts] `headers`: extra
 *   request headers (e.g. `Prefer: respond-async`)
 */
export async function api(method, path, body, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json', ...opts.headers };
  const key = opts.key ?? getKey();
  if (key) headers['X-API-Key'] = key;
  /** @type {RequestInit} */
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'NETWORK', 'the server cannot be reached');
  }
  let json;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  const error = json && typeof json === 'object' && json.success === false ? json.error : null;
  if (!res.ok || error) {
    const err = new ApiError(
      res.status,
      String(error?.code ?? `HTTP_${res.status}`),
      String(error?.message ?? `the server answered ${res.status} ${res.statusText}`),
      error?.details,
    );
    if (res.status === 401 && !opts.quiet401 && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
  return json && typeof json === 'object' && json.success === true ? json.data : json;
}
