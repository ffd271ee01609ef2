import winston from 'winston';
import { maskSecrets } from './util/redact.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];
export type Namespace = 'wa:server' | 'wa:api' | 'wa:session' | 'wa:engine' | 'wa:proxy' | 'wa:cluster';

const RANK: Record<string, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** `DEBUG=*`, `DEBUG=wa:*`, `DEBUG=wa:session,wa:api`: the `debug` package's pattern syntax. */
export function debugMatcher(spec: string | undefined): (ns: string) => boolean {
  const patterns = (spec ?? '')
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
  return (ns) => patterns.some((re) => re.test(ns));
}

export interface LoggerOptions {
  level: LogLevel;
  debug?: string | undefined;
  /** Tests pass a stream to capture output; the server writes to stdout. */
  stream?: NodeJS.WritableStream;
  /** `text` (default): one readable line; `json`: one JSON object per line, for a log shipper. */
  format?: 'text' | 'json' | undefined;
}

export type Logger = winston.Logger;

/**
 * One winston root logger. Namespaces named in DEBUG log at debug level even when --log-level is
 * higher; the filter below drops debug lines of the other namespaces.
 */
export function createRootLogger(opts: LoggerOptions): Logger {
  const enabled = debugMatcher(opts.debug);
  const anyDebug = (opts.debug ?? '').trim() !== '';
  const threshold = RANK[opts.level] ?? 2;
  const namespaceFilter = winston.format((info) => {
    const rank = RANK[info.level] ?? 0;
    if (rank <= threshold) return info;
    return typeof info.ns === 'string' && enabled(info.ns) ? info : false;
  });
  const mask = winston.format((info) => {
    if (typeof info.message === 'string') info.message = maskSecrets(info.message);
    return info;
  });
  const line = winston.format.printf((info) => {
    const ns = typeof info.ns === 'string' ? ` ${info.ns}` : '';
    const session = typeof info.session === 'string' ? ` [${info.session}]` : '';
    return `${String(info.timestamp)} ${info.level.toUpperCase().padEnd(5)}${ns}${session} ${String(info.message)}`;
  });
  // {timestamp, level, ns, session?, message}: the same fields as a text line, nothing else.
  const json = winston.format.printf((info) =>
    JSON.stringify({
      timestamp: info.timestamp,
      level: info.level,
      ...(typeof info.ns === 'string' ? { ns: info.ns } : {}),
      ...(typeof info.session === 'string' ? { session: info.session } : {}),
      message: String(info.message),
    }),
  );
  const transport = opts.stream
    ? new winston.transports.Stream({ stream: opts.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: anyDebug ? 'debug' : opts.level,
    levels: RANK,
    format: winston.format.combine(
      namespaceFilter(),
      mask(),
      winston.format.timestamp(),
      opts.format === 'json' ? json : line,
    ),
    transports: [transport],
  });
}

export function childLogger(root: Logger, ns: Namespace, meta: Record<string, string> = {}): Logger {
  return root.child({ ns, ...meta });
}
