import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import {
  clockTicks,
  pageSize,
  descendants,
  parseStat,
  readMemories,
  readMemory,
  readProcTable,
  sampleTree,
  summarizeTree,
  treePids,
  type PssSource,
} from '../../src/metrics/proc.js';
import { ResourceSampler, toResources, type TreeSample } from '../../src/metrics/sampler.js';
import { MemoryGuard } from '../../src/metrics/memory-guard.js';
import { resourcesSchema } from '../../src/sessions/resource.js';
import { tempDir } from '../helpers/env.js';

const KB = 1024;
const MIB = 1024 * 1024;

interface FakeProc {
  pid: number;
  ppid: number;
  comm?: string;
  /** utime, stime, cutime, cstime in clock ticks. */
  ticks?: [number, number, number, number];
  /** Field 22: with the pid, it names one process. */
  startTime?: number;
  rssKb?: number;
  pssKb?: number;
  /** false: no smaps_rollup (old kernel, or not readable), only statm. */
  smaps?: boolean;
  /** false: only the folder is left (the process ended between readdir and the reads). */
  stat?: boolean;
  /** false: its memory files are gone (it ended between the table read and the memory read). */
  memory?: boolean;
}

/** The /proc/<pid>/stat line: 52 fields, as Linux writes them. */
function statLine(p: FakeProc): string {
  const [utime, stime, cutime, cstime] = p.ticks ?? [0, 0, 0, 0];
  const fields = ['S', p.ppid, p.pid, p.pid, 0, -1, 4194304, 100, 0, 0, 0, utime, stime, cutime, cstime, 20, 0, 1, 0, p.startTime ?? 1079131, 3133440, 413];
  while (fields.length < 50) fields.push(0);
  return `${String(p.pid)} (${p.comm ?? 'proc'}) ${fields.join(' ')}\n`;
}

async function writeProc(root: string, p: FakeProc): Promise<void> {
  const dir = path.join(root, String(p.pid));
  await mkdir(dir, { recursive: true });
  if (p.stat !== false) await writeFile(path.join(dir, 'stat'), statLine(p));
  if (p.memory === false) return;
  const rss = p.rssKb ?? 1000;
  const pages = (rss * KB) / pageSize();
  await writeFile(path.join(dir, 'statm'), `${String(pages * 3)} ${String(pages)} ${String(Math.floor(pages / 2))} 10 0 ${String(pages)} 0\n`);
  if (p.smaps !== false) {
    await writeFile(
      path.join(dir, 'smaps_rollup'),
      `55a230eb2000-7ffeac4d4000 ---p 00000000 00:00 0                          [rollup]\nRss:      ${String(rss)} kB\nPss:      ${String(p.pssKb ?? rss)} kB\nPss_Anon: 1 kB\nShared_Clean: 0 kB\n`,
    );
  }
}

async function fakeProcRoot(root: string, procs: FakeProc[]): Promise<void> {
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  // What else /proc holds: never taken for a process.
  await mkdir(path.join(root, 'self'));
  await writeFile(path.join(root, 'uptime'), '1.0 1.0\n');
  for (const p of procs) await writeProc(root, p);
}

