import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { open, readdir } from 'node:fs/promises';

/**
 * Readers of /proc for the resources of a session's process tree: the worker and everything it
 * started (Chromium and its helpers, which puppeteer puts in a process group of their own, so the
 * tree is followed by parent pid, not by group). Linux only: elsewhere the table is empty.
 * Every reader takes the proc root, so tests can point it at a fake tree in a temporary folder.
 * A process may end between any two reads: it is then left out, never an error.
 *
 * Cost: stat and statm are read synchronously into one buffer (a few µs each, against ~100 µs
 * through fs/promises), in batches with a turn of the event loop between them. smaps_rollup is
 * another matter: the kernel walks every resident page to split the shared ones, about 1 ms per
 * 100 MB of a Chromium process, so it is read off the main thread, and the sampler reads it only
 * for some processes at each pass.
 */

export const DEFAULT_PROC_ROOT = '/proc';

/** Files read synchronously before the event loop gets a turn: each batch blocks ~1-2 ms. */
const SYNC_BATCH = 256;

export interface ProcEntry {
  pid: number;
  ppid: number;
  /** Its state letter: R running, S sleeping, D in uninterruptible I/O, Z a zombie, X dead… */
  state: string;
  /** utime + stime: the CPU time of the process itself, in clock ticks. */
  ownTicks: number;
  /**
   * cutime + cstime: the CPU time of its children that ended and that it reaped. Counted in the
   * tree too, so its total does not drop when a busy helper process ends.
   */
  reapedTicks: number;
  /** When it started, in clock ticks after boot: with the pid, it names one process (pids are reused). */
  startTime: number;
}

/** One read of the whole process table. */
export interface ProcTable {
  readonly entries: ReadonlyMap<number, ProcEntry>;
  /** pid → its children's pids (by ppid). */
  readonly children: ReadonlyMap<number, readonly number[]>;
}

/**
 * Where a process's PSS comes from: read from smaps_rollup now; `estimated` from its RSS now and
 * its PSS/RSS at its last read; `rss` when smaps_rollup cannot be read (an old kernel, or not ours
 * to read), so its RSS stands for it (an overestimate).
 */
export type PssSource = 'measured' | 'estimated' | 'rss';

export interface ProcMemory {
  rssBytes: number;
  pssBytes: number;
  pss: PssSource;
}

export interface MemoryFigures {
  rssBytes: number;
  pssBytes: number;
  cpuSeconds: number;
}

/** What one session's process tree uses, the worker and the rest (its browser) apart too. */
export interface TreeFigures {
  /** The worker's pid: the root of the tree. */
  pid: number;
  processes: number;
  rssBytes: number;
  pssBytes: number;
  /** CPU time of the whole tree since it started (reaped children included), in seconds. */
  cpuSeconds: number;
  /** The least exact source among its processes: `rss` over `estimated` over `measured`. */
  pssSource: PssSource;
  worker: MemoryFigures;
  browser: MemoryFigures & { processes: number };
}

