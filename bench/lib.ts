// Helpers shared by the benchmarks in this folder.
// Linux only: the memory and process figures come from /proc.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const BIN = path.join(ROOT, 'bin/multi-session.js');
export const HOST = '127.0.0.1';

const STOP_TIMEOUT_MS = 20_000;
const HEALTH_TIMEOUT_MS = 15_000;

/** A multi-session server started by a bench. */
export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** Its sessions folder. */
  dir: string;
}

// ---------------------------------------------------------------------------------------------
// Processes.

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (!running(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * SIGTERM, then SIGKILL if it does not go within `timeoutMs`. Returns how long the clean exit
 * took (ms; 0 if it was not running) or null if it needed SIGKILL.
 */
export async function stop(child: ChildProcess, timeoutMs = STOP_TIMEOUT_MS): Promise<number | null> {
  if (!running(child)) return 0;
  const t0 = performance.now();
  child.kill('SIGTERM');
  if (await waitExit(child, timeoutMs)) return performance.now() - t0;
  child.kill('SIGKILL');
  await waitExit(child, 5_000);
  return null;
}

/** Keeps `child` in `children` for as long as it runs (for the cleanup to stop it). */
export function track(children: Set<ChildProcess>, child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/**
 * Spawns `node bin/multi-session.js <args>` as a user does, without `DEBUG` in its environment
 * (per-request debug lines would change the figures); stdout and stderr are piped.
 * `spawnedAt` is taken right before the spawn.
 */
export function spawnCli(args: string[]): { child: ChildProcess; spawnedAt: number } {
  const env = { ...process.env };
  delete env.DEBUG;
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, spawnedAt };
}

/** Whether a server output line is worth showing: anything on stderr, and warn or error log lines. */
export function isNotable(stream: string, line: string): boolean {
  const level = /^\S+\s+(\w+)/.exec(line)?.[1]?.toLowerCase();
  return stream === 'stderr' || level === 'warn' || level === 'error';
}

/**
 * Polls GET <url>/health every `intervalMs` until it answers 200; returns the time of that answer.
 * Throws, with `output` in the message, if the server exits first or does not answer in time.
 */
export async function waitHealthy(server: Pick<ServerProcess, 'child' | 'url'>, intervalMs: number, output: string[]): Promise<number> {
  const end = performance.now() + HEALTH_TIMEOUT_MS;
  while (performance.now() < end) {
    if (!running(server.child)) throw new Error(`the server exited during start-up:\n${output.join('\n')}`);
    try {
      // Each poll has its own deadline: a server that accepts and never answers must not stall the bench.
      const res = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return performance.now();
    } catch {
      // not listening yet, or that poll was not answered in time
    }
    await sleep(intervalMs);
  }
  throw new Error(`/health did not answer 200 within ${String(HEALTH_TIMEOUT_MS)} ms:\n${output.join('\n')}`);
}

/**
 * Stops the run cleanly when it is interrupted (SIGINT, SIGTERM: exit code 130) or takes longer
 * than `deadlineMs` (exit code 1): `cleanup()` first, then exit. Returns the deadline's timer
 * (unref'd), for clearTimeout once the run has ended.
 */
export function guard(opts: {
  deadlineMs: number;
  cleanup: () => Promise<unknown>;
  deadlineMessage?: string;
  signalMessage?: (sig: NodeJS.Signals) => string;
}): NodeJS.Timeout {
  const timer = setTimeout(() => {
    console.log(opts.deadlineMessage ?? `\nthe bench took longer than ${String(opts.deadlineMs / 1000)} s: cleaning up and stopping`);
    void opts.cleanup().then(() => process.exit(1));
  }, opts.deadlineMs);
  timer.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.log(opts.signalMessage ? opts.signalMessage(sig) : `\n${sig}: cleaning up`);
      void opts.cleanup().then(() => process.exit(130));
    });
  }
  return timer;
}

// ---------------------------------------------------------------------------------------------
// /proc.

