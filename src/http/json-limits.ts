import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Bounded work per request. JSON.parse of a 38 MB body of 3 million keys blocks the event loop for
 * seconds, and a schema then reports every unknown key; no request of this API needs more than a few
 * hundred keys. So the raw bytes are scanned first (milliseconds, strings skipped with indexOf) and a
 * body past these bounds is refused before it is parsed.
 */
export const MAX_JSON_ENTRIES = 10_000;
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Why a body is refused, or null. Counts object keys and array elements; malformed JSON is left to the parser. */
export function jsonComplexity(buf: Buffer, maxEntries = MAX_JSON_ENTRIES, maxDepth = MAX_JSON_DEPTH): string | null {
  let entries = 0;
  // Whether each open container is an array; the depth bound keeps this small.
  const inArray: boolean[] = [];
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c === QUOTE) {
      // The closing quote is the next one not escaped by an odd run of backslashes.
      let end = buf.indexOf(QUOTE, i + 1);
      while (end !== -1) {
        let slashes = 0;
        while (buf[end - 1 - slashes] === BACKSLASH) slashes++;
        if (slashes % 2 === 0) break;
        end = buf.indexOf(QUOTE, end + 1);
      }
      if (end === -1) return null;
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (inArray.length >= maxDepth) return `nested deeper than ${String(maxDepth)} levels`;
      inArray.push(c === OPEN_ARRAY);
      // An array's first element (an empty array counts one too: close enough for a bound).
      if (c === OPEN_ARRAY) entries++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      inArray.pop();
    } else if (c === COLON || (c === COMMA && inArray[inArray.length - 1] === true)) {
      entries++;
    } else {
      continue;
    }
    if (entries > maxEntries) return `more than ${String(maxEntries)} keys and array elements in all`;
  }
  return null;
}

/** The `type` errors.ts knows this refusal by, beside body-parser's own types. */
export const TOO_COMPLEX = 'entity.too.complex';

/** body-parser passes this on (status 400); errors.ts answers it by its `type`. */
class BodyTooComplex extends Error {
  readonly type = TOO_COMPLEX;
  readonly status = 400;
}

/** express.json's `verify`: runs on the raw bytes, before JSON.parse. */
export function verifyJsonComplexity(_req: IncomingMessage, _res: ServerResponse, buf: Buffer, encoding: string): void {
  // The scan reads bytes as UTF-8, the only JSON charset RFC 8259 allows between systems.
  if (!/^utf-?8$/i.test(encoding)) throw Object.assign(new Error('send the body as UTF-8 JSON'), { type: 'charset.unsupported', status: 415 });
  const why = jsonComplexity(buf);
  if (why) throw new BodyTooComplex(why);
}
