import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { AppError, describeError } from '../errors.js';
import { ENGINES, type EngineName } from '../engines/types.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { SESSION_ID_PATTERN, sessionConfigSchema, type SessionConfig } from './config.js';

export const CONFIG_FILE = 'config.json';
export const DATA_DIR = 'session-data';
export const MEDIA_DIR = 'media';
/** Files waiting to be sent (a send's media, until it went out or its queued job ended). */
export const OUTGOING_DIR = 'outgoing';
/** Folders on their way in (being created) or out (being deleted): never a session id (ids start with a letter or digit). */
const STAGING_PREFIX = '.staging-';
const TRASH_PREFIX = '.deleted-';

const storedSessionSchema = z.object({
  sessionId: z.string().regex(SESSION_ID_PATTERN),
  engine: z.enum(ENGINES),
  config: sessionConfigSchema,
  createdAt: z.string(),
  desiredState: z.enum(['running', 'stopped']),
});
export type StoredSession = z.infer<typeof storedSessionSchema>;

export type StoredEntry = { id: string; record: StoredSession } | { id: string; error: string };

const STORAGE_ERRORS: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'the operation is not permitted',
  EIO: 'an input/output error',
};

/** A failed write of the sessions folder, as the 507 a client gets: what failed, and that nothing changed. */
export function storageError(err: unknown, what: string): AppError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const why = code && STORAGE_ERRORS[code] ? `${STORAGE_ERRORS[code]} (${code})` : describeError(err);
  return new AppError('INSUFFICIENT_STORAGE', `could not write ${what}: ${why}; nothing was changed`);
}

/**
 * sessions/<id>/config.json (atomic, 0600) and sessions/<id>/session-data/. Every path is built
 * from an id that matched the session id rule first, so nothing outside the root is ever touched;
 * a session folder that is a link is refused, never followed.
 */
export class SessionStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** Creates the root and finishes what a crash interrupted: half-created and half-deleted folders go. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.root)) {
      if (name.startsWith(STAGING_PREFIX) || name.startsWith(TRASH_PREFIX)) {
        await rm(path.join(this.root, name), { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
      }
    }
  }

  dir(id: string): string {
    if (!SESSION_ID_PATTERN.test(id)) throw new AppError('VALIDATION_ERROR', `invalid session id: ${JSON.stringify(id)}`);
    return path.join(this.root, id);
  }

  dataDir(id: string): string {
    return path.join(this.dir(id), DATA_DIR);
  }

  mediaDir(id: string): string {
    return path.join(this.dir(id), MEDIA_DIR);
  }

  outgoingDir(id: string): string {
    return path.join(this.dir(id), OUTGOING_DIR);
  }

  /** The ids of the session folders, without reading them (symbolic links left out: list() reports them). */
  async ids(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && SESSION_ID_PATTERN.test(e.name)).map((e) => e.name);
  }

  async list(): Promise<StoredEntry[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    const out: StoredEntry[] = [];
    for (const entry of entries) {
      if (!SESSION_ID_PATTERN.test(entry.name)) continue;
      if (entry.isSymbolicLink()) {
        out.push({ id: entry.name, error: `sessions/${entry.name} is a symbolic link: it is never followed; delete it` });
        continue;
      }
      if (!entry.isDirectory()) continue;
      out.push(await this.#read(entry.name));
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * One session's folder as it is on disk now, or undefined when there is none (cluster mode: another
   * node, sharing the folder, may have created, changed or removed it).
   */
  async read(id: string): Promise<StoredEntry | undefined> {
    if (!SESSION_ID_PATTERN.test(id) || !(await this.exists(id))) return undefined;
    return this.#read(id);
  }

  async #read(id: string): Promise<StoredEntry> {
    const file = path.join(this.dir(id), CONFIG_FILE);
    let text: string;
    try {
      if ((await lstat(file)).isSymbolicLink()) return { id, error: `sessions/${id}/config.json is a symbolic link: delete the session` };
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
      await lstat(this.dir(id));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A new session's folder appears whole or not at all: it is written under a staging name and
   * renamed into place. A failed write leaves nothing behind (507).
   */
  async create(record: StoredSession): Promise<void> {
    const staging = path.join(this.root, `${STAGING_PREFIX}${record.sessionId}-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(staging, { mode: 0o700 });
      await writeFileAtomic(path.join(staging, CONFIG_FILE), `${JSON.stringify(record, null, 2)}\n`, 0o600);
      await rename(staging, this.dir(record.sessionId));
    } catch (err) {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      throw storageError(err, `sessions/${record.sessionId}/config.json`);
    }
  }

  /** Replaces config.json atomically; on failure the old file stays and the caller changes nothing (507). */
  async save(record: StoredSession): Promise<void> {
    const dir = this.dir(record.sessionId);
    try {
      await this.requireRealFolders(record.sessionId);
      await writeFileAtomic(path.join(dir, CONFIG_FILE), `${JSON.stringify(record, null, 2)}\n`, 0o600);
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw storageError(err, `sessions/${record.sessionId}/config.json`);
    }
  }

  /**
   * Deleting is a rename out of the way first (the session is gone from disk at once, or nothing
   * changed: 507), then `whileMoved` (ending its processes), then the removal, which init()
   * finishes after a crash.
   */
  async remove(id: string, whileMoved: () => Promise<void> = () => Promise.resolve()): Promise<void> {
    const dir = this.dir(id);
    const trash = path.join(this.root, `${TRASH_PREFIX}${id}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storageError(err, `sessions/${id}`);
    }
    await whileMoved();
    await rm(trash, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }

  /**
   * sessions/<id> and its session-data must be real folders: a link could point a browser
   * profile, or a logout's removal, outside the sessions folder.
   */
  async requireRealFolders(id: string): Promise<void> {
    for (const folder of [this.dir(id), this.dataDir(id), this.mediaDir(id), this.outgoingDir(id)]) {
      let info;
      try {
        info = await lstat(folder);
      } catch {
        continue;
      }
      if (info.isSymbolicLink()) {
        const rel = path.relative(this.root, folder);
        throw new AppError('SESSION_NOT_READY', `sessions/${rel} is a symbolic link: links are never followed; replace it with a real folder`, {
          path: `sessions/${rel}`,
        });
      }
    }
  }

  /** Whether a file can really be written in the root now (a full disk passes an access() check). */
  async writable(): Promise<{ ok: boolean; message: string }> {
    const probe = path.join(this.root, `${STAGING_PREFIX}health-${randomBytes(4).toString('hex')}`);
    try {
      await stat(this.root);
      await writeFile(probe, 'ok', { mode: 0o600 });
      await unlink(probe);
      return { ok: true, message: `${this.root} is writable` };
    } catch (err) {
      await unlink(probe).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      return { ok: false, message: `${this.root} cannot be written: ${code && STORAGE_ERRORS[code] ? `${STORAGE_ERRORS[code]} (${code})` : describeError(err)}` };
    }
  }
}

export function newRecord(id: string, engine: EngineName, config: SessionConfig, running: boolean): StoredSession {
  return { sessionId: id, engine, config, createdAt: new Date().toISOString(), desiredState: running ? 'running' : 'stopped' };
}