/** A number `getconf` knows, asked once; `fallback` where it cannot answer. */
function getconf(name: string, fallback: number): number {
  if (process.platform !== 'linux') return fallback;
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return Number.isInteger(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

let clockTicksPerSecond: number | undefined;
let pageBytes: number | undefined;

/** sysconf(CLK_TCK): the unit of /proc's CPU times; 100 on every common Linux build. */
export function clockTicks(): number {
  clockTicksPerSecond ??= getconf('CLK_TCK', 100);
  return clockTicksPerSecond;
}

/** The unit of /proc/<pid>/statm. */
export function pageSize(): number {
  pageBytes ??= getconf('PAGESIZE', 4096);
  return pageBytes;
}

/** Every /proc text file read here is well under this (stat < 1 kB, smaps_rollup ~1 kB). */
const READ_BYTES = 16 * 1024;
const syncBuffer = Buffer.allocUnsafe(READ_BYTES);

/** A small file, read at once into one shared buffer; undefined when it cannot be read (gone). */
function readSmallSync(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const length = readSync(fd, syncBuffer, 0, READ_BYTES, 0);
    return syncBuffer.toString('latin1', 0, length);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The same off the main thread, for a file the kernel takes long to write (smaps_rollup). */
async function readSmall(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(READ_BYTES), 0, READ_BYTES, 0);
    return buffer.toString('latin1', 0, bytesRead);
  } finally {
    await handle.close();
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** `read` over `items`, synchronously in batches, with a turn of the event loop between batches. */
async function batched<T, R>(items: readonly T[], read: (item: T) => R): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % SYNC_BATCH === 0) await nextTurn();
    out.push(read(items[i]!));
  }
  return out;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself hold spaces
 * and parentheses, so the fields are counted from the LAST ')'. Undefined for anything malformed.
 */
export function parseStat(text: string): ProcEntry | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // After ") ": field 3 (state) is fields[0], so field n is fields[n - 3].
  const fields = text.slice(close + 2).split(' ');
  const state = fields[0] ?? '';
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const cutime = Number(fields[13]);
  const cstime = Number(fields[14]);
  const startTime = Number(fields[19]);
  // Number(undefined) is NaN: a short line fails here too.
  if (![pid, ppid, utime, stime, cutime, cstime, startTime].every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  return { pid, ppid, state, ownTicks: utime + stime, reapedTicks: cutime + cstime, startTime };
}

/** Every process's pid, parent and CPU ticks, read once. Empty where there is no /proc. */
export async function readProcTable(procRoot = DEFAULT_PROC_ROOT): Promise<ProcTable> {
  let names: string[];
  try {
    names = await readdir(procRoot);
  } catch {
    return { entries: new Map(), children: new Map() };
  }
  const pids = names.filter((name) => /^\d+$/.test(name));
  const read = await batched(pids, (pid) => {
    const text = readSmallSync(`${procRoot}/${pid}/stat`);
    // Undefined: it ended since readdir.
    return text === undefined ? undefined : parseStat(text);
  });
  const entries = new Map<number, ProcEntry>();
  const children = new Map<number, number[]>();
  for (const entry of read) {
    if (!entry) continue;
    entries.set(entry.pid, entry);
    const siblings = children.get(entry.ppid);
    if (siblings) siblings.push(entry.pid);
    else children.set(entry.ppid, [entry.pid]);
  }
  return { entries, children };
}

/** `pid` and all its descendants (by ppid, transitively); empty when `pid` is not in the table. */
export function treePids(table: ProcTable, pid: number): number[] {
  if (!table.entries.has(pid)) return [];
  const seen = new Set<number>([pid]);
  const out = [pid];
  // out grows while it is walked: a breadth-first walk without recursion.
  for (let i = 0; i < out.length; i++) {
    for (const child of table.children.get(out[i]!) ?? []) {
      // A pid seen twice would be a loop (a reused pid read mid-change): never walked again.
      if (seen.has(child)) continue;
      seen.add(child);
      out.push(child);
    }
  }
  return out;
}

/** The descendants of `pid` (children, grandchildren...), without `pid` itself. */
export function descendants(table: ProcTable, pid: number): number[] {
  return treePids(table, pid).slice(1);
}

/** Resident memory from statm (its second field, in pages); undefined once the process is gone. */
export function readRss(pid: number, procRoot = DEFAULT_PROC_ROOT): number | undefined {
  const text = readSmallSync(`${procRoot}/${String(pid)}/statm`);
  if (text === undefined) return undefined;
  const pages = Number(text.split(' ')[1]);
  return Number.isSafeInteger(pages) && pages >= 0 ? pages * pageSize() : undefined;
}

/** The RSS of each pid still there (the cheap figure, read for every process at every pass). */
export async function readRssMany(pids: readonly number[], procRoot = DEFAULT_PROC_ROOT): Promise<Map<number, number>> {
  const read = await batched(pids, (pid) => readRss(pid, procRoot));
  const out = new Map<number, number>();
  pids.forEach((pid, i) => {
    const rss = read[i];
    if (rss !== undefined) out.set(pid, rss);
  });
  return out;
}

const RSS_LINE = /^Rss:\s+(\d+) kB/m;
const PSS_LINE = /^Pss:\s+(\d+) kB/m;

function kbLine(text: string, line: RegExp): number {
  const match = line.exec(text);
  return match ? Number(match[1]) * 1024 : 0;
}

/**
 * A process's RSS and PSS from smaps_rollup (read off the main thread: see the top of this file).
 * Where that cannot be read, its RSS (statm) stands for its PSS, `pss: 'rss'`. Undefined once the
 * process is gone.
 */
export async function readMemory(pid: number, procRoot = DEFAULT_PROC_ROOT): Promise<ProcMemory | undefined> {
  try {
    const rollup = await readSmall(`${procRoot}/${String(pid)}/smaps_rollup`);
    // A zombie's rollup holds no lines: it holds no memory.
    return { rssBytes: kbLine(rollup, RSS_LINE), pssBytes: kbLine(rollup, PSS_LINE), pss: 'measured' };
  } catch {
    // no smaps_rollup (kernel < 4.14), not allowed to read it, or the process is gone
  }
  const rss = readRss(pid, procRoot);
  return rss === undefined ? undefined : { rssBytes: rss, pssBytes: rss, pss: 'rss' };
}

/** The memory of each pid still there, read one after another (each keeps one libuv thread busy). */
export async function readMemories(pids: Iterable<number>, procRoot = DEFAULT_PROC_ROOT): Promise<Map<number, ProcMemory>> {
  const out = new Map<number, ProcMemory>();
  for (const pid of new Set(pids)) {
    const memory = await readMemory(pid, procRoot);
    if (memory) out.set(pid, memory);
  }
  return out;
}

const PSS_RANK: Record<PssSource, number> = { measured: 0, estimated: 1, rss: 2 };

/**
 * Sums a tree (`pids` from treePids: the root first) from one table and the memory found for it.
 * Processes with no memory ended meanwhile and are left out; undefined when the root did.
 */
export function summarizeTree(table: ProcTable, pids: readonly number[], memories: ReadonlyMap<number, ProcMemory>): TreeFigures | undefined {
  const root = pids[0];
  if (root === undefined || !memories.has(root)) return undefined;
  const hz = clockTicks();
  const worker: MemoryFigures = { rssBytes: 0, pssBytes: 0, cpuSeconds: 0 };
  const browser = { rssBytes: 0, pssBytes: 0, cpuSeconds: 0, processes: 0 };
  let pssSource: PssSource = 'measured';
  for (const pid of pids) {
    const memory = memories.get(pid);
    const entry = table.entries.get(pid);
    if (!memory || !entry) continue;
    if (PSS_RANK[memory.pss] > PSS_RANK[pssSource]) pssSource = memory.pss;
    if (pid === root) {
      worker.rssBytes = memory.rssBytes;
      worker.pssBytes = memory.pssBytes;
      worker.cpuSeconds = entry.ownTicks / hz;
      // What the worker reaped were its browser's processes.
      browser.cpuSeconds += entry.reapedTicks / hz;
    } else {
      browser.rssBytes += memory.rssBytes;
      browser.pssBytes += memory.pssBytes;
      browser.cpuSeconds += (entry.ownTicks + entry.reapedTicks) / hz;
      browser.processes += 1;
    }
  }
  return {
    pid: root,
    processes: 1 + browser.processes,
    rssBytes: worker.rssBytes + browser.rssBytes,
    pssBytes: worker.pssBytes + browser.pssBytes,
    cpuSeconds: worker.cpuSeconds + browser.cpuSeconds,
    pssSource,
    worker,
    browser,
  };
}

/** One tree on its own, every PSS read now: for a single look, not for sampling many. */
export async function sampleTree(pid: number, procRoot = DEFAULT_PROC_ROOT): Promise<TreeFigures | undefined> {
  const table = await readProcTable(procRoot);
  const pids = treePids(table, pid);
  return summarizeTree(table, pids, await readMemories(pids, procRoot));
}