describe('/proc readers', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let root: string;
  before(async () => {
    tmp = await tempDir('ms-proc-');
    root = path.join(tmp.dir, 'proc');
  });
  after(async () => {
    await tmp.cleanup();
  });

  it('parseStat reads ppid and CPU ticks after a command name holding spaces and parentheses', () => {
    const line = statLine({ pid: 4242, ppid: 17, comm: 'Web Content) (x) S 99 (', ticks: [300, 50, 7, 3] });
    assert.deepEqual(parseStat(line), { pid: 4242, ppid: 17, state: 'S', ownTicks: 350, reapedTicks: 10, startTime: 1079131 });
    assert.equal(parseStat('12 (cut short) S 1 2'), undefined);
    assert.equal(parseStat('not a stat line'), undefined);
  });

  it('the table skips a process that ended after the listing, and a tree follows ppid to grandchildren only', async () => {
    await fakeProcRoot(root, [
      { pid: 1, ppid: 0, comm: 'init' },
      { pid: 100, ppid: 1, comm: 'node' },
      { pid: 200, ppid: 100, comm: 'chromium' },
      { pid: 201, ppid: 200, comm: 'chromium (zygote)' },
      { pid: 202, ppid: 201, comm: 'Renderer) S 1 (' },
      { pid: 300, ppid: 1, comm: 'other session' },
      { pid: 301, ppid: 300, comm: 'chromium' },
      { pid: 400, ppid: 100, stat: false },
    ]);
    const table = await readProcTable(root);
    assert.deepEqual([...table.entries.keys()].sort((a, b) => a - b), [1, 100, 200, 201, 202, 300, 301]);
    assert.deepEqual(treePids(table, 100), [100, 200, 201, 202]);
    assert.deepEqual(descendants(table, 100), [200, 201, 202]);
    assert.deepEqual(descendants(table, 300), [301]);
    assert.deepEqual(treePids(table, 999), [], 'a pid not in the table has no tree');
  });

  it('a /proc that cannot be read gives an empty table', async () => {
    const table = await readProcTable(path.join(tmp.dir, 'no-such-proc'));
    assert.equal(table.entries.size, 0);
  });

  it('memory comes from smaps_rollup, or from statm standing for PSS when smaps_rollup is missing; a gone process has none', async () => {
    await fakeProcRoot(root, [
      { pid: 10, ppid: 1, rssKb: 5000, pssKb: 2000 },
      { pid: 11, ppid: 1, rssKb: 3000, smaps: false },
      { pid: 12, ppid: 1, memory: false },
    ]);
    assert.deepEqual(await readMemory(10, root), { rssBytes: 5000 * KB, pssBytes: 2000 * KB, pss: 'measured' });
    assert.deepEqual(await readMemory(11, root), { rssBytes: 3000 * KB, pssBytes: 3000 * KB, pss: 'rss' });
    assert.equal(await readMemory(12, root), undefined);
    assert.equal(await readMemory(13, root), undefined);
    assert.deepEqual([...(await readMemories([10, 12, 13, 10], root)).keys()], [10]);
  });

  it('a tree sums the worker and its browser apart, leaving out a process that ended meanwhile', async () => {
    const hz = clockTicks();
    await fakeProcRoot(root, [
      { pid: 1, ppid: 0 },
      { pid: 100, ppid: 1, rssKb: 50_000, pssKb: 40_000, ticks: [hz * 2, hz, hz, 0] },
      { pid: 200, ppid: 100, rssKb: 200_000, pssKb: 150_000, ticks: [hz * 4, 0, 0, 0] },
      { pid: 201, ppid: 200, rssKb: 100_000, pssKb: 30_000, ticks: [hz, 0, 0, hz] },
      { pid: 202, ppid: 200, memory: false, ticks: [hz * 50, 0, 0, 0] },
    ]);
    const tree = await sampleTree(100, root);
    assert.ok(tree);
    assert.equal(tree.pid, 100);
    assert.equal(tree.processes, 3);
    assert.deepEqual(tree.worker, { rssBytes: 50_000 * KB, pssBytes: 40_000 * KB, cpuSeconds: 3 });
    // The worker reaped 1 s of its children's CPU: the browser's.
    assert.deepEqual(tree.browser, { rssBytes: 300_000 * KB, pssBytes: 180_000 * KB, cpuSeconds: 1 + 4 + 2, processes: 2 });
    assert.equal(tree.rssBytes, 350_000 * KB);
    assert.equal(tree.pssBytes, 220_000 * KB);
    assert.equal(tree.cpuSeconds, 10);
    assert.equal(tree.pssSource, 'measured');
  });

  it('a tree whose root ended between the reads is no tree; one PSS read from RSS says so', async () => {
    await fakeProcRoot(root, [
      { pid: 100, ppid: 1, memory: false },
      { pid: 200, ppid: 100 },
      { pid: 300, ppid: 1 },
      { pid: 301, ppid: 300, smaps: false },
    ]);
    const table = await readProcTable(root);
    const pids = treePids(table, 100);
    assert.equal(summarizeTree(table, pids, await readMemories(pids, root)), undefined);
    assert.equal((await sampleTree(300, root))?.pssSource, 'rss');
  });
});

