import { lstat, mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BufferJSON, initAuthCreds, proto } from '@whiskeysockets/baileys';
import type { AuthenticationCreds, SignalDataSet, SignalDataTypeMap, SignalKeyStore } from '@whiskeysockets/baileys';
import { describeError } from '../../errors.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import type { EngineLog } from '../types.js';

/** The login's identity; every other file in the folder is one Signal key (`<type>-<id>.json`). */
export const CREDS_FILE = 'creds.json';

type Log = (level: EngineLog['level'], message: string) => void;
type KeyType = keyof SignalDataTypeMap;

/**
 * A key's file name: its type, then its id with everything but letters, digits and `._-!~*'()`
 * percent-encoded. Ids come from WhatsApp (jids, numbers); encoded, none can name another folder,
 * and the type in front keeps `.` and `..` from ever being a whole name.
 */
export function keyFileName(type: KeyType, id: string): string {
  return `${type}-${encodeURIComponent(id)}.json`;
}

/** Whether the creds are a linked device's (a scan or a pairing code went through), not only a new identity. */
export function isLinked(creds: AuthenticationCreds): boolean {
  return creds.me !== undefined && creds.account !== undefined && creds.account !== null;
}

/**
 * A pairing code that was asked for but never entered leaves `me` set on creds that are not linked
 * (Baileys' requestPairingCode writes it first). Baileys would then try to log in as that number
 * instead of showing a QR code, and WhatsApp would answer 401 ("logged out"): it is forgotten, and
 * a new code can be asked for. True when there was one.
 */
export function forgetUnfinishedPairing(creds: AuthenticationCreds): boolean {
  if (creds.me === undefined || isLinked(creds)) return false;
  delete creds.me;
  creds.pairingCode = undefined;
  return true;
}

function parse(text: string): unknown {
  return JSON.parse(text, BufferJSON.reviver) as unknown;
}

/** The parts of creds Baileys cannot start without; anything less is an unreadable login. */
function looksLikeCreds(value: unknown): value is AuthenticationCreds {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Partial<Record<keyof AuthenticationCreds, unknown>>;
  const pair = (k: unknown): boolean => typeof k === 'object' && k !== null && Buffer.isBuffer((k as { private?: unknown }).private);
  return (
    pair(c.noiseKey) &&
    pair(c.signedIdentityKey) &&
    pair(c.pairingEphemeralKeyPair) &&
    typeof c.signedPreKey === 'object' &&
    c.signedPreKey !== null &&
    typeof c.registrationId === 'number' &&
    typeof c.advSecretKey === 'string'
  );
}

export interface LoadedLogin {
  store: AuthStore;
  creds: AuthenticationCreds;
  /** Whether the saved creds are a linked device's (false: a QR code or pairing code is needed). */
  linked: boolean;
}

/**
 * The baileys engine's login: Baileys' AuthenticationState (creds and a SignalKeyStore) kept as
 * files in sessions/<id>/session-data/baileys/. Baileys' own useMultiFileAuthState is a demo by its
 * authors' words (plain writeFile: a crash mid-write leaves a torn file); here every write is a
 * temp file, fsync, rename (util/atomic-write.ts), writes to one file run one after another in the
 * order they were asked, a read waits for the writes to its file asked before it, and a file that
 * cannot be read is reported and taken as absent, never a crash.
 */
export class AuthStore {
  readonly dir: string;
  readonly #log: Log;
  /** Per file: the last write or removal asked for (each runs after the one before it). */
  readonly #pending = new Map<string, Promise<void>>();
  /** A creds write queued behind the one running: it writes creds as they are when it runs. */
  #credsQueued: Promise<void> | undefined;
  #closed = false;

  private constructor(dir: string, log: Log) {
    this.dir = dir;
    this.#log = log;
  }

