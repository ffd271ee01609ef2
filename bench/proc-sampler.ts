/**
 * The cost of one ResourceSampler pass (src/metrics/sampler.ts) for 100 sessions: CPU time (user +
 * system of this process, the libuv threads included) and wall time, median of several passes.
 * Three cases: a fake /proc of 100 trees of 8 processes in a temporary folder (the JavaScript side
 * alone); 100 real trees of 3 small processes (sh and two sleeps: the real /proc, small processes);
 * a few real headless Chromium trees (smaps_rollup of big processes is the kernel's costly part),
 * scaled to 100. Linux only. Prints figures, asserts nothing.
 *
 *   node --import tsx bench/proc-sampler.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readMemories, readProcTable, readRssMany, treePids } from '../src/metrics/proc.js';
import { ResourceSampler } from '../src/metrics/sampler.js';

const PASSES = 15;
const INTERVAL_S = 10;
const children = new Set<ChildProcess>();
const dirs = new Set<string>();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function cleanup(): Promise<void> {
  for (const child of children) {
    try {
      // Each tree leads its own group: its sleeps and Chromium's helpers end with it.
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
}

async function measure(label: string, targets: { sessionId: string; pid: number }[], procRoot: string, scale = 1, pssBudgetMs?: number): Promise<void> {
  let samples = 0;
  let processes = 0;
  const sampler = new ResourceSampler({
    procRoot,
    pssBudgetMs,
    targets: () => targets,
    onSample: (_id, sample) => {
      samples += 1;
      processes += sample?.processes ?? 0;
    },
  });
  await sampler.sampleOnce(); // warm-up: module code, the first getconf
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < PASSES; i++) {
    samples = 0;
    processes = 0;
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await sampler.sampleOnce();
    wall.push(performance.now() - w0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const cpuMs = median(cpu) * scale;
  console.log(
    `${label.padEnd(48)} ${String(samples).padStart(4)} sessions ${String(processes).padStart(5)} processes  ` +
      `cpu ${cpuMs.toFixed(1).padStart(6)} ms  wall ${(median(wall) * scale).toFixed(1).padStart(6)} ms  ` +
      `= ${((cpuMs / (INTERVAL_S * 1000)) * 100).toFixed(2)} % of a core at ${String(INTERVAL_S)} s`,
  );
}

async function fakeCase(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'bench-proc-'));
  dirs.add(root);
  const statOf = (pid: number, ppid: number, comm: string): string =>
    `${String(pid)} (${comm}) S ${String(ppid)} ${String(pid)} ${String(pid)} 0 -1 4194304 100 0 0 0 1234 567 89 10 20 0 1 0 1079131 3133440 413 ${'0 '.repeat(30)}\n`;
  const write = async (pid: number, ppid: number, comm: string): Promise<void> => {
    const dir = path.join(root, String(pid));
    await mkdir(dir);
    await writeFile(path.join(dir, 'stat'), statOf(pid, ppid, comm));
    await writeFile(path.join(dir, 'statm'), `90000 30864 2000 10 0 30000 0\n`);
    await writeFile(path.join(dir, 'smaps_rollup'), `00-ff ---p 0 00:00 0 [rollup]\nRss: 123456 kB\nPss: 65432 kB\nPss_Anon: 1 kB\n`);
  };
  let pid = 1000;
  const targets: { sessionId: string; pid: number }[] = [];
  for (let s = 0; s < 100; s++) {
    const worker = pid++;
    await write(worker, 1, 'node');
    targets.push({ sessionId: `s${String(s)}`, pid: worker });
    const browser = pid++;
    await write(browser, worker, 'chromium');
    for (let h = 0; h < 6; h++) await write(pid++, browser, 'chromium (renderer)');
  }
  for (let o = 0; o < 300; o++) await write(pid++, 1, 'other');
  await measure('fake /proc, 100 trees × 8 (+300 others)', targets, root);
}

async function realSleepCase(): Promise<void> {
  const targets: { sessionId: string; pid: number }[] = [];
  for (let s = 0; s < 100; s++) {
    const child = spawn('sh', ['-c', `${'sleep 600 & '.repeat(9)}wait`], { stdio: 'ignore', detached: true });
    children.add(child);
    targets.push({ sessionId: `s${String(s)}`, pid: child.pid! });
  }
  // Until every sh has its nine sleeps.
  for (let i = 0; i < 100; i++) {
    const table = await readProcTable();
    if (targets.every((t) => treePids(table, t.pid).length === 10)) break;
    await sleep(50);
  }
  await measure('real /proc, 100 trees × 10 (sh + 9 sleep)', targets, '/proc');
  await measure('  the same, PSS only of new processes (budget 0)', targets, '/proc', 1, 0);
}

async function chromiumCase(): Promise<void> {
  const bin = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!bin) {
    console.log('real Chromium: skipped (no /usr/bin/chromium)');
    return;
  }
  const COUNT = 5;
  const targets: { sessionId: string; pid: number }[] = [];
  for (let s = 0; s < COUNT; s++) {
    const profile = await mkdtemp(path.join(os.tmpdir(), 'bench-chromium-'));
    dirs.add(profile);
    // A node parent like the worker, so the tree's root is a Node process too.
    const child = spawn(
      process.execPath,
      ['-e', `require('child_process').spawn(${JSON.stringify(bin)}, ['--headless=new','--no-sandbox','--disable-gpu','--no-first-run','--user-data-dir=${profile}','--remote-debugging-port=0','about:blank'], {stdio:'ignore'}); setInterval(() => {}, 1e6)`],
      { stdio: 'ignore', detached: true },
    );
    children.add(child);
    targets.push({ sessionId: `c${String(s)}`, pid: child.pid! });
  }
  await sleep(6000); // Chromium starts its helpers
  const table = await readProcTable();
  const pids = targets.flatMap((t) => treePids(table, t.pid));
  const rss = [...(await readRssMany(pids)).values()].reduce((a, b) => a + b, 0);
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  await readMemories(pids);
  const c = process.cpuUsage(c0);
  const cpuMs = (c.user + c.system) / 1000;
  console.log(
    `real Chromium (about:blank): ${String(COUNT)} trees of ${targets.map((t) => treePids(table, t.pid).length).join(', ')} processes, ` +
      `RSS ${(rss / 2 ** 20).toFixed(0)} MiB in all; smaps_rollup of every one: cpu ${cpuMs.toFixed(1)} ms, wall ${(performance.now() - w0).toFixed(1)} ms ` +
      `= ${(cpuMs / (rss / 2 ** 30)).toFixed(1)} ms per GiB resident`,
  );
  await measure(`real /proc, ${String(COUNT)} Chromium trees (default budget)`, targets, '/proc');
  await measure(`real /proc, ${String(COUNT)} Chromium trees, every PSS every pass`, targets, '/proc', 1, Infinity);
}

process.on('SIGINT', () => {
  void cleanup().finally(() => process.exit(130));
});

try {
  console.log(`node ${process.version}, ${String(os.cpus().length)} CPU(s) ${os.cpus()[0]?.model ?? ''}; median of ${String(PASSES)} passes`);
  await fakeCase();
  await realSleepCase();
  await chromiumCase();
} finally {
  await cleanup();
}