describe('ResourceSampler', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let root: string;
  before(async () => {
    tmp = await tempDir('ms-sampler-');
    root = path.join(tmp.dir, 'proc');
  });
  after(async () => {
    await tmp.cleanup();
  });

  function collect(targets: { sessionId: string; pid: number | undefined }[], clock: { now: number }) {
    const samples: [string, TreeSample | null][] = [];
    const sampler = new ResourceSampler({
      procRoot: root,
      targets: () => targets,
      onSample: (id, sample) => samples.push([id, sample]),
      now: () => clock.now,
    });
    return { sampler, samples };
  }

  it('cpuPercent is the CPU time used between two samples over the wall time between them (0 on the first)', async () => {
    const hz = clockTicks();
    const clock = { now: Date.parse('2030-01-01T00:00:00.000Z') };
    const { sampler, samples } = collect([{ sessionId: 'a', pid: 100 }], clock);
    await fakeProcRoot(root, [
      { pid: 100, ppid: 1, ticks: [hz, 0, 0, 0] },
      { pid: 200, ppid: 100, ticks: [hz, 0, 0, 0] },
    ]);
    await sampler.sampleOnce();
    assert.equal(samples.at(-1)?.[1]?.cpuPercent, 0);
    assert.equal(samples.at(-1)?.[1]?.sampledAt, '2030-01-01T00:00:00.000Z');
    // 10 s later the tree used 5 s more: 2 s in the worker, 3 s in the browser (1 s of it reaped).
    clock.now += 10_000;
    await fakeProcRoot(root, [
      { pid: 100, ppid: 1, ticks: [hz * 2, hz, hz, 0] },
      { pid: 200, ppid: 100, ticks: [hz * 3, 0, 0, 0] },
    ]);
    await sampler.sampleOnce();
    const second = samples.at(-1)?.[1];
    assert.equal(second?.cpuPercent, 50);
    assert.equal(second?.cpuSeconds, 7);
    assert.equal(second?.sampledAt, '2030-01-01T00:00:10.000Z');
  });

  it('a restarted worker (another pid) starts cpuPercent over, never a figure across two workers', async () => {
    const hz = clockTicks();
    const clock = { now: 1_000_000 };
    const targets = [{ sessionId: 'a', pid: 100 as number | undefined }];
    const { sampler, samples } = collect(targets, clock);
    await fakeProcRoot(root, [{ pid: 100, ppid: 1, ticks: [0, 0, 0, 0] }]);
    await sampler.sampleOnce();
    clock.now += 10_000;
    targets[0]!.pid = 500;
    await fakeProcRoot(root, [{ pid: 500, ppid: 1, ticks: [hz * 100, 0, 0, 0] }]);
    await sampler.sampleOnce();
    assert.equal(samples.at(-1)?.[1]?.pid, 500);
    assert.equal(samples.at(-1)?.[1]?.cpuPercent, 0);
  });

  it('gives null for a session with no worker and for one whose worker is gone, and a sample for each live one', async () => {
    const clock = { now: 0 };
    const { sampler, samples } = collect(
      [
        { sessionId: 'stopped', pid: undefined },
        { sessionId: 'gone', pid: 777 },
        { sessionId: 'one', pid: 100 },
        { sessionId: 'two', pid: 300 },
      ],
      clock,
    );
    await fakeProcRoot(root, [
      { pid: 100, ppid: 1, rssKb: 1000, pssKb: 500 },
      { pid: 101, ppid: 100, rssKb: 2000, pssKb: 700 },
      { pid: 300, ppid: 1, rssKb: 4000, pssKb: 4000 },
    ]);
    await sampler.sampleOnce();
    const byId = new Map(samples);
    assert.equal(byId.get('stopped'), null);
    assert.equal(byId.get('gone'), null);
    const one = byId.get('one');
    assert.ok(one);
    assert.equal(one.processes, 2);
    assert.equal(one.pssBytes, 1200 * KB);
    assert.deepEqual({ worker: one.worker.pssBytes, browser: one.browser.pssBytes, processes: one.browser.processes }, { worker: 500 * KB, browser: 700 * KB, processes: 1 });
    assert.equal(byId.get('two')?.rssBytes, 4000 * KB);
    // What a session resource shows is exactly resourcesSchema.
    assert.deepEqual(resourcesSchema.strict().parse(toResources(one)), toResources(one));
  });

  it('a process read before has its PSS follow its RSS until it is read again; a new one is read at once', async () => {
    const clock = { now: 0 };
    const samples: TreeSample[] = [];
    const targets = [{ sessionId: 'a', pid: 100 }];
    // Budget 0: only what must be read is read.
    const sampler = new ResourceSampler({ procRoot: root, pssBudgetMs: 0, targets: () => targets, onSample: (_id, s) => s && samples.push(s), now: () => clock.now });
    await fakeProcRoot(root, [
      { pid: 100, ppid: 1, rssKb: 4000, pssKb: 2000 },
      { pid: 200, ppid: 100, rssKb: 8000, pssKb: 2000 },
    ]);
    await sampler.sampleOnce();
    assert.equal(samples.at(-1)?.pssBytes, 4000 * KB);
    assert.equal(samples.at(-1)?.pssSource, 'measured');
    // Both grew; smaps_rollup says something else, but nobody reads it this time.
    await fakeProcRoot(root, [
      { pid: 100, ppid: 1, rssKb: 8000, pssKb: 7000 },
      { pid: 200, ppid: 100, rssKb: 8000, pssKb: 7000 },
      { pid: 201, ppid: 200, rssKb: 1000, pssKb: 300 },
    ]);
    await sampler.sampleOnce();
    const second = samples.at(-1)!;
    assert.equal(second.pssSource, 'estimated');
    assert.equal(second.rssBytes, 17_000 * KB);
    // 8000 × 1/2 + 8000 × 1/4, and the new process read: 300.
    assert.equal(second.pssBytes, (4000 + 2000 + 300) * KB);
    assert.deepEqual(second.worker, { rssBytes: 8000 * KB, pssBytes: 4000 * KB, cpuSeconds: 0 });
  });

  it('a tree whose PSS comes near its cap is read anew at every pass, and a budget reads the stalest first', async () => {
    const samples: TreeSample[] = [];
    let budget = 0;
    const targets = [{ sessionId: 'a', pid: 100, maxMemoryMB: undefined as number | undefined }];
    const make = (): ResourceSampler =>
      new ResourceSampler({ procRoot: root, pssBudgetMs: budget, targets: () => targets, onSample: (_id, s) => s && samples.push(s) });
    await fakeProcRoot(root, [{ pid: 100, ppid: 1, rssKb: 100 * 1024, pssKb: 50 * 1024 }]);
    let sampler = make();
    await sampler.sampleOnce();
    await fakeProcRoot(root, [{ pid: 100, ppid: 1, rssKb: 100 * 1024, pssKb: 95 * 1024 }]);
    await sampler.sampleOnce();
    assert.equal(samples.at(-1)?.pssBytes, 50 * MIB, 'an estimate without a cap');
    // Its estimate (50 MiB) is near a 55 MiB cap: read, 95 MiB.
    targets[0]!.maxMemoryMB = 55;
    await sampler.sampleOnce();
    assert.equal(samples.at(-1)?.pssBytes, 95 * MIB);
    assert.equal(samples.at(-1)?.pssSource, 'measured');
    // Far under a cap: an estimate again.
    targets[0]!.maxMemoryMB = 1000;
    await fakeProcRoot(root, [{ pid: 100, ppid: 1, rssKb: 100 * 1024, pssKb: 10 * 1024 }]);
    await sampler.sampleOnce();
    assert.equal(samples.at(-1)?.pssBytes, 95 * MIB);
    // With a budget, the process read longest ago is read again.
    budget = 10_000;
    sampler = make();
    await sampler.sampleOnce();
    await fakeProcRoot(root, [{ pid: 100, ppid: 1, rssKb: 100 * 1024, pssKb: 20 * 1024 }]);
    await sampler.sampleOnce();
    assert.equal(samples.at(-1)?.pssBytes, 20 * MIB);
    assert.equal(samples.at(-1)?.pssSource, 'measured');
  });

  it('a reused pid (another start time) is another process: its PSS is read, not estimated', async () => {
    const samples: TreeSample[] = [];
    const sampler = new ResourceSampler({ procRoot: root, pssBudgetMs: 0, targets: () => [{ sessionId: 'a', pid: 100 }], onSample: (_id, s) => s && samples.push(s) });
    await fakeProcRoot(root, [{ pid: 100, ppid: 1, startTime: 5000, rssKb: 4000, pssKb: 1000 }]);
    await sampler.sampleOnce();
    await fakeProcRoot(root, [{ pid: 100, ppid: 1, startTime: 9000, rssKb: 4000, pssKb: 3000 }]);
    await sampler.sampleOnce();
    assert.equal(samples.at(-1)?.pssBytes, 3000 * KB);
    assert.equal(samples.at(-1)?.pssSource, 'measured');
  });

  it('a pass waits for the one under way: two at once never interleave', async () => {
    await fakeProcRoot(root, [{ pid: 100, ppid: 1 }]);
    const order: string[] = [];
    let pass = 0;
    const sampler = new ResourceSampler({
      procRoot: root,
      targets: () => {
        pass += 1;
        order.push(`start ${String(pass)}`);
        return [{ sessionId: 'a', pid: 100 }];
      },
      onSample: () => order.push(`sample ${String(pass)}`),
    });
    await Promise.all([sampler.sampleOnce(), sampler.sampleOnce()]);
    assert.deepEqual(order, ['start 1', 'sample 1', 'start 2', 'sample 2']);
  });

  it('an onSample that throws is reported and the other sessions are still sampled', async () => {
    await fakeProcRoot(root, [
      { pid: 100, ppid: 1 },
      { pid: 200, ppid: 1 },
    ]);
    const errors: unknown[] = [];
    const seen: string[] = [];
    const sampler = new ResourceSampler({
      procRoot: root,
      targets: () => [
        { sessionId: 'a', pid: 100 },
        { sessionId: 'b', pid: 200 },
      ],
      onSample: (id) => {
        seen.push(id);
        if (id === 'a') throw new Error('boom');
      },
      onError: (err) => errors.push(err),
    });
    await sampler.sampleOnce();
    assert.deepEqual(seen, ['a', 'b']);
    assert.equal(errors.length, 1);
  });

  it('start() samples every interval until stop()', async () => {
    await fakeProcRoot(root, [{ pid: 100, ppid: 1 }]);
    let passes = 0;
    let resolveThird: () => void = () => undefined;
    const third = new Promise<void>((resolve) => (resolveThird = resolve));
    const sampler = new ResourceSampler({
      intervalMs: 5,
      procRoot: root,
      targets: () => [{ sessionId: 'a', pid: 100 }],
      onSample: () => {
        passes += 1;
        if (passes === 3) resolveThird();
      },
    });
    sampler.start();
    sampler.start();
    // The sampler's timer is unref'd: this one keeps the test alive while it waits.
    const keepAlive = setTimeout(() => undefined, 10_000);
    try {
      await third;
    } finally {
      clearTimeout(keepAlive);
      sampler.stop();
    }
    await sampler.sampleOnce();
    const after = passes;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(passes, after, 'no pass after stop()');
  });
});