  /**
   * Opens the login folder (created 0700; a link there is refused) and reads its creds. None:
   * a new identity, for a QR code. Unreadable creds: said in the log, the folder's files removed
   * (its keys belong to that identity), and a new identity.
   */
  static async open(dir: string, log: Log): Promise<LoadedLogin> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const info = await lstat(dir);
    if (!info.isDirectory()) throw new Error(`${dir} is not a real folder (a link is never followed)`);
    const store = new AuthStore(dir, log);
    let creds: AuthenticationCreds | undefined;
    try {
      const saved = parse(await readFile(path.join(dir, CREDS_FILE), 'utf8'));
      if (looksLikeCreds(saved)) creds = saved;
      else log('warn', `baileys: the saved login (${CREDS_FILE}) is incomplete; a new QR scan is needed`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        log('warn', `baileys: the saved login (${CREDS_FILE}) is unreadable (${describeError(err)}); a new QR scan is needed`);
      }
    }
    if (!creds) {
      await store.#removeFiles();
      return { store, creds: initAuthCreds(), linked: false };
    }
    if (forgetUnfinishedPairing(creds)) log('info', 'baileys: a pairing code asked for earlier was never entered; it is void, ask for a new one');
    return { store, creds, linked: isLinked(creds) };
  }

  /** The SignalKeyStore Baileys reads and writes its keys through. */
  readonly keys: SignalKeyStore = {
    get: async <T extends KeyType>(type: T, ids: string[]) => {
      const found: Record<string, SignalDataTypeMap[T]> = {};
      await Promise.all(
        ids.map(async (id) => {
          const value = await this.#readKey(type, id);
          if (value !== undefined) found[id] = value;
        }),
      );
      return found;
    },
    set: async (data: SignalDataSet) => {
      const writes: Promise<void>[] = [];
      for (const [type, entries] of Object.entries(data) as [KeyType, Record<string, unknown>][]) {
        for (const [id, value] of Object.entries(entries)) {
          const file = keyFileName(type, id);
          writes.push(value === null || value === undefined ? this.#remove(file) : this.#write(file, value));
        }
      }
      await Promise.all(writes);
    },
  };

  /**
   * Writes creds as they are when the write runs (Baileys changes the object in place, then emits
   * creds.update): calls made while a write waits its turn share that write.
   */
  saveCreds(creds: AuthenticationCreds): Promise<void> {
    if (this.#credsQueued) return this.#credsQueued;
    const queued = this.#enqueue(CREDS_FILE, () => {
      // Started: a change from now on needs a write of its own.
      this.#credsQueued = undefined;
      return writeFileAtomic(path.join(this.dir, CREDS_FILE), JSON.stringify(creds, BufferJSON.replacer));
    });
    this.#credsQueued = queued;
    return queued;
  }

  /** No write is taken after this; resolves once those asked for before are done. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending.values()]);
  }

  async #readKey<T extends KeyType>(type: T, id: string): Promise<SignalDataTypeMap[T] | undefined> {
    const file = keyFileName(type, id);
    await this.#pending.get(file)?.catch(() => undefined);
    let value: unknown;
    try {
      value = parse(await readFile(path.join(this.dir, file), 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.#log('warn', `baileys: the saved key ${file} is unreadable (${describeError(err)}); it is taken as absent`);
      }
      return undefined;
    }
    if (value === null || typeof value !== 'object') return undefined;
    // Stored as JSON, this one must be a protobuf object again (as useMultiFileAuthState does).
    if (type === 'app-state-sync-key') return proto.Message.AppStateSyncKeyData.fromObject(value) as unknown as SignalDataTypeMap[T];
    return value as SignalDataTypeMap[T];
  }

  #write(file: string, value: unknown): Promise<void> {
    return this.#enqueue(file, () => writeFileAtomic(path.join(this.dir, file), JSON.stringify(value, BufferJSON.replacer)));
  }

  #remove(file: string): Promise<void> {
    return this.#enqueue(file, async () => {
      await unlink(path.join(this.dir, file)).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
    });
  }

  /** Runs `op` after everything asked before it for the same file; once closed, nothing new is taken. */
  #enqueue(file: string, op: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const before = this.#pending.get(file) ?? Promise.resolve();
    const run = before
      .catch(() => undefined)
      .then(op)
      .catch((err: unknown) => {
        this.#log('error', `baileys: could not write ${file} of the login: ${describeError(err)}`);
        throw err;
      });
    const tail = run.catch(() => undefined);
    this.#pending.set(file, tail);
    void tail.then(() => {
      if (this.#pending.get(file) === tail) this.#pending.delete(file);
    });
    return run;
  }

  /** The files of an identity that is gone (creds unreadable): its creds and keys. */
  async #removeFiles(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(names.filter((name) => name.endsWith('.json')).map((name) => unlink(path.join(this.dir, name)).catch(() => undefined)));
  }
}
