import os from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { ENGINES, type EngineName } from '../engines/types.js';
import { STORED_EVENTS } from '../events/envelope.js';
import { LOG_LEVELS, type LogLevel } from '../log.js';
import { WEBHOOK_SECRET_PATTERN } from '../webhooks/signing.js';

export interface ServerConfig {
  readonly port: number;
  readonly host: string;
  readonly maxSessions: number;
  readonly useChrome: boolean;
  readonly webhookHost: string;
  readonly sessionsDir: string;
  readonly apiKey: string | undefined;
  readonly engine: EngineName;
  readonly executablePath: string | undefined;
  readonly logLevel: LogLevel;
  readonly maxBodyBytes: number;
  /** Requests a minute per client on /api/v1; 0 turns it off. */
  readonly rateLimit: number;
  /** Sends a minute per session; 0 turns it off. */
  readonly sendRateLimit: number;
  /** Origins allowed to call the API from a browser (CORS); none by default. */
  readonly corsOrigins: readonly string[];
  /** The base URL handed out in banners, /info and media URLs. */
  readonly publicUrl: string;
  /** undefined: the SQLite file in the sessions folder. */
  readonly databaseUrl: string | undefined;
  readonly eventRetentionDays: number;
  readonly mediaRetentionDays: number;
  /** Server-wide webhooks: every session's events. */
  readonly webhookUrls: readonly string[];
  readonly webhookSecret: string | undefined;
  /** Event names (or '*') the server-wide webhooks get; undefined: every stored event. */
  readonly webhookEvents: readonly string[] | undefined;
  /** Media by URL may come from this machine's own and private addresses. */
  readonly allowPrivateUrls: boolean;
  /** GET /metrics without the API key. */
  readonly metricsPublic: boolean;
  /** Express's `trust proxy` (undefined: not behind a proxy; req.ip is the peer). */
  readonly trustProxy: boolean | number | string | undefined;
  readonly logFormat: LogFormat;
  /** The default of a session's maxMemoryMB (0: no cap). */
  readonly maxMemoryMB: number;
  /** --cluster: this node's identity and address; undefined when the server runs alone. */
  readonly cluster: ClusterConfig | undefined;
}

export interface ClusterConfig {
  /** --node-id (default: the host name): names this node in leases, X-Served-By and GET /api/v1/cluster. */
  readonly nodeId: string;
  /** --node-url: how the other nodes reach this one (forwarded requests). */
  readonly nodeUrl: string;
  /** --node-url was not given: the public URL stands in (right on one machine, rarely across several). */
  readonly nodeUrlDefaulted: boolean;
}

/** A flag value that cannot work: start-up stops with this one line and exit code 2. */
export class ConfigError extends Error {}

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new ConfigError(`${name} must be a whole number, got "${value}"`);
    const n = Number(value);
    if (n < min || n > max) throw new ConfigError(`${name} must be between ${String(min)} and ${String(max)}, got ${value}`);
    return n;
  };
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i;
const UNIT: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

export function parseSize(value: string): number {
  const match = SIZE.exec(value.trim());
  if (!match) throw new ConfigError(`--max-body must be a size such as 64mb or 1048576, got "${value}"`);
  const bytes = Math.floor(Number(match[1]) * (UNIT[(match[2] ?? 'b').toLowerCase()] ?? 1));
  if (bytes < 1024) throw new ConfigError(`--max-body must be at least 1kb, got "${value}"`);
  return bytes;
}

function oneOf<T extends string>(name: string, allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) {
      throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
    }
    return value as T;
  };
}

