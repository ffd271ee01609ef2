import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './env.js';

/**
 * A throw-away Postgres for one test file: Debian's own server (package `postgresql`), its data in
 * a temporary folder, listening only on 127.0.0.1 on a free port (and a unix socket in that folder).
 * initdb refuses to run as root, so as root everything runs as the `postgres` user.
 */
export interface TestPostgres {
  /** The URL of a database created for the run (password authentication). */
  url: string;
  /** Another empty database on the same server: a clean slate for one test. */
  createDatabase(): Promise<string>;
  /** Stops the server and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

export type PostgresStart = { postgres: TestPostgres; reason?: undefined } | { postgres: null; reason: string };

const COMMAND_TIMEOUT_MS = 60_000;
const USER = 'postgres';

/** The folder holding initdb, pg_ctl and createdb (PATH first, then Debian's versioned folders), or why none. */
export function findPostgresBin(): { dir: string } | { reason: string } {
  const candidates = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(path.join('/usr/lib/postgresql', v, 'bin'));
  } catch {
    // No Debian Postgres folder: only PATH can have it.
  }
  for (const dir of candidates) {
    if (['initdb', 'pg_ctl', 'createdb'].every((name) => executable(path.join(dir, name)))) return { dir };
  }
  return { reason: 'no initdb/pg_ctl/createdb on PATH or in /usr/lib/postgresql/*/bin (Debian package `postgresql`)' };
}

/**
 * Why the Postgres tests cannot run here, when they should be skipped: binaries missing on a
 * workstation. Under CI=true nothing is skipped (.ci/run installs Postgres): the suite runs and
 * startPostgres() fails with the reason.
 */
export function postgresSkipReason(): string | undefined {
  const found = findPostgresBin();
  if ('dir' in found || process.env.CI) return undefined;
  return found.reason;
}

export async function startPostgres(): Promise<PostgresStart> {
  const found = findPostgresBin();
  if (!('dir' in found)) return { postgres: null, reason: found.reason };
  const bin = found.dir;
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? postgresUser() : undefined;

  const root = mkdtempSync(path.join(os.tmpdir(), 'ms-pg-'));
  const data = path.join(root, 'data');
  const password = randomBytes(18).toString('base64url');
  const pwfile = path.join(root, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner) {
    chownSync(root, owner.uid, owner.gid);
    chownSync(pwfile, owner.uid, owner.gid);
  }

  let port = 0;
  let started = false;
  const stopSync = (): void => {
    if (started) {
      try {
        execFileSync(...command(bin, 'pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop'], asRoot), {
          stdio: 'ignore',
          timeout: COMMAND_TIMEOUT_MS,
        });
      } catch {
        // Already stopped (or never fully started): the folder still goes.
      }
      started = false;
    }
    rmSync(root, { recursive: true, force: true });
  };
  // A test process that ends without its after-hook (an uncaught error) still leaves no server behind.
  process.once('exit', stopSync);

  try {
    await run(bin, 'initdb', ['-D', data, '-U', USER, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-locale', '--no-sync'], asRoot);
    // A free port can be taken by someone else between our probe and the server's bind: try a few.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const options = [
        '-c listen_addresses=127.0.0.1',
        `-c port=${String(port)}`,
        `-c unix_socket_directories=${root}`,
        // Nothing here must survive a crash: skip every flush.
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
      ].join(' ');
      try {
        await run(bin, 'pg_ctl', ['-D', data, '-l', path.join(root, 'server.log'), '-w', '-t', '60', '-o', options, 'start'], asRoot);
        started = true;
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
    let next = 0;
    const createDatabase = async (): Promise<string> => {
      const name = `store_test_${String(++next)}`;
      await run(bin, 'createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', USER, name], asRoot, { PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' });
      return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${String(port)}/${name}`;
    };
    const url = await createDatabase();
    return {
      postgres: {
        url,
        createDatabase,
        stop: () => {
          process.removeListener('exit', stopSync);
          stopSync();
          return Promise.resolve();
        },
      },
    };
  } catch (err) {
    process.removeListener('exit', stopSync);
    stopSync();
    throw err;
  }
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(`running as root, Postgres needs the "${USER}" user (the Debian package creates it)`);
  }
}

/** argv for `name` in `bin`: as the postgres user when we are root (runuser, else su). */
function command(bin: string, name: string, args: string[], asRoot: boolean): [string, string[]] {
  const file = path.join(bin, name);
  if (!asRoot) return [file, args];
  if (executable('/usr/sbin/runuser') || executable('/sbin/runuser')) {
    return [executable('/usr/sbin/runuser') ? '/usr/sbin/runuser' : '/sbin/runuser', ['-u', USER, '--', file, ...args]];
  }
  const quoted = [file, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return ['su', [USER, '-s', '/bin/sh', '-c', quoted]];
}

function run(bin: string, name: string, args: string[], asRoot: boolean, env: Record<string, string> = {}): Promise<void> {
  const [file, argv] = command(bin, name, args, asRoot);
  return new Promise((resolve, reject) => {
    // runuser keeps the environment, so PGPASSWORD reaches createdb. cwd: a folder the postgres
    // user may enter (it cannot enter root's home).
    execFile(file, argv, { cwd: '/', timeout: COMMAND_TIMEOUT_MS, env: { ...process.env, ...env } }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${name} failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}
