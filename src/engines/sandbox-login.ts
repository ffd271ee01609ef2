import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { Me } from './types.js';

/** The sandbox's login layout: one token file in session-data/ (what logout removes). */
export const SANDBOX_LOGIN_FILE = 'sandbox-login.json';
/** The name every simulated phone goes by. */
export const PHONE_NAME = 'Sandbox Phone';

interface LoginToken {
  me: Me;
  linkedAt: string;
}

export function loginFile(sessionDataDir: string): string {
  return path.join(sessionDataDir, SANDBOX_LOGIN_FILE);
}

/** A phone scanning the QR is some number: ten digits, not starting with 0. */
export function randomPhoneNumber(): string {
  return `${String(randomInt(1, 10))}${String(randomInt(100_000_000, 1_000_000_000))}`;
}

export async function writeLogin(sessionDataDir: string, me: Me): Promise<void> {
  await writeFileAtomic(loginFile(sessionDataDir), JSON.stringify({ me, linkedAt: new Date().toISOString() } satisfies LoginToken));
}

/** The saved login's account, or null (none, or unreadable: a new scan is needed). */
export async function readLogin(sessionDataDir: string, warn: (message: string) => void): Promise<Me | null> {
  try {
    const token = JSON.parse(await readFile(loginFile(sessionDataDir), 'utf8')) as Partial<LoginToken>;
    if (token.me && typeof token.me.id === 'string') return token.me;
    warn('sandbox: the saved login is unreadable; a new QR scan is needed');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn(`sandbox: the saved login is unreadable (${String(err)}); a new QR scan is needed`);
  }
  return null;
}
