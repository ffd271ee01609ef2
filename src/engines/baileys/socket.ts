import type https from 'node:https';
import makeWASocket, { fetchLatestWaWebVersion, type SignalKeyStore, type WAMessageKey, type WASocket, type WAVersion, type proto } from '@whiskeysockets/baileys';
import { describeError } from '../../errors.js';
import type { EngineLog } from '../types.js';
import { within } from '../wa-automate/within.js';
import type { LoadedLogin } from './auth-store.js';
import type { BaileysLogger } from './logger.js';
import { failOnHttpAnswer, type BaileysRoute } from './proxy.js';

/**
 * How long a connection may take to show a QR code or open (the first one of a worker failing so
 * fails the session, retryable). MULTI_SESSION_BAILEYS_CONNECT_MS overrides it: the server does not
 * pass MULTI_SESSION_* variables to workers (worker/client.ts workerEnv), so it is for a worker
 * started with it, as the tests do.
 */
export const CONNECT_MS = 20_000;
/** How long asking web.whatsapp.com for its current version may take before Baileys' own is used. */
const VERSION_MS = 5000;

export function connectDeadlineMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.MULTI_SESSION_BAILEYS_CONNECT_MS);
  return Number.isInteger(value) && value > 0 ? value : CONNECT_MS;
}

/**
 * WhatsApp's current web version (its service worker names it), which Baileys recommends over the
 * one it was built with (Utils/generics.js fetchLatestWaWebVersion); through the session's proxy.
 * Baileys' own when it cannot be had in time (axios' own timeout never fires while a proxy holds
 * the CONNECT unanswered: the abort signal and `within` bound it).
 */
export async function webVersion(route: BaileysRoute, log: (level: EngineLog['level'], message: string) => void): Promise<WAVersion | undefined> {
  const asked = fetchLatestWaWebVersion({ ...route.axiosOptions, timeout: VERSION_MS, signal: AbortSignal.timeout(VERSION_MS) });
  const answer = await within(asked, VERSION_MS + 1000, 'the version request').catch((err: unknown) => ({ version: undefined, isLatest: false, error: err }));
  if (!answer.isLatest) log('debug', `baileys: WhatsApp Web's current version is not known (${describeError(answer.error)}); using Baileys' own`);
  return answer.isLatest ? answer.version : undefined;
}

export interface SocketSetup {
  route: BaileysRoute;
  login: LoadedLogin;
  /** The login's keys, cached once for every socket of the worker (makeCacheableSignalKeyStore). */
  keys: SignalKeyStore;
  logger: BaileysLogger;
  version: WAVersion | undefined;
  /** A message this worker sent or saw, for a recipient's retry (SentCache.get). */
  getMessage(key: WAMessageKey): proto.IMessage | undefined;
}

/** A Baileys socket on the saved login, its every way out through the session's proxy (proxy.ts). */
export function openSocket(setup: SocketSetup): WASocket {
  const { route, login, keys, logger, version } = setup;
  // agent-base agents serve https requests; Baileys' typings name https.Agent.
  const agent = route.agent as https.Agent | undefined;
  const sock = makeWASocket({
    auth: { creds: login.creds, keys },
    logger,
    ...(version ? { version } : {}),
    agent,
    fetchAgent: agent,
    options: route.axiosOptions,
    // The phone keeps its notifications: this device does not show the account online.
    markOnlineOnConnect: false,
    syncFullHistory: false,
    getMessage: (key) => Promise.resolve(setup.getMessage(key)),
  });
  // With or without a proxy: an HTTP answer instead of the upgrade would leave Baileys waiting.
  failOnHttpAnswer(sock.ws, route, (err) => sock.end(err));
  return sock;
}