describe('MemoryGuard', () => {
  const over = (pid: number, mib: number, pssSource: PssSource = 'measured') => ({ pid, pssBytes: mib * MIB, pssSource });

  it('answers on the third sample in a row above the limit, with the reason in plain words', () => {
    const guard = new MemoryGuard();
    assert.equal(guard.check('a', over(100, 812), 500), undefined);
    assert.equal(guard.check('a', over(100, 812), 500), undefined);
    const verdict = guard.check('a', over(100, 812), 500);
    assert.ok(verdict);
    assert.equal(verdict.reason, 'restarted: its processes used 812 MiB (PSS) for 3 samples in a row, over maxMemoryMB 500');
    assert.equal(verdict.pid, 100);
    // The count starts over: one more sample above is not a second verdict yet.
    assert.equal(guard.check('a', over(100, 812), 500), undefined);
  });

  it('a sample under the limit, no sample, a new worker or no limit start the count over', () => {
    const guard = new MemoryGuard();
    const twoOver = (): void => {
      assert.equal(guard.check('a', over(100, 600), 500), undefined);
      assert.equal(guard.check('a', over(100, 600), 500), undefined);
    };
    twoOver();
    assert.equal(guard.check('a', over(100, 400), 500), undefined);
    twoOver();
    assert.equal(guard.check('a', null, 500), undefined);
    twoOver();
    assert.equal(guard.check('a', over(100, 600), undefined), undefined);
    twoOver();
    guard.forget('a');
    twoOver();
    // Restarted: the new worker's samples count from 1.
    assert.equal(guard.check('a', over(200, 600), 500), undefined);
    assert.equal(guard.check('a', over(200, 600), 500), undefined);
    assert.ok(guard.check('a', over(200, 600), 500));
    // Exactly at the limit is not above it.
    for (let i = 0; i < 5; i++) assert.equal(guard.check('b', over(1, 500), 500), undefined);
  });

  it('sessions are counted apart, and a PSS that could not be read says RSS', () => {
    const guard = new MemoryGuard();
    guard.check('a', over(1, 600, 'rss'), 500);
    guard.check('b', over(2, 600), 500);
    guard.check('a', over(1, 600, 'rss'), 500);
    const verdict = guard.check('a', over(1, 600, 'rss'), 500);
    assert.match(verdict?.reason ?? '', /600 MiB \(RSS: its PSS could not be read\)/);
    assert.equal(guard.check('b', over(2, 600), 500), undefined, 'b has had two samples above');
    guard.check('c', over(3, 600, 'estimated'), 500);
    guard.check('c', over(3, 600, 'estimated'), 500);
    assert.match(guard.check('c', over(3, 600, 'estimated'), 500)?.reason ?? '', /600 MiB \(PSS, estimated from RSS\)/);
  });
});

