import path from 'node:path';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { ENGINES, type EngineName, type ResolvedSessionConfig } from '../engines/types.js';
import { normalizeProxy, PROXY_PROTOCOLS } from '../proxy/parse.js';
import { webhooksSchema } from '../webhooks/schema.js';

export const SESSION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export const sessionIdSchema = z
  .string()
  .regex(SESSION_ID_PATTERN, {
    message:
      'session id must be 1-64 characters: letters, digits, "_" or "-", starting with a letter or digit',
  })
  .meta({ id: 'SessionId', example: 'my-session-1' });

export const proxyCredentialsSchema = z
  .strictObject({
    protocol: z.enum(PROXY_PROTOCOLS).optional(),
    address: z.string().min(1, 'proxy address is required').meta({
      description: 'host:port, or a URL such as socks5://user:pass@proxy.example.com:1080',
    }),
    username: z.string().optional(),
    password: z.string().optional(),
  })
  .superRefine((value, ctx) => {
    try {
      normalizeProxy(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof AppError ? err.message : String(err), path: ['address'] });
    }
  })
  .meta({
    id: 'ProxyServerCredentials',
    example: { protocol: 'socks5', address: 'proxy.example.com:1080', username: 'user', password: 'pass' },
  });

const seconds = z.number().int().min(0).max(86_400);
const delayMs = z.number().int().min(0).max(3_600_000);

/** What a session's `sendQueue: {}` means. */
export const SEND_QUEUE_DEFAULTS = { minDelayMs: 1000, maxDelayMs: 5000 } as const;

/**
 * Browser flags a session may not set: they would run programs (…-cmd-prefix, …-launcher), move the
 * profile or files elsewhere, open a debugging port, load code, or send traffic around the
 * session's proxy relay. Anyone with the API key may set chromiumArgs; these stay the operator's.
 */
const FORBIDDEN_FLAG =
  /^--(?:ignore-certifi?cate-errors[a-z-]*|ignore-certifcate-errors[a-z-]*|ignore-urlfetcher-cert-requests|allow-insecure-localhost|user-agent|enable-crash-reporter[a-z-]*|[a-z0-9-]*cmd-prefix|[a-z0-9-]*launcher|browser-subprocess-path|user-data-dir|profile-directory|proxy-[a-z-]+|no-proxy-server|host-rules|remote-debugging-[a-z-]+|remote-allow-origins|load-extension|disable-extensions-except|log-file|crash-dumps-dir|disk-cache-dir)(?:=|$)/i;

const chromiumFlag = z
  .string()
  .min(1)
  .refine((flag) => !FORBIDDEN_FLAG.test(flag.trim()), {
    message:
      'this flag is not allowed: it could run programs, move the profile, open a debugging port, bypass the proxy, ignore certificate errors, set the user agent (use config.userAgent) or turn crash reporting on',
  });

/** Every key a session's config may hold; unknown keys are refused, never dropped. */
export const sessionConfigShape = {
  engine: z.enum(ENGINES).meta({ description: "defaults to the server's --engine" }),
  multiDevice: z.boolean(),
  headless: z.boolean(),
  userAgent: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[\x20-\x7E]+$/, { message: 'printable ASCII only: it is sent as an HTTP header' })
    .meta({ description: "the browser's User-Agent; default: what a desktop Chrome of the launched browser's version sends (no \"Headless\")" }),
  useChrome: z.boolean().meta({ description: 'use an installed Google Chrome instead of Chromium' }),
  executablePath: z
    .string()
    .min(1)
    .regex(/^\//, 'must be an absolute path')
    .refine((p) => path.isAbsolute(p) && /chrom/i.test(path.basename(p)), {
      message: 'must be the absolute path of a Chrome or Chromium binary (its name contains "chrom")',
    })
    .meta({ description: 'browser to launch; found automatically if absent' }),
  chromiumArgs: z
    .array(chromiumFlag)
    .max(100)
    .meta({ description: 'extra browser flags (flags that run programs, move the profile, debug or bypass the proxy are refused)' }),
  qrTimeout: seconds.meta({ description: 'seconds to wait for a scan; 0 waits forever' }),
  authTimeout: seconds.meta({ description: 'seconds the first sync after a login may go without progress before the session fails and restarts (default 300; 0: no limit)' }),
  restartOnCrash: z.boolean(),
  maxRestarts: z
    .number()
    .int()
    .min(0)
    .max(1000)
    .meta({ description: 'failures in a row, before any QR or login, after which the session stays failed (default 5; 0: never restart)' }),
  killProcessOnBrowserClose: z.boolean().meta({ description: 'end the session when its browser closes' }),
  maxMemoryMB: z
    .number()
    .int()
    .min(64)
    .max(1_048_576)
    .meta({ description: "restart the session when its processes (worker, browser and its children; PSS) stay above this many MiB for 3 samples in a row (10 s apart); its login survives. Default: the server's --max-memory-mb (none)" }),
  proxyServerCredentials: proxyCredentialsSchema,
  node: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/)
    .meta({ description: 'cluster mode: the node (--node-id) that should run it when it is created; by default the live node with the most free slots' }),
  sandbox: z
    .strictObject({
      autoScan: z.boolean().optional().meta({ description: 'the simulated phone scans the first QR by itself' }),
      qrRotateSeconds: z.number().int().min(1).max(3600).optional().meta({ description: 'default 20' }),
    })
    .meta({ description: 'options of the sandbox engine' }),
  // Read by the server, never by the engine: a change applies to the next event, without a restart.
  webhooks: webhooksSchema,
  // Read by the server's send queue: a change applies from the next job.
  sendQueue: z
    .strictObject({
      minDelayMs: delayMs.optional().meta({ description: `least wait between two sends (default ${String(SEND_QUEUE_DEFAULTS.minDelayMs)})` }),
      maxDelayMs: delayMs.optional().meta({ description: `most wait between two sends (default the larger of minDelayMs and ${String(SEND_QUEUE_DEFAULTS.maxDelayMs)})` }),
      typing: z.boolean().optional().meta({ description: 'show "typing…" for a moment before each text (default false)' }),
      dailyNewChatLimit: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .optional()
        .meta({ description: 'first messages to chats that never wrote to this session, at most, per 24 h (default: no limit)' }),
    })
    .refine((q) => q.minDelayMs === undefined || q.maxDelayMs === undefined || q.maxDelayMs >= q.minDelayMs, {
      message: 'maxDelayMs must be at least minDelayMs',
      path: ['maxDelayMs'],
    })
    .meta({ description: 'send one message at a time, a random delay apart, like a person: every send waits its turn in a durable queue' }),
};

