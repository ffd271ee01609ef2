import path from 'node:path';

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
