import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, ROOT } from '../helpers/env.js';

/**
 * Real server processes as cluster nodes (the TypeScript entry through tsx, so no build is needed),
 * on 127.0.0.1, sharing one Postgres and one sessions folder.
 */
export interface ClusterNodeProcess {
  id: string;
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  api<T = unknown>(method: string, route: string, body?: unknown): Promise<{ status: number; body: { success: boolean; data: T; error?: { code: string; message: string } }; servedBy: string | null }>;
}

export interface NodeOptions {
  id: string;
  databaseUrl: string;
  sessionsDir: string;
  maxSessions?: number;
  /** Reuse a port (a node restarted where it was). */
  port?: number;
}

/** Starts one node and resolves once it has joined the cluster (its first sweep is under way). */
export async function startNode(opts: NodeOptions): Promise<ClusterNodeProcess> {
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${String(port)}`;
  const args = [
    '--import',
    'tsx',
    path.join(ROOT, 'src/cli/main.ts'),
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--rate-limit',
    '0',
    '--send-rate-limit',
    '0',
    '--engine',
    'sandbox',
    '--cluster',
    '--node-id',
    opts.id,
    '--node-url',
    url,
    '--database-url',
    opts.databaseUrl,
    '--sessions-dir',
    opts.sessionsDir,
    '--max-sessions',
    String(opts.maxSessions ?? 10),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBUG: '' } });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 60_000;
  while (!out.includes(`cluster: node ${opts.id}`)) {
    if (gone) throw new Error(`node ${opts.id} exited while starting:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`node ${opts.id} did not join within 60 s:\n${out}`);
    }
    await sleep(50);
  }
  return {
    id: opts.id,
    url,
    port,
    child,
    output: () => out,
    exited,
    async api(method, route, body) {
      const res = await fetch(`${url}${route}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      return { status: res.status, body: (await res.json()) as never, servedBy: res.headers.get('x-served-by') };
    },
  };
}

/** Ends a node and everything it started (its workers are process-group leaders of their own). */
export async function killNode(node: ClusterNodeProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  node.child.kill(signal);
  await node.exited;
}

/** Polls `check` until it answers true; fails after `timeoutMs` (a bound, not a timing assertion). */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting: ${what}`);
    await sleep(100);
  }
}

/**
 * The session workers in the process table (`... --session <id>`), by session, among `ids`: sampled
 * every 100 ms until stopped; `most` is the largest number of workers one session ever had at once.
 */
export function watchWorkers(ids: ReadonlySet<string>): { most(): Map<string, number>; stop(): Promise<void> } {
  const most = new Map<string, number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const counts = new Map<string, number>();
      let pids: string[];
      try {
        pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p));
      } catch {
        return;
      }
      for (const pid of pids) {
        let argv: string[];
        try {
          argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
        } catch {
          continue;
        }
        const at = argv.indexOf('--session');
        const id = at >= 0 ? argv[at + 1] : undefined;
        if (id !== undefined && ids.has(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      for (const [id, n] of counts) most.set(id, Math.max(most.get(id) ?? 0, n));
      await sleep(100);
    }
  })();
  return {
    most: () => new Map(most),
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
