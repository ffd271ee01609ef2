import type { SocketConfig } from '@whiskeysockets/baileys';
import type { EngineLog } from '../types.js';

/** Baileys' logger interface (pino's shape), as its socket config names it. */
export type BaileysLogger = SocketConfig['logger'];

type BaileysLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
type Sink = (level: EngineLog['level'], message: string) => void;

/**
 * Which of Baileys' lines reach the session's log, and at which level. Quiet by default: Baileys
 * narrates every step at info (and its errors are mostly dropped connections, which the engine
 * reports as statuses in its own words), while a session's log keeps only its last 1000 lines.
 * `DEBUG=baileys` in the server's environment lets its info and debug lines through, at debug.
 */
const QUIET: Record<BaileysLevel, EngineLog['level'] | null> = { trace: null, debug: null, info: null, warn: 'debug', error: 'warn' };
const VERBOSE: Record<BaileysLevel, EngineLog['level'] | null> = { trace: null, debug: 'debug', info: 'debug', warn: 'debug', error: 'warn' };

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}

/** What went wrong, from the fields Baileys puts its errors in; nothing else of the object. */
function errorText(obj: unknown): string | null {
  if (typeof obj !== 'object' || obj === null) return null;
  const { err, error, trace } = obj as { err?: unknown; error?: unknown; trace?: unknown };
  for (const candidate of [err, error]) {
    if (candidate instanceof Error) return candidate.message;
    if (typeof candidate === 'string') return firstLine(candidate);
  }
  return typeof trace === 'string' ? firstLine(trace) : null;
}

/**
 * One line per Baileys log call: its message and, for an error, the error's first line. The rest
 * of the object it logs is never written out: it holds message nodes, keys and the account's
 * identity.
 */
export function lineOf(obj: unknown, msg?: string): string {
  const text = msg ?? (typeof obj === 'string' ? obj : '');
  const error = errorText(obj);
  return error && !text.includes(error) ? `${text}${text ? ': ' : ''}${error}` : text;
}

/** A Baileys logger that writes into the session's log (EngineLog) through `sink`. */
export function baileysLogger(sink: Sink, verbose = /\bbaileys\b/.test(process.env.DEBUG ?? '')): BaileysLogger {
  const levels = verbose ? VERBOSE : QUIET;
  const write = (level: BaileysLevel) => (obj: unknown, msg?: string) => {
    const ours = levels[level];
    if (!ours) return;
    const line = lineOf(obj, msg);
    if (line) sink(ours, `baileys: ${line}`);
  };
  const logger: BaileysLogger = {
    // Baileys builds costly XML dumps of every frame when its logger says 'trace' or 'debug'.
    level: verbose ? 'debug' : 'warn',
    child: () => logger,
    trace: write('trace'),
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
  };
  return logger;
}