function publicUrl(webhookHost: string, port: number): string {
  if (/^https?:\/\//i.test(webhookHost)) return webhookHost.replace(/\/+$/, '');
  return `http://${webhookHost}:${String(port)}`;
}

export function buildProgram(version: string): Command {
  return new Command('multi-session')
    .description('Run many independent WhatsApp sessions behind one REST API, Swagger page and web UI')
    .version(version)
    .addOption(new Option('--port <port>', 'server port').default('8080').env('MULTI_SESSION_PORT'))
    .addOption(new Option('--host <host>', 'server host').default('0.0.0.0').env('MULTI_SESSION_HOST'))
    .addOption(new Option('--max-sessions <number>', 'maximum concurrent sessions').default('10').env('MULTI_SESSION_MAX_SESSIONS'))
    .addOption(new Option('--use-chrome', 'use an installed Google Chrome instead of Chromium').env('MULTI_SESSION_USE_CHROME'))
    .addOption(
      new Option('--webhook-host <host>', 'public host put into the URLs the server hands out').default('localhost').env('MULTI_SESSION_WEBHOOK_HOST'),
    )
    .addOption(new Option('--sessions-dir <dir>', 'where sessions are stored').default('./sessions').env('MULTI_SESSION_SESSIONS_DIR'))
    .addOption(new Option('--api-key <key>', 'require this key on /api/v1 and /info').env('MULTI_SESSION_API_KEY'))
    .addOption(new Option('--engine <engine>', `default engine of new sessions (${ENGINES.join(', ')})`).default('wa-automate').env('MULTI_SESSION_ENGINE'))
    .addOption(new Option('--executable-path <path>', 'browser to launch (default: found automatically)').env('MULTI_SESSION_EXECUTABLE_PATH'))
    .addOption(new Option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`).default('info').env('MULTI_SESSION_LOG_LEVEL'))
    .addOption(new Option('--max-body <size>', 'largest JSON body accepted').default('64mb').env('MULTI_SESSION_MAX_BODY'))
    .addOption(new Option('--rate-limit <n>', 'requests a minute per client on /api/v1 (0: off)').default('6000').env('MULTI_SESSION_RATE_LIMIT'))
    .addOption(
      new Option('--send-rate-limit <n>', 'messages a minute per session on the send endpoints (0: off)').default('60').env('MULTI_SESSION_SEND_RATE_LIMIT'),
    )
    .addOption(
      new Option('--cors-origin <origin>', 'let this browser origin call the API (repeatable; none by default)')
        .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value])
        .env('MULTI_SESSION_CORS_ORIGIN'),
    )
    .addOption(new Option('--database-url <url>', 'postgres://user:pass@host/db (default: an SQLite file in the sessions folder)').env('MULTI_SESSION_DATABASE_URL'))
    .addOption(new Option('--event-retention-days <n>', 'days the event log keeps events').default('7').env('MULTI_SESSION_EVENT_RETENTION_DAYS'))
    .addOption(new Option('--media-retention-days <n>', 'days received media files are kept').default('30').env('MULTI_SESSION_MEDIA_RETENTION_DAYS'))
    .addOption(
      new Option('--webhook-url <url>', "a webhook for every session's events (repeatable)")
        .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value])
        .env('MULTI_SESSION_WEBHOOK_URL'),
    )
    .addOption(new Option('--webhook-secret <secret>', 'whsec_<base64>: signs the server-wide webhooks').env('MULTI_SESSION_WEBHOOK_SECRET'))
    .addOption(new Option('--webhook-events <names>', 'comma-separated events for the server-wide webhooks (default: all)').env('MULTI_SESSION_WEBHOOK_EVENTS'))
    .addOption(new Option('--metrics-public', 'serve GET /metrics without the API key (for a scraper on a private network)').env('MULTI_SESSION_METRICS_PUBLIC'))
    .addOption(
      new Option('--trust-proxy <value>', "behind a reverse proxy: Express's trust proxy (true, a hop count, or addresses/subnets such as loopback,10.0.0.0/8)").env(
        'MULTI_SESSION_TRUST_PROXY',
      ),
    )
    .addOption(new Option('--log-format <format>', 'text or json (one JSON object per line)').default('text').env('MULTI_SESSION_LOG_FORMAT'))
    .addOption(
      new Option('--max-memory-mb <n>', "default memory cap of a session's process tree (PSS), restarted above it; 0: none").default('0').env(
        'MULTI_SESSION_MAX_MEMORY_MB',
      ),
    )
    .addOption(new Option('--cluster', 'run as one node of a cluster sharing --database-url (Postgres) and the sessions folder').env('MULTI_SESSION_CLUSTER'))
    .addOption(new Option('--node-id <id>', 'this node\'s name in the cluster (default: the host name)').env('MULTI_SESSION_NODE_ID'))
    .addOption(new Option('--node-url <url>', 'how the other nodes reach this one (default: the public URL)').env('MULTI_SESSION_NODE_URL'))
    .addOption(
      new Option('--allow-private-urls', "let send-* fetch media by URL from this machine's own, loopback, link-local and private addresses").env(
        'MULTI_SESSION_ALLOW_PRIVATE_URLS',
      ),
    )
    .showHelpAfterError(false)
    // main.ts prints the one-line reason itself.
    .configureOutput({ writeErr: () => undefined })
    .exitOverride();
}

interface RawOptions {
  port: string;
  host: string;
  maxSessions: string;
  useChrome?: boolean;
  webhookHost: string;
  sessionsDir: string;
  apiKey?: string;
  engine: string;
  executablePath?: string;
  logLevel: string;
  maxBody: string;
  rateLimit: string;
  sendRateLimit: string;
  corsOrigin?: string[] | string;
  databaseUrl?: string;
  eventRetentionDays: string;
  mediaRetentionDays: string;
  webhookUrl?: string[] | string;
  allowPrivateUrls?: boolean;
  metricsPublic?: boolean;
  trustProxy?: string;
  logFormat: string;
  maxMemoryMb: string;
  webhookSecret?: string;
  webhookEvents?: string;
  cluster?: boolean;
  nodeId?: string;
  nodeUrl?: string;
}

function origins(raw: string[] | string | undefined): string[] {
  const list = (Array.isArray(raw) ? raw : raw ? [raw] : []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const origin of list) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new ConfigError(`--cors-origin must be an origin such as https://app.example.com, got "${origin}"`);
    }
    if (url.origin !== origin.replace(/\/$/, '') || !/^https?:$/.test(url.protocol)) {
      throw new ConfigError(`--cors-origin must be an origin such as https://app.example.com (no path), got "${origin}"`);
    }
  }
  return list.map((o) => o.replace(/\/$/, ''));
}

