import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { ENGINES, SESSION_ID_PATTERN, sessionConfigSchema, type EngineName, type SessionConfig } from './config.js';

export const CONFIG_FILE = 'config.json';
export const DATA_DIR = 'session-data';

const storedSessionSchema = z.object({
  sessionId: z.string().regex(SESSION_ID_PATTERN),
  engine: z.enum(ENGINES),
  config: sessionConfigSchema,
  createdAt: z.string(),
  desiredState: z.enum(['running', 'stopped']),
});
export type StoredSession = z.infer<typeof storedSessionSchema>;

export type StoredEntry = { id: string; record: StoredSession } | { id: string; error: string };

/**
 * sessions/<id>/config.json (atomic, 0600) and sessions/<id>/session-data/. Every path is built
 * from an id that matched the session id rule first, so nothing outside the root is ever touched.
 */
export class SessionStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
  }

  dir(id: string): string {
    if (!SESSION_ID_PATTERN.test(id)) throw new AppError('VALIDATION_ERROR', `invalid session id: ${JSON.stringify(id)}`);
    return path.join(this.root, id);
  }

  dataDir(id: string): string {
    return path.join(this.dir(id), DATA_DIR);
  }

  async list(): Promise<StoredEntry[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    const out: StoredEntry[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !SESSION_ID_PATTERN.test(entry.name)) continue;
      out.push(await this.#read(entry.name));
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async #read(id: string): Promise<StoredEntry> {
    const file = path.join(this.dir(id), CONFIG_FILE);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return {
        id,
        error:
          code === 'ENOENT'
            ? `sessions/${id}/config.json is missing: delete the session or restore the file`
            : `sessions/${id}/config.json cannot be read (${code ?? 'error'}): delete the session or fix the file`,
      };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { id, error: `sessions/${id}/config.json is not valid JSON: delete the session or fix the file` };
    }
    const parsed = storedSessionSchema.safeParse(json);
    if (!parsed.success) {
      const where = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
      return { id, error: `sessions/${id}/config.json is invalid (${where}): delete the session or fix the file` };
    }
    if (parsed.data.sessionId !== id) {
      return { id, error: `sessions/${id}/config.json names another session (${parsed.data.sessionId})` };
    }
    return { id, record: parsed.data };
  }

  async exists(id: string): Promise<boolean> {
    try {
      await stat(this.dir(id));
      return true;
    } catch {
      return false;
    }
  }

  async save(record: StoredSession): Promise<void> {
    const dir = this.dir(record.sessionId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(path.join(dir, CONFIG_FILE), `${JSON.stringify(record, null, 2)}\n`, 0o600);
  }

  async remove(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true, maxRetries: 3 });
  }
}

export function newRecord(id: string, engine: EngineName, config: SessionConfig, running: boolean): StoredSession {
  return { sessionId: id, engine, config, createdAt: new Date().toISOString(), desiredState: running ? 'running' : 'stopped' };
}
