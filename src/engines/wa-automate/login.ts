import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describeError } from '../../errors.js';
import type { EngineLog } from '../types.js';
import type { WaClient } from './open-wa.js';
import { within } from './within.js';

const LOGOUT_TIMEOUT_MS = 15_000;
const KILL_TIMEOUT_MS = 5000;

/**
 * Where open-wa keeps a session's login inside sessions/<id>/session-data: the browser profile
 * (which holds WhatsApp Web's IndexedDB) and, without multi-device, its session file.
 */
export function profileDir(sessionDataDir: string, sessionId: string): string {
  return path.join(sessionDataDir, `_IGNORE_${sessionId}`);
}

export function loginPaths(sessionDataDir: string, sessionId: string): string[] {
  return [profileDir(sessionDataDir, sessionId), path.join(sessionDataDir, `${sessionId}.data.json`)];
}

/** Deletes the login; call once no browser runs on the profile. Returns what could not be removed. */
export async function removeLogin(sessionDataDir: string, sessionId: string): Promise<string[]> {
  const left: string[] = [];
  for (const target of loginPaths(sessionDataDir, sessionId)) {
    await rm(target, { recursive: true, force: true, maxRetries: 3 }).catch((err: unknown) => {
      left.push(`${target} (${err instanceof Error ? err.message : String(err)})`);
    });
  }
  return left;
}

export interface EndLogin {
  /** open-wa's client, once the login finished; before that only the profile sweep reaches the browser. */
  client: WaClient | undefined;
  /** Unlink the device first (a logout on request); the phone has done it otherwise. */
  unlink: boolean;
  sessionDataDir: string;
  sessionId: string;
  /** Ends the browsers running on a profile inside the folder. */
  sweep: (folder: string) => Promise<unknown>;
  log: (level: EngineLog['level'], message: string) => void;
}

/**
 * A logout's work, in an order that cannot race the browser: unlink (if asked, bounded), end the
 * browser (open-wa's kill, then the profile sweep for one it never handed over or that hung), and
 * only then delete the login. open-wa's own kill and delete on logout stay off (options.ts).
 */
export async function endLogin(steps: EndLogin): Promise<void> {
  const { client, log } = steps;
  if (client && steps.unlink) {
    await within(client.logout(), LOGOUT_TIMEOUT_MS, 'logout()').catch((err: unknown) => {
      log('warn', `WhatsApp did not confirm the logout (${describeError(err)}); the login is removed anyway`);
    });
  }
  if (client) await within(client.kill('LOGGED_OUT'), KILL_TIMEOUT_MS, 'kill()').catch(() => false);
  await steps.sweep(steps.sessionDataDir).catch(() => undefined);
  for (const left of await removeLogin(steps.sessionDataDir, steps.sessionId)) log('error', `could not remove the login at ${left}`);
}