function databaseUrl(raw: string | undefined): string | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  if (!/^postgres(?:ql)?:\/\/./i.test(value) && !/^sqlite:(?:\/\/)?\//i.test(value)) {
    throw new ConfigError(
      '--database-url must be a postgres:// URL such as postgres://user:pass@host:5432/db, or sqlite:/absolute/path.db (leave it out for the SQLite file in the sessions folder)',
    );
  }
  return value;
}

function webhookUrls(raw: string[] | string | undefined): string[] {
  const list = (Array.isArray(raw) ? raw : raw ? [raw] : []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const url of list) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError(`--webhook-url must be an http:// or https:// URL, got "${url}"`);
    }
    if (!/^https?:$/.test(parsed.protocol)) throw new ConfigError(`--webhook-url must be an http:// or https:// URL, got "${url}"`);
  }
  return list;
}

function webhookSecret(raw: string | undefined): string | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  if (!WEBHOOK_SECRET_PATTERN.test(value)) throw new ConfigError('--webhook-secret must be whsec_ followed by base64 (at least 12 bytes), e.g. whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  return value;
}

function webhookEvents(raw: string | undefined): readonly string[] | undefined {
  const list = (raw ?? '').split(',').map((v) => v.trim()).filter(Boolean);
  if (list.length === 0 || list.includes('*')) return undefined;
  for (const name of list) {
    if (!(STORED_EVENTS as readonly string[]).includes(name)) {
      throw new ConfigError(`--webhook-events: unknown event "${name}" (one of ${STORED_EVENTS.join(', ')}, or *)`);
    }
  }
  return Object.freeze(list);
}

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * --cluster and its flags. Leases need the database's clock and row locks shared by every node, so
 * the cluster runs on Postgres only: refused with one line otherwise. --node-id and --node-url mean
 * nothing without --cluster and are refused too, so a typo is not silently a single server.
 */
function cluster(raw: RawOptions, database: string | undefined, fallbackUrl: string): ClusterConfig | undefined {
  if (raw.cluster !== true) {
    if (raw.nodeId !== undefined || raw.nodeUrl !== undefined) throw new ConfigError('--node-id and --node-url need --cluster');
    return undefined;
  }
  if (!database || !/^postgres(?:ql)?:/i.test(database)) {
    throw new ConfigError('--cluster needs a Postgres --database-url (postgres://user:pass@host:5432/db) shared by every node: leases live there');
  }
  const nodeId = (raw.nodeId ?? os.hostname()).trim();
  if (!NODE_ID.test(nodeId)) {
    throw new ConfigError(`--node-id must be 1 to 63 letters, digits, dots, dashes or underscores, got "${nodeId}"${raw.nodeId === undefined ? ' (the host name): pass --node-id' : ''}`);
  }
  const nodeUrl = (raw.nodeUrl ?? fallbackUrl).trim().replace(/\/+$/, '');
  let parsed: URL | undefined;
  try {
    parsed = new URL(nodeUrl);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.pathname !== '/' || parsed.search || parsed.hash) {
    throw new ConfigError(`--node-url must be an http:// or https:// base URL such as http://10.0.0.5:8080 (no path), got "${nodeUrl}"`);
  }
  return Object.freeze({ nodeId, nodeUrl, nodeUrlDefaulted: raw.nodeUrl === undefined });
}

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** A switch given by an environment variable: true/1/yes/on or false/0/no/off (or empty). */
function envSwitch(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${value}"`);
}

