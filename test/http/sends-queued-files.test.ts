import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { dataUrl, PNG } from '../helpers/media-fixtures.js';
import { expectSent, outbox, outgoingFiles, type Sent } from '../helpers/send-checks.js';

const TO = '15550100001@c.us';
const IMAGE = { chatId: TO, data: dataUrl(PNG, 'image/png'), filename: 'queued.png' };

interface Queued {
  jobId: string;
  position: number | null;
}

/** A sandbox session that paces its sends through the send queue. */
async function pacedSandbox(srv: TestServer, id: string, delayMs: number): Promise<void> {
  const created = await srv.api('POST', '/api/v1/sessions', {
    sessionId: id,
    config: { engine: 'sandbox', sandbox: { autoScan: true }, sendQueue: { minDelayMs: delayMs, maxDelayMs: delayMs } },
  });
  assert.equal(created.status, 201, created.text);
  await srv.manager.waitFor(id, (s) => s.status === 'ready', 15_000);
}

describe("a queued send's file stays in outgoing/ while its job waits, and goes when the job ends", () => {
  let srv: TestServer;

  before(async () => {
    srv = await startTestServer();
    await pacedSandbox(srv, 'paced', 0);
    // A minute between two sends: the second job certainly still waits when the test cancels it.
    await pacedSandbox(srv, 'slow', 60_000);
  });
  after(async () => {
    await srv.stop();
  });

  it('a send through the queue, waited for, answers the message and leaves no file', async () => {
    const sent = expectSent(await srv.api<Sent>('POST', '/api/v1/sessions/paced/send-image', IMAGE), TO);
    const entry = (await outbox(srv, 'paced')).at(-1)!;
    assert.equal(entry.messageId, sent.messageId);
    assert.equal(entry.type, 'image');
    assert.equal(entry.size, PNG.length);
    assert.match(entry.ref ?? '', /./, 'it went out through a job');
    assert.deepEqual(await outgoingFiles(srv, 'paced'), []);
  });

  it('a job that waits keeps its file; cancelling it removes the file and sends nothing', async () => {
    const async = { Prefer: 'respond-async' };
    const first = await srv.api<Queued>('POST', '/api/v1/sessions/slow/send-text', { chatId: TO, content: 'first' }, async);
    assert.equal(first.status, 202, first.text);
    const second = await srv.api<Queued>('POST', '/api/v1/sessions/slow/send-image', IMAGE, async);
    assert.equal(second.status, 202, second.text);
    assert.equal(second.headers.get('preference-applied'), 'respond-async');
    assert.equal((await outgoingFiles(srv, 'slow')).length, 1, 'the waiting job owns its file');
    const cancelled = await srv.api<{ status: string }>('DELETE', `/api/v1/sessions/slow/queue/${second.body.data.jobId}`);
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal(cancelled.body.data.status, 'cancelled');
    assert.deepEqual(await outgoingFiles(srv, 'slow'), [], 'the cancelled job took its file with it');
    assert.ok(!(await outbox(srv, 'slow')).some((e) => e.type === 'image'), 'the image never went out');
  });
});

describe('at start, outgoing/ keeps the files of waiting sends and loses the rest', () => {
  let dir: string;
  let srv: TestServer | undefined;

  before(async () => {
    const first = await startTestServer();
    dir = first.dir;
    await pacedSandbox(first, 'slow', 60_000);
    const async = { Prefer: 'respond-async' };
    assert.equal((await first.api('POST', '/api/v1/sessions/slow/send-text', { chatId: TO, content: 'first' }, async)).status, 202);
    assert.equal((await first.api('POST', '/api/v1/sessions/slow/send-image', IMAGE, async)).status, 202);
    await first.close();
  });
  after(async () => {
    await srv?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a file a crash left without a job is removed; the waiting job keeps its own', async () => {
    const outgoing = path.join(dir, 'slow', 'outgoing');
    const [kept] = await readdir(outgoing);
    assert.ok(kept, 'the waiting image job has its file');
    // As if the server died between writing a send's file and queuing its job.
    await writeFile(path.join(outgoing, 'orphan'), 'left by a crash');
    srv = await startTestServer([], { dir });
    assert.deepEqual(await readdir(outgoing), [kept]);
    const waiting = await srv.api<{ type: string; status: string }[]>('GET', '/api/v1/sessions/slow/queue');
    assert.deepEqual(waiting.body.data.map((j) => [j.type, j.status]), [['image', 'queued']]);
  });
});
