import { AppError } from '../errors.js';

/** Where a page of history ends: the last row's (timestamp, id). */
export interface CursorPosition {
  timestamp: string;
  id: string;
}

// Bounds that any cursor this server hands out stays within, so decoding is bounded work.
const MAX_CURSOR_LENGTH = 2_048;
const MAX_ID_LENGTH = 1_024;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * A cursor that does not decode: a 400 naming the query parameter it came in (VALIDATION_ERROR
 * with `[{path, message}]` details, the shape of every field error).
 */
export class InvalidCursorError extends AppError {
  constructor(reason: string, path = 'query.before') {
    const message = `not a cursor this server gave out (${reason})`;
    super('VALIDATION_ERROR', `${path}: ${message}`, [{ path, message }]);
    this.name = 'InvalidCursorError';
  }
}

/** base64url of the JSON `[timestamp, id]`: opaque to clients, and easy to check strictly. */
export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.timestamp, position.id]), 'utf8').toString('base64url');
}

/**
 * The position a cursor stands for. Strict: only the exact text encodeCursor() makes is accepted
 * (no padding, no other alphabet, no re-spaced JSON), so a cursor has one spelling.
 */
export function decodeCursor(cursor: string): CursorPosition {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH) throw new InvalidCursorError('wrong length');
  if (!BASE64URL.test(cursor)) throw new InvalidCursorError('not base64url');
  let value: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(cursor, 'base64url'));
    value = JSON.parse(text);
  } catch {
    throw new InvalidCursorError('does not decode');
  }
  if (!Array.isArray(value) || value.length !== 2) throw new InvalidCursorError('wrong shape');
  const [timestamp, id] = value as unknown[];
  if (typeof timestamp !== 'string' || !ISO_UTC.test(timestamp) || Number.isNaN(Date.parse(timestamp))) {
    throw new InvalidCursorError('wrong timestamp');
  }
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) throw new InvalidCursorError('wrong id');
  const position = { timestamp, id };
  if (encodeCursor(position) !== cursor) throw new InvalidCursorError('not in its canonical form');
  return position;
}