/** `true`/`false`, a hop count, or a comma-separated list of addresses, subnets or Express's names (loopback...). */
function trustProxy(raw: string | undefined): boolean | number | string | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const parts = value.split(',').map((p) => p.trim());
  const ok = parts.every((p) => /^(loopback|linklocal|uniquelocal)$/.test(p) || /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(p));
  if (!ok) throw new ConfigError(`--trust-proxy must be true, a hop count, or addresses/subnets such as loopback,10.0.0.0/8, got "${value}"`);
  return parts.join(',');
}

/** argv → a validated, frozen config. Throws ConfigError, or CommanderError for --help/--version. */
export function parseConfig(argv: string[], version: string): ServerConfig {
  const program = buildProgram(version);
  program.parse(argv, { from: 'user' });
  const raw = program.opts<RawOptions>();
  // Commander turns a switch on whenever its variable is set, even to "false": read its value.
  // Every switch is a boolean from here on.
  for (const option of program.options) {
    const key = option.attributeName();
    if (option.isBoolean() && option.envVar !== undefined && program.getOptionValueSource(key) === 'env') {
      (raw as unknown as Record<string, unknown>)[key] = envSwitch(option.envVar, process.env[option.envVar] ?? '');
    }
  }
  const port = integer('--port', 0, 65535)(raw.port);
  const host = raw.host.trim();
  if (!host) throw new ConfigError('--host must not be empty');
  const webhookHost = raw.webhookHost.trim();
  if (!webhookHost || /\s/.test(webhookHost)) throw new ConfigError(`--webhook-host must be a host name, got "${raw.webhookHost}"`);
  const apiKey = raw.apiKey?.trim();
  if (raw.apiKey !== undefined && (!apiKey || apiKey.length < 8)) {
    throw new ConfigError('--api-key must be at least 8 characters');
  }
  const sessionsDir = raw.sessionsDir.trim();
  if (!sessionsDir) throw new ConfigError('--sessions-dir must not be empty');
  const database = databaseUrl(raw.databaseUrl);
  return Object.freeze({
    port,
    host,
    maxSessions: integer('--max-sessions', 1, 1000)(raw.maxSessions),
    useChrome: raw.useChrome === true,
    webhookHost,
    sessionsDir,
    apiKey: apiKey || undefined,
    engine: oneOf('--engine', ENGINES)(raw.engine),
    executablePath: raw.executablePath?.trim() || undefined,
    logLevel: oneOf('--log-level', LOG_LEVELS)(raw.logLevel),
    maxBodyBytes: parseSize(raw.maxBody),
    rateLimit: integer('--rate-limit', 0, 1_000_000)(raw.rateLimit),
    sendRateLimit: integer('--send-rate-limit', 0, 1_000_000)(raw.sendRateLimit),
    corsOrigins: Object.freeze(origins(raw.corsOrigin)),
    publicUrl: publicUrl(webhookHost, port),
    databaseUrl: database,
    eventRetentionDays: integer('--event-retention-days', 1, 3650)(raw.eventRetentionDays),
    mediaRetentionDays: integer('--media-retention-days', 1, 3650)(raw.mediaRetentionDays),
    webhookUrls: Object.freeze(webhookUrls(raw.webhookUrl)),
    webhookSecret: webhookSecret(raw.webhookSecret),
    webhookEvents: webhookEvents(raw.webhookEvents),
    allowPrivateUrls: raw.allowPrivateUrls === true,
    metricsPublic: raw.metricsPublic === true,
    trustProxy: trustProxy(raw.trustProxy),
    logFormat: oneOf('--log-format', LOG_FORMATS)(raw.logFormat),
    maxMemoryMB: integer('--max-memory-mb', 0, 1_048_576)(raw.maxMemoryMb),
    cluster: cluster(raw, database, publicUrl(webhookHost, port)),
  });
}

export { CommanderError };
