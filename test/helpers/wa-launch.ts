import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from './env.js';
export { waitForAsync } from './env.js';
import type { LaunchSpec } from './wa-launch-child.js';

export type { LaunchSpec };

export interface LaunchEvent {
  event: string;
  [key: string]: unknown;
}

export interface WaLaunch {
  child: ChildProcess;
  events: LaunchEvent[];
  output(): string;
  /** The first event that satisfies `match`, waiting at most `timeoutMs`. */
  next(match: (e: LaunchEvent) => boolean, timeoutMs: number, what: string): Promise<LaunchEvent>;
  /** Closes the browser and ends the child (killed if it does not end in time). */
  close(): Promise<void>;
}

/** Runs open-wa's create() the way the engine does, in a child process (test/helpers/wa-launch-child.ts). */
export function launchWa(spec: LaunchSpec, env: NodeJS.ProcessEnv = {}): WaLaunch {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/wa-launch-child.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env, WA_LAUNCH_SPEC: JSON.stringify(spec), NO_UPDATE_NOTIFIER: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: LaunchEvent[] = [];
  let out = '';
  let pending = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    out += text;
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const at = line.indexOf('@@launch ');
      if (at >= 0) events.push(JSON.parse(line.slice(at + 9)) as LaunchEvent);
    }
    for (const wake of waiters) wake();
  });
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    for (const wake of waiters) wake();
  });

  const next = (match: (e: LaunchEvent) => boolean, timeoutMs: number, what: string): Promise<LaunchEvent> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = events.find(match);
        if (found) finish(() => resolve(found));
        else if (child.exitCode !== null || child.signalCode !== null) finish(() => reject(new Error(`the launch ended before ${what}:\n${out.slice(-4000)}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}:\n${out.slice(-4000)}`))), timeoutMs);
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });

  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin.write('close\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
  };
  return { child, events, output: () => out, next, close };
}

/** A page open-wa serves as https://web.whatsapp.com/ itself (its WA_LOCAL_PAGE_CACHE), so no network is needed. */
export async function fakeWhatsAppPage(dir: string, body: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'page-cache.html');
  await writeFile(file, `<!DOCTYPE html><html class="no-js"><head><meta charset="utf-8"><title>fake</title></head><body>${body}</body></html>`);
  return file;
}

/** A self-signed certificate for `host` (openssl), as an intercepting proxy would present it. */
export function selfSignedCert(dir: string, host: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`], {
    stdio: 'ignore',
  });
  return { key, cert };
}

export interface CrashpadHandler {
  pid: number;
  ppid: number;
  /** Its --database=… */
  database: string | undefined;
}

/**
 * Live crashpad handlers started from an environment with TMPDIR=`tmpDir`: Chromium reparents
 * them to PID 1 and gives them no --user-data-dir, so the environment is what ties them to a browser.
 */
export async function crashpadHandlers(tmpDir: string): Promise<CrashpadHandler[]> {
  const found: CrashpadHandler[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = await readFile(`/proc/${name}/cmdline`, 'latin1');
      if (!cmdline.split('\0')[0]?.endsWith('chrome_crashpad_handler')) continue;
      const stat = (await readFile(`/proc/${name}/stat`, 'latin1')).split(') ')[1]?.split(' ') ?? [];
      if (stat[0] === 'Z') continue;
      const environ = await readFile(`/proc/${name}/environ`, 'latin1');
      if (!environ.split('\0').includes(`TMPDIR=${tmpDir}`)) continue;
      const database = cmdline.split('\0').find((arg) => arg.startsWith('--database='))?.slice('--database='.length);
      found.push({ pid: Number(name), ppid: Number(stat[1]), database });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** Where the browser of this profile keeps its singleton socket (Chromium links it from the profile). */
export async function singletonSocketDir(profile: string): Promise<string | undefined> {
  try {
    return path.dirname(await readlink(path.join(profile, 'SingletonSocket')));
  } catch {
    return undefined;
  }
}