describe('this process in the real /proc', { skip: process.platform !== 'linux' && 'reads /proc (Linux only)' }, () => {
  let child: ChildProcess | undefined;
  after(() => {
    child?.kill('SIGKILL');
  });

  it("its tree is itself and the child it spawned, with memory and CPU time; the child's end is seen", async () => {
    child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await once(child, 'spawn');
    const childPid = child.pid!;
    const tree = await sampleTree(process.pid, '/proc');
    assert.ok(tree);
    assert.equal(tree.pid, process.pid);
    const table = await readProcTable();
    assert.ok(descendants(table, process.pid).includes(childPid), 'the sleep child is in the tree');
    assert.equal(table.entries.get(childPid)?.ppid, process.pid);
    assert.ok(tree.processes >= 2);
    assert.equal(tree.browser.processes, tree.processes - 1);
    assert.ok(tree.worker.rssBytes > 1 * MIB, `rss ${String(tree.worker.rssBytes)}`);
    assert.ok(tree.worker.pssBytes > 0 && tree.worker.pssBytes <= tree.worker.rssBytes);
    assert.ok(tree.browser.rssBytes > 0, 'the child has resident memory');
    assert.ok(tree.cpuSeconds > 0, 'this test process has used some CPU');
    assert.equal(tree.rssBytes, tree.worker.rssBytes + tree.browser.rssBytes);

    const samples: (TreeSample | null)[] = [];
    const sampler = new ResourceSampler({ targets: () => [{ sessionId: 'self', pid: process.pid }], onSample: (_id, s) => samples.push(s) });
    await sampler.sampleOnce();
    child.kill('SIGKILL');
    await once(child, 'exit');
    await sampler.sampleOnce();
    const [first, second] = samples;
    assert.ok(first && second);
    assert.ok(second.cpuPercent >= 0);
    assert.ok(!descendants(await readProcTable(), process.pid).includes(childPid), 'the ended child is no longer in the tree');
  });
});
