import { rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Where the baileys engine keeps a session's login: one folder inside sessions/<id>/session-data,
 * so the login moves with the session's folder and a logout removes it whole. Kept free of
 * Baileys itself: the server asks for these paths without loading the engine.
 */
export const BAILEYS_LOGIN_DIR = 'baileys';

export function loginDir(sessionDataDir: string): string {
  return path.join(sessionDataDir, BAILEYS_LOGIN_DIR);
}

export function loginPaths(sessionDataDir: string): string[] {
  return [loginDir(sessionDataDir)];
}

/** Removes the login folder; call once nothing writes to it any more (AuthStore.close()). */
export async function removeLogin(sessionDataDir: string): Promise<void> {
  await rm(loginDir(sessionDataDir), { recursive: true, force: true, maxRetries: 3 });
}
