import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { alive, json, post, spawnCli, workerPids, type CliServer } from '../helpers/cli.js';
import { tempDir } from '../helpers/env.js';
import type { OutboxEntry } from '../../src/engines/types.js';
import { SANDBOX_OUTBOX_FILE } from '../../src/engines/sandbox-outbox.js';
import { SQLITE_FILE } from '../../src/store/db.js';
import { DATA_DIR } from '../../src/sessions/store.js';

const CHAT = '15550003001@c.us';
const SENDS = 15;

interface Job {
  jobId: string;
  status: 'queued' | 'sending' | 'sent' | 'failed' | 'cancelled';
  error: string | null;
  result: { messageId: string | null } | null;
}

/** Re-checks `check` until it holds: the server is another process. Bounded. */
async function pollUntil(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${String(timeoutMs)} ms`);
    await sleep(50);
  }
}

describe('the send queue across a kill -9 of the server and its worker (node bin/multi-session.js, sandbox)', () => {
  const servers: CliServer[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  // Unique on this machine: the worker is found by its --session argument.
  const sessionId = `sq-kill-${randomBytes(4).toString('hex')}`;

  after(async () => {
    for (const s of servers) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGTERM');
        await s.exited;
      }
    }
    for (const pid of workerPids(sessionId)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const cleanup of cleanups) await cleanup();
  });

  it('sends every queued job exactly once after the crash, a job left "sending" settled through the sandbox\'s findSent', async () => {
    const tmp = await tempDir();
    cleanups.push(tmp.cleanup);
    const args = ['--engine', 'sandbox', '--sessions-dir', tmp.dir];
    const outboxFile = path.join(tmp.dir, sessionId, DATA_DIR, SANDBOX_OUTBOX_FILE);
    /** The outbox on disk: what the sandbox sent, across both runs. */
    const outbox = async (): Promise<OutboxEntry[]> => {
      let text: string;
      try {
        text = await readFile(outboxFile, 'utf8');
      } catch {
        return [];
      }
      const entries: OutboxEntry[] = [];
      for (const line of text.split('\n')) {
        try {
          if (line.trim() !== '') entries.push(JSON.parse(line) as OutboxEntry);
        } catch {
          // A line cut short by the kill: never answered as sent (the sandbox drops it at its next start).
        }
      }
      return entries;
    };

    const first = await spawnCli(args);
    servers.push(first);
    const created = await post(`${first.url}/api/v1/sessions`, {
      sessionId,
      config: { engine: 'sandbox', sandbox: { autoScan: true }, sendQueue: { minDelayMs: 200, maxDelayMs: 200 } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await pollUntil(
      async () => (await json<{ data: { status: string } }>(`${first.url}/api/v1/sessions/${sessionId}`)).data.status === 'ready',
      'the session ready',
    );

    const jobIds: string[] = [];
    for (let i = 1; i <= SENDS; i++) {
      const res = await fetch(`${first.url}/api/v1/sessions/${sessionId}/send-text`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', Prefer: 'respond-async' },
        body: JSON.stringify({ chatId: CHAT, content: `message ${String(i)}` }),
      });
      assert.equal(res.status, 202);
      jobIds.push(((await res.json()) as { data: { jobId: string } }).data.jobId);
    }
    await pollUntil(async () => (await outbox()).filter((e) => e.type === 'text').length >= 3, 'a few sends out', 15_000);

    const workers = workerPids(sessionId);
    assert.ok(workers.length >= 1, 'the session runs in its own worker');
    first.child.kill('SIGKILL');
    for (const pid of workers) process.kill(pid, 'SIGKILL');
    await first.exited;
    await pollUntil(() => Promise.resolve(workers.every((pid) => !alive(pid))), 'the worker gone', 5_000);

    const sentBefore = new Set((await outbox()).map((e) => e.ref));
    assert.ok(sentBefore.size < SENDS, `some were still waiting at the kill (${String(sentBefore.size)} sent)`);

    // Two jobs "on the wire" at the crash, made so by hand: one that had gone out (its send is in
    // the outbox) and one that had not. The restarted server must ask the sandbox, not guess.
    const db = new SQLite(path.join(tmp.dir, SQLITE_FILE));
    let wentOut: string;
    let didNot: string;
    try {
      const rows = db.prepare('SELECT id, status FROM send_jobs WHERE session = ? ORDER BY seq').all(sessionId) as { id: string; status: string }[];
      assert.deepEqual(
        rows.map((r) => r.id),
        jobIds,
        'every job is in the database, in order',
      );
      const sentRow = rows.find((r) => r.status === 'sent' && sentBefore.has(r.id));
      const queuedRows = rows.filter((r) => r.status === 'queued' && !sentBefore.has(r.id));
      // A later one, so it is not simply the next in line anyway.
      const queuedRow = queuedRows[Math.floor(queuedRows.length / 2)];
      assert.ok(sentRow && queuedRow, `a sent and a queued job: ${JSON.stringify(rows)}`);
      wentOut = sentRow.id;
      didNot = queuedRow.id;
      const startedAt = new Date().toISOString();
      const mark = db.prepare("UPDATE send_jobs SET status = 'sending', started_at = ?, finished_at = NULL, result = NULL WHERE id = ?");
      assert.equal(mark.run(startedAt, wentOut).changes, 1);
      assert.equal(mark.run(startedAt, didNot).changes, 1);
    } finally {
      db.close();
    }

    const second = await spawnCli(args);
    servers.push(second);
    const final = new Map<string, Job>();
    await pollUntil(
      async () => {
        for (const jobId of jobIds) {
          if (final.has(jobId)) continue;
          const res = await fetch(`${second.url}/api/v1/sessions/${sessionId}/queue/${jobId}`);
          assert.equal(res.status, 200);
          const job = ((await res.json()) as { data: Job }).data;
          assert.ok(job.status !== 'failed' && job.status !== 'cancelled', `${jobId} ended ${job.status}: ${String(job.error)}`);
          if (job.status === 'sent') final.set(jobId, job);
        }
        return final.size === SENDS;
      },
      'every job sent after the restart',
      60_000,
    );

    const texts = (await outbox()).filter((e) => e.type === 'text');
    const refs = texts.map((e) => e.ref);
    for (const jobId of jobIds) assert.equal(refs.filter((r) => r === jobId).length, 1, `${jobId} sent exactly once`);
    assert.equal(texts.length, SENDS, 'nothing else was sent');
    assert.deepEqual(
      [...texts.map((e) => e.content)].sort(),
      jobIds.map((_, i) => `message ${String(i + 1)}`).sort(),
    );
    // The one that had gone out is recorded with what the sandbox sent then; the other went now.
    const entryOf = (jobId: string): OutboxEntry | undefined => texts.find((e) => e.ref === jobId);
    assert.equal(final.get(wentOut)?.result?.messageId, entryOf(wentOut)?.messageId, 'recovered as sent, with its message');
    assert.equal(final.get(didNot)?.result?.messageId, entryOf(didNot)?.messageId);
    assert.ok(!sentBefore.has(didNot), 'it had not gone before the crash');
    // The line's order holds: what had not gone went out in the order queued (the one found not
    // sent went back to its place).
    assert.deepEqual(
      texts.filter((e) => !sentBefore.has(e.ref)).map((e) => e.ref),
      jobIds.filter((id) => !sentBefore.has(id)),
    );
  });
});