/** Field `index` of /proc/<pid>/stat, counted after the ")" that ends the command name (0 = state). */
export function statField(pid: number, index: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[index] ?? null;
  } catch {
    return null;
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time the process used so far (user + system), in ms; null once it is gone. */
export function cpuMs(pid: number): number | null {
  const user = statField(pid, 11);
  const sys = statField(pid, 12);
  return user === null || sys === null ? null : ((Number(user) + Number(sys)) * 1000) / CLK_TCK;
}

/** CPU time (ms) the processes used so far, added up; null if one is gone. */
export function cpuOf(pids: readonly number[]): number | null {
  let sum = 0;
  for (const pid of pids) {
    const t = cpuMs(pid);
    if (t === null) return null;
    sum += t;
  }
  return sum;
}

/** Start time of a process (field 22 of /proc/<pid>/stat, in clock ticks), to tell it from a reused pid. */
export function startTime(pid: number): string | null {
  return statField(pid, 19);
}

/** A "<field>: <n> kB" line of a /proc file, in bytes (null if the file or the line is missing). */
function kbField(file: string, field: string): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** VmRSS of a process, in bytes (null if it is gone). */
export const rss = (pid: number): number | null => kbField(`/proc/${pid}/status`, 'VmRSS');
/** Proportional set size (shared pages divided among their users), in bytes (null if it is gone). */
export const pss = (pid: number): number | null => kbField(`/proc/${pid}/smaps_rollup`, 'Pss');

// ---------------------------------------------------------------------------------------------
// Network, files.

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A new empty folder `<tmp>/<prefix>XXXXXX`, added to `dirs` (for the cleanup to remove it). */
export async function tempDir(prefix: string, dirs: Set<string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

/** A 'data' listener that calls `onLine` for each complete line. */
export function lineSplitter(onLine: (line: string) => void): (chunk: Buffer) => void {
  let rest = '';
  return (chunk) => {
    rest += chunk.toString('utf8');
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  };
}

/** One request to the server; the body is parsed as JSON where it is JSON, kept as text otherwise. */
export async function api(
  server: Pick<ServerProcess, 'url'>,
  method: string,
  url: string,
  body?: unknown,
  timeoutMs?: number,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}${url}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    ...(timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(timeoutMs) }),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, json };
}

// ---------------------------------------------------------------------------------------------
// Figures.

/** Median of the non-null values; null if there are none. */
export function median(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Bytes in MiB, one decimal, followed by `unit`; 'n/a' for null. */
export function mib(bytes: number | null | undefined, unit = 'MiB'): string {
  return bytes === null || bytes === undefined ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(1)} ${unit}`;
}

/** Milliseconds with `digits` decimals; 'n/a' for null. */
export function ms(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined ? 'n/a' : `${value.toFixed(digits)} ms`;
}

/** Direct children of a process, from /proc/<pid>/task/<tid>/children. */
export function childPids(pid: number): number[] {
  const pids = new Set<number>();
  const taskDir = `/proc/${String(pid)}/task`;
  if (!existsSync(taskDir)) return [];
  for (const tid of readdirSync(taskDir)) {
    try {
      for (const p of readFileSync(`${taskDir}/${tid}/children`, 'utf8').trim().split(/\s+/)) if (p) pids.add(Number(p));
    } catch {
      // thread ended meanwhile
    }
  }
  return [...pids];
}

/**
 * The session workers among a server's children: pid → session id. Each one found is also put in
 * `seen` (pid → its start time), so a bench can tell later whether it still runs.
 */
export function sessionWorkers(serverPid: number, seen?: Map<number, string>): Map<number, string> {
  const found = new Map<number, string>();
  for (const pid of childPids(serverPid)) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!args.some((a) => /worker\/main\.(js|ts)$/.test(a))) continue;
    const i = args.indexOf('--session');
    found.set(pid, i >= 0 ? (args[i + 1] ?? '?') : '?');
    const started = startTime(pid);
    if (seen && started !== null) seen.set(pid, started);
  }
  return found;
}

/** The server's warning, error and stderr lines a bench collected: how many, and the first 20. */
export function printNotable(notable: string[]): void {
  console.log(`server warnings/errors/stderr lines: ${String(notable.length)}`);
  for (const l of notable.slice(0, 20)) console.log(`  ${l}`);
  if (notable.length > 20) console.log(`  ... ${String(notable.length - 20)} more`);
}

// ---------------------------------------------------------------------------------------------
// Start and end of a run.

/** Whether the server is built (the benches run dist/); says how to build it when not, and sets exit code 1. */
export function built(): boolean {
  if (existsSync(path.join(ROOT, 'dist/cli/main.js'))) return true;
  console.log('dist/ is missing: run "npm run build" first');
  process.exitCode = 1;
  return false;
}

/** The run's heading: its title, then the machine (cores, CPU, RAM, kernel) on one line. */
export function printHeading(title: string): void {
  console.log(`# ${title}`);
  console.log(`machine: nproc ${String(os.availableParallelism())} · ${os.cpus()[0]?.model ?? 'unknown CPU'} · ${mib(os.totalmem())} RAM · ${os.platform()} ${os.release()}`);
}

/** SIGKILLs session workers that outlived their server (`of`: "server", "node"), saying so for each. */
export function killOutlived(pids: Iterable<number>, of = 'server'): void {
  for (const pid of pids) {
    console.log(`cleanup: worker ${String(pid)} outlived its ${of}; killed it`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