const configObject = z.strictObject(sessionConfigShape);

export const sessionConfigSchema = configObject
  .partial()
  .meta({ id: 'SessionConfig', example: { multiDevice: true, headless: true, qrTimeout: 120, authTimeout: 300 } });
export type SessionConfig = z.infer<typeof sessionConfigSchema>;

type Shape = typeof sessionConfigShape;
type PatchShape = { [K in keyof Shape]: z.ZodOptional<z.ZodNullable<Shape[K]>> };
const patchShape = Object.fromEntries(
  Object.entries(sessionConfigShape).map(([key, schema]) => [key, schema.nullable().optional()]),
) as PatchShape;

/** PATCH: the given keys replace the stored ones; `null` removes a key. */
export const sessionConfigPatchSchema = z.strictObject(patchShape).meta({ id: 'SessionConfigPatch' });
export type SessionConfigPatch = z.infer<typeof sessionConfigPatchSchema>;

export function applyConfigPatch(config: SessionConfig, patch: SessionConfigPatch): SessionConfig {
  const next: Record<string, unknown> = { ...config };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return sessionConfigSchema.parse(next);
}

export const DEFAULT_MAX_RESTARTS = 5;
/** A large account's first sync after the scan takes minutes: cutting it short only starts it over. */
export const DEFAULT_AUTH_TIMEOUT_S = 300;

export interface ConfigDefaults {
  engine: EngineName;
  useChrome: boolean;
  executablePath: string | undefined;
}

export function resolveConfig(engine: EngineName, config: SessionConfig, defaults: ConfigDefaults): ResolvedSessionConfig {
  return {
    engine,
    multiDevice: config.multiDevice ?? true,
    headless: config.headless ?? true,
    userAgent: config.userAgent,
    useChrome: config.useChrome ?? defaults.useChrome,
    executablePath: config.executablePath ?? defaults.executablePath,
    chromiumArgs: config.chromiumArgs ?? [],
    qrTimeout: config.qrTimeout ?? 120,
    authTimeout: config.authTimeout ?? DEFAULT_AUTH_TIMEOUT_S,
    restartOnCrash: config.restartOnCrash ?? true,
    maxRestarts: config.maxRestarts ?? DEFAULT_MAX_RESTARTS,
    killProcessOnBrowserClose: config.killProcessOnBrowserClose ?? false,
    proxyServerCredentials: config.proxyServerCredentials,
    sandbox: { autoScan: config.sandbox?.autoScan ?? false, qrRotateSeconds: config.sandbox?.qrRotateSeconds ?? 20 },
  };
}

export interface ResolvedSendQueue {
  minDelayMs: number;
  maxDelayMs: number;
  typing: boolean;
  dailyNewChatLimit: number | undefined;
}

/** The session's send pacing with its defaults filled in; undefined: it has no send queue. */
export function resolveSendQueue(config: SessionConfig): ResolvedSendQueue | undefined {
  const q = config.sendQueue;
  if (!q) return undefined;
  const minDelayMs = q.minDelayMs ?? Math.min(SEND_QUEUE_DEFAULTS.minDelayMs, q.maxDelayMs ?? Infinity);
  return {
    minDelayMs,
    maxDelayMs: q.maxDelayMs ?? Math.max(minDelayMs, SEND_QUEUE_DEFAULTS.maxDelayMs),
    typing: q.typing ?? false,
    dailyNewChatLimit: q.dailyNewChatLimit,
  };
}
