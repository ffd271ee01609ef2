import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore, type Store } from '../../src/store/db.js';
import { LeaseStore } from '../../src/store/leases.js';
import { captureLogger, tempDir } from '../helpers/env.js';
import { MP4, OGG_OPUS, PDF, PNG, dataUrl, opaqueBytes } from '../helpers/media-fixtures.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { httpProxy, type TestProxy } from '../helpers/proxies.js';
import { Receiver, type Received } from '../helpers/receivers.js';
import { SseClient, type SseEvent } from '../helpers/sse.js';
import { killNode, startNode, until, type ClusterNodeProcess } from './nodes.js';

/**
 * Three real server processes (node-a, node-b, node-c) on 127.0.0.1 sharing one Postgres and one
 * sessions folder; every call is made through every node. A call for a session another node runs
 * must come back with that node's answer (X-Served-By, and what only that node knows: its worker,
 * its log ring, its sandbox outbox); any node's event stream carries every node's events, in
 * order, resumable on another node; each webhook attempt is made once, by one node.
 * The scenarios run in order on the same cluster. Waits are bounded polls, never timing assertions.
 */

const skip = postgresSkipReason();
const NODES = ['node-a', 'node-b', 'node-c'] as const;
type NodeId = (typeof NODES)[number];
const CONTACT = '15550100001@c.us';
const PROXY_USER = 'alice';
const PROXY_PASSWORD = 'proxy-secret-1';

interface SessionView {
  sessionId: string;
  status: string;
  node: string | null;
  qrAvailable: boolean;
  me: { id: string; name: string } | null;
  config: Record<string, unknown>;
}
interface Sent {
  messageId: string | null;
  chatId: string;
  timestamp: string;
}
interface OutboxEntry {
  messageId: string | null;
  chatId: string;
  type: string;
  content: string | null;
  size: number | null;
  targetMessageId: string | null;
  state: string | null;
}
interface Group {
  id: string;
  name: string;
  participants: { id: string; isAdmin: boolean }[];
}
interface Envelope {
  id: string | null;
  event: string;
  me?: { id: string; name: string } | null;
  session: string | null;
  payload: Record<string, unknown>;
}

interface Answer<T> {
  status: number;
  servedBy: string | null;
  contentType: string;
  body: { success: boolean; data: T; error?: { code: string; message: string; details?: unknown }; nextCursor?: string | null };
  bytes: Buffer;
}

/** One HTTP call to one node: JSON in (or a raw/streamed body), JSON or bytes out. */
async function call<T = unknown>(
  node: ClusterNodeProcess,
  method: string,
  route: string,
  opts: { body?: unknown; headers?: Record<string, string>; raw?: ReadableStream<Uint8Array> } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | ReadableStream<Uint8Array> | undefined = opts.raw;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  // A ReadableStream body needs half-duplex (undici's own option, not in lib.dom's RequestInit).
  const init = { method, headers, body, signal: AbortSignal.timeout(60_000), duplex: 'half' } as RequestInit;
  const res = await fetch(`${node.url}${route}`, init);
  const bytes = Buffer.from(await res.arrayBuffer());
  const contentType = res.headers.get('content-type') ?? '';
  const parsed = contentType.includes('json') ? (JSON.parse(bytes.toString('utf8')) as Answer<T>['body']) : ({} as Answer<T>['body']);
  return { status: res.status, servedBy: res.headers.get('x-served-by'), contentType, body: parsed, bytes };
}

function show(res: Answer<unknown>): string {
  return `${String(res.status)} served by ${String(res.servedBy)}: ${res.bytes.toString('utf8').slice(0, 600)}`;
}

describe('a cluster of three nodes: every call through every node', { skip: skip && `no Postgres on this machine: ${skip}` }, () => {
  let pg: TestPostgres | undefined;
  let folder: { dir: string; cleanup(): Promise<void> } | undefined;
  let observer: Store | undefined;
  let leases: LeaseStore;
  let receiver: Receiver | undefined;
  /** One proxy per endpoint session: what each one sees is that session's alone. */
  const proxies: TestProxy[] = [];
  const nodes = new Map<NodeId, ClusterNodeProcess>();
  const prefix = `x${randomBytes(3).toString('hex')}`;
  // The endpoint sessions (placed by the cluster) and the event sessions (one pinned to each node).
  const ep = [1, 2, 3].map((i) => `${prefix}-ep${String(i)}`);
  const ev: Record<NodeId, string> = { 'node-a': `${prefix}-ev-a`, 'node-b': `${prefix}-ev-b`, 'node-c': `${prefix}-ev-c` };
  const evIds = Object.values(ev);
  /** Per webhook id at /flaky: how many requests it had (the first is answered 500). */
  const flakySeen = new Map<string, number>();

  const node = (id: string): ClusterNodeProcess => {
    const found = nodes.get(id as NodeId);
    if (!found) throw new Error(`no node ${id}`);
    return found;
  };
  /** The node `k` places after `id` (1 or 2: never `id` itself). */
  const after_ = (id: string, k: number): ClusterNodeProcess => node(NODES[(NODES.indexOf(id as NodeId) + k) % NODES.length]!);

  /** The node that holds the session's lease now (the database's word), or null. */
  async function holder(id: string): Promise<string | null> {
    return (await leases.holder(id))?.node ?? null;
  }

  async function ownerOf(id: string): Promise<string> {
    const h = await holder(id);
    assert.ok(h, `nobody runs ${id}`);
    return h;
  }

  async function waitStatus(id: string, status: string, timeoutMs = 20_000): Promise<SessionView> {
    let last: SessionView | undefined;
    await until(
      `${id} ${status} at the node that runs it (last seen ${String(last?.status)})`,
      async () => {
        const h = await holder(id);
        if (!h) return false;
        const res = await call<SessionView>(node(h), 'GET', `/api/v1/sessions/${id}`);
        last = res.body.data;
        return res.status === 200 && last.status === status && last.node === h;
      },
      timeoutMs,
    );
    return last!;
  }

  /** Which of `ids` each node's /info says it has a worker for. */
  async function workersByNode(ids: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const n of NODES) {
      const info = await call<never>(node(n), 'GET', '/info');
      assert.equal(info.status, 200, show(info));
      const workers = (info.body as unknown as { workers: Record<string, number> }).workers;
      for (const id of ids) if (workers[id] !== undefined) out.set(id, [...(out.get(id) ?? []), n]);
    }
    return out;
  }

  before(async () => {
    const started = await startPostgres();
    if (!started.postgres) throw new Error(`the cluster tests need Postgres: ${started.reason}`);
    pg = started.postgres;
    folder = await tempDir('ms-across-');
    observer = await openStore({ databaseUrl: pg.url, sessionsDir: folder.dir, logger: captureLogger().logger });
    leases = new LeaseStore(observer.db);
    receiver = await Receiver.start((req) => {
      if (req.path !== '/flaky') return { status: 200, body: 'ok' };
      const n = (flakySeen.get(req.id) ?? 0) + 1;
      flakySeen.set(req.id, n);
      return n === 1 ? { status: 500, body: 'not this time' } : { status: 200, body: 'ok' };
    });
    for (let i = 0; i < ep.length; i++) proxies.push(await httpProxy(PROXY_USER, PROXY_PASSWORD, { tunnelLoopback: true }));
    for (const id of NODES) nodes.set(id, await startNode({ id, databaseUrl: pg.url, sessionsDir: folder.dir }));

    // The event sessions: one pinned to each node, created through another node, each phone scanning there.
    for (const n of NODES) {
      const res: Answer<SessionView> = await call<SessionView>(after_(n, 1), 'POST', '/api/v1/sessions', {
        body: {
          sessionId: ev[n],
          config: { node: n, webhooks: [{ url: receiver.url('/ok') }, { url: receiver.url('/flaky'), events: ['message'] }] },
        },
      });
      assert.equal(res.status, 201, show(res));
      assert.equal(res.body.data.node, n, show(res));
      assert.equal(res.servedBy, n, show(res));
    }
    for (const n of NODES) {
      await waitStatus(ev[n], 'qr_ready');
      const scan = await call<SessionView>(after_(n, 2), 'POST', `/api/v1/sessions/${ev[n]}/sandbox/scan`, { body: {} });
      assert.equal(scan.status, 200, show(scan));
      assert.equal(scan.servedBy, n);
    }
    for (const n of NODES) await waitStatus(ev[n], 'ready');
  });

  after(async () => {
    for (const n of nodes.values()) await killNode(n);
    await receiver?.down();
    for (const p of proxies) await p.close();
    await observer?.close();
    await pg?.stop();
    await folder?.cleanup();
  });

  it('sessions created through one node go one to each node; while their QR waits, every node answers with the owner\'s session, status and QR', async () => {
    assert.ok(receiver);
    const hooks = receiver;
    const a = node('node-a');
    const config = (i: number) => ({
      qrTimeout: 0,
      sandbox: { qrRotateSeconds: 3600 },
      webhooks: [{ url: hooks.url('/ep') }],
      proxyServerCredentials: { protocol: 'http', address: `127.0.0.1:${String(proxies[i]!.port)}`, username: PROXY_USER, password: PROXY_PASSWORD },
    });

    // Created through one node, the three go one to each node (the others each run one already).
    for (const [i, id] of ep.entries()) {
      const res = await call<SessionView>(a, 'POST', '/api/v1/sessions', { body: { sessionId: id, config: config(i) } });
      assert.equal(res.status, 201, show(res));
      assert.ok(res.body.data.node, show(res));
      assert.equal(res.servedBy, res.body.data.node);
      assert.equal(await holder(id), res.body.data.node);
    }
    const placed = await Promise.all(ep.map(ownerOf));
    assert.deepEqual([...placed].sort(), [...NODES], `placed on ${placed.join(', ')}`);
    for (const id of ep) await waitStatus(id, 'qr_ready');

    // While the QR waits: the session, its status and its QR, the same QR through every node.
    for (const id of ep) {
      const owner = await ownerOf(id);
      const qrs = new Set<string>();
      for (const n of NODES) {
        const one = await call<SessionView>(node(n), 'GET', `/api/v1/sessions/${id}`);
        assert.equal(one.status, 200, show(one));
        assert.equal(one.servedBy, owner, `GET ${id} through ${n}`);
        assert.equal(one.body.data.node, owner);
        assert.equal(one.body.data.status, 'qr_ready');
        assert.equal(one.body.data.qrAvailable, true);
        assert.equal((one.body.data.config.proxyServerCredentials as { password: string }).password, '********');
        const status = await call<{ sessionId: string; status: string }>(node(n), 'GET', `/api/v1/sessions/${id}/status`);
        assert.equal(status.servedBy, owner);
        assert.deepEqual([status.body.data.sessionId, status.body.data.status], [id, 'qr_ready']);
        const qr = await call<{ qrCode: string; qrData: string }>(node(n), 'GET', `/api/v1/sessions/${id}/qr`);
        assert.equal(qr.status, 200, show(qr));
        assert.equal(qr.servedBy, owner);
        assert.match(qr.body.data.qrCode, /^data:image\/png;base64,/);
        qrs.add(qr.body.data.qrData);
        const image = await call(node(n), 'GET', `/api/v1/sessions/${id}/qr/image`);
        assert.equal(image.status, 200);
        assert.equal(image.servedBy, owner);
        assert.equal(image.contentType, 'image/png');
        assert.deepEqual([...image.bytes.subarray(1, 4)], [...Buffer.from('PNG')]);
      }
      assert.equal(qrs.size, 1, `${id}: the three nodes showed different QR codes`);
    }
  });

  it('through every node: reads, the sandbox\'s scan and incoming, every kind of send, history, queue, contacts, groups, webhooks test, proxy test and config, each answered by the node that runs the session', async () => {
    assert.ok(receiver);
    const hooks = receiver;

    // The phone scans through a node that does not run the session: the owner's engine links it.
    for (const id of ep) {
      const owner = await ownerOf(id);
      const scan = await call<SessionView>(after_(owner, 1), 'POST', `/api/v1/sessions/${id}/sandbox/scan`, { body: {} });
      assert.equal(scan.status, 200, show(scan));
      assert.equal(scan.servedBy, owner);
      assert.equal(scan.body.data.status, 'ready');
      assert.ok(scan.body.data.me);
    }

    // Each session through each node: reads, sandbox simulation, every kind of send, history, queue,
    // contacts, groups, webhooks test, proxy test, config. The three sessions go side by side.
    await Promise.all(
      ep.map(async (id, i) => {
        const owner = await ownerOf(id);
        const proxy = proxies[i]!;
        const at = `/api/v1/sessions/${id}`;
        const sent: { messageId: string; type: string; via: string }[] = [];
        const incoming: string[] = [];
        const groups: string[] = [];
        const served = (res: Answer<unknown>, what: string, status = 200): void => {
          assert.equal(res.status, status, `${what}: ${show(res)}`);
          assert.equal(res.servedBy, owner, `${what}: not answered by ${owner}, which runs ${id}`);
        };
        for (const n of NODES) {
          const via = node(n);
          const what = (route: string): string => `${route} of ${id} (run on ${owner}) through ${n}`;

          const one = await call<SessionView>(via, 'GET', at);
          served(one, what('GET'));
          assert.equal(one.body.data.status, 'ready');
          assert.equal(one.body.data.node, owner);
          const status = await call<{ status: string }>(via, 'GET', `${at}/status`);
          served(status, what('status'));
          assert.equal(status.body.data.status, 'ready');
          const noQr = await call(via, 'GET', `${at}/qr`);
          served(noQr, what('qr'), 409);
          assert.equal(noQr.body.error?.code, 'QR_NOT_AVAILABLE');
          const logs = await call<{ message: string }[]>(via, 'GET', `${at}/logs?limit=200`);
          served(logs, what('logs'));
          assert.ok(logs.body.data.some((l) => l.message.includes('the phone scanned the QR code')), what('logs'));

          // A contact writes in, a text and a picture.
          const text = `hello ${id} through ${n}`;
          const msg = await call<{ id: string; body: string; fromMe: boolean }>(via, 'POST', `${at}/sandbox/incoming`, { body: { from: '15550100002@c.us', content: text } });
          served(msg, what('sandbox/incoming'));
          assert.equal(msg.body.data.body, text);
          assert.equal(msg.body.data.fromMe, false);
          incoming.push(msg.body.data.id);
          const pic = await call<{ id: string; media: { size: number } | null }>(via, 'POST', `${at}/sandbox/incoming`, {
            body: { from: '15550100002@c.us', media: { data: PNG.toString('base64'), filename: 'pic.png', caption: `pic via ${n}` } },
          });
          served(pic, what('sandbox/incoming (media)'));
          assert.equal(pic.body.data.media?.size, PNG.length);
          incoming.push(pic.body.data.id);

          // Every kind of send.
          const sends: [string, string, Record<string, unknown>][] = [
            ['send-text', 'text', { chatId: CONTACT, content: `text from ${id} through ${n}` }],
            ['send-image', 'image', { chatId: CONTACT, data: dataUrl(PNG, 'image/png'), filename: 'dot.png', caption: n }],
            ['send-file', 'file', { chatId: CONTACT, data: PDF.toString('base64'), filename: 'doc.pdf' }],
            ['send-video', 'video', { chatId: CONTACT, data: MP4.toString('base64'), filename: 'clip.mp4' }],
            ['send-voice', 'voice', { chatId: CONTACT, data: OGG_OPUS.toString('base64'), filename: 'note.ogg' }],
            ['send-location', 'location', { chatId: CONTACT, latitude: 52.52, longitude: 13.405, title: n }],
            ['send-contact', 'contact', { chatId: CONTACT, contactId: '15550100003@c.us' }],
          ];
          let textId = '';
          for (const [route, type, body] of sends) {
            const res = await call<Sent>(via, 'POST', `${at}/${route}`, { body });
            served(res, what(route));
            assert.equal(res.body.data.chatId, CONTACT);
            assert.ok(res.body.data.messageId, what(route));
            sent.push({ messageId: res.body.data.messageId, type, via: n });
            if (type === 'text') textId = res.body.data.messageId;
          }
          const reaction = await call<Sent>(via, 'POST', `${at}/send-reaction`, { body: { messageId: textId, reaction: '👍' } });
          served(reaction, what('send-reaction'));
          assert.equal(reaction.body.data.messageId, null);
          served(await call(via, 'POST', `${at}/send-seen`, { body: { chatId: CONTACT } }), what('send-seen'));
          served(await call(via, 'POST', `${at}/presence`, { body: { chatId: CONTACT, state: 'typing' } }), what('presence'));

          // A queued send: 202 with a job, which every node then shows sent.
          const queued = await call<{ jobId: string }>(via, 'POST', `${at}/send-text`, {
            body: { chatId: CONTACT, content: `queued from ${id} through ${n}` },
            headers: { prefer: 'respond-async' },
          });
          served(queued, what('send-text (respond-async)'), 202);
          const jobId = queued.body.data.jobId;
          let job: { status: string; result: Sent | null } | undefined;
          await until(`job ${jobId} of ${id} sent`, async () => {
            const res = await call<{ status: string; result: Sent | null }>(after_(n, 1), 'GET', `${at}/queue/${jobId}`);
            served(res, what('queue/:jobId'));
            job = res.body.data;
            return job.status === 'sent';
          });
          assert.ok(job?.result?.messageId);
          sent.push({ messageId: job.result.messageId, type: 'text', via: n });
          const queue = await call<unknown[]>(via, 'GET', `${at}/queue`);
          served(queue, what('queue'));
          assert.ok(Array.isArray(queue.body.data));

          // Contacts.
          const exists = await call<{ exists: boolean; chatId: string }>(via, 'GET', `${at}/contacts/15550100001/exists`);
          served(exists, what('contacts exists'));
          assert.deepEqual(exists.body.data, { exists: true, chatId: CONTACT });
          const nobody = await call<{ exists: boolean }>(via, 'GET', `${at}/contacts/15559990000/exists`);
          served(nobody, what('contacts exists (unknown)'));
          assert.equal(nobody.body.data.exists, false);
          const contact = await call<{ name: string }>(via, 'GET', `${at}/contacts/${CONTACT}`);
          served(contact, what('contact'));
          assert.equal(contact.body.data.name, 'Sandbox Contact 1');

          // Groups: made through this node, seen through the next.
          const made = await call<Group>(via, 'POST', `${at}/groups`, { body: { name: `team ${n}`, participants: [CONTACT] } });
          served(made, what('POST groups'), 201);
          groups.push(made.body.data.id);
          const added = await call<Group>(after_(n, 1), 'POST', `${at}/groups/${made.body.data.id}/participants/add`, { body: { participants: ['15550100004@c.us'] } });
          served(added, what('participants/add'));
          assert.ok(added.body.data.participants.some((p) => p.id === '15550100004@c.us'));
          const got = await call<Group>(via, 'GET', `${at}/groups/${made.body.data.id}`);
          served(got, what('GET group'));
          assert.equal(got.body.data.name, `team ${n}`);
          const invite = await call<{ code: string; url: string }>(via, 'GET', `${at}/groups/${made.body.data.id}/invite-code`);
          served(invite, what('invite-code'));
          assert.ok(invite.body.data.url.includes(invite.body.data.code));
          const list = await call<Group[]>(via, 'GET', `${at}/groups`);
          served(list, what('GET groups'));
          assert.deepEqual(list.body.data.map((g) => g.id).filter((g) => groups.includes(g)).sort(), [...groups].sort());

          // The session's webhooks, tested now: the receiver hears a webhook.test for this session.
          const tests = () => hooks.on('/ep').filter((r) => r.json?.event === 'webhook.test' && r.json.session === id).length;
          const before_ = tests();
          const hookTest = await call<{ url: string; source: string; ok: boolean; statusCode: number | null }[]>(via, 'POST', `${at}/webhooks/test`);
          served(hookTest, what('webhooks/test'));
          assert.deepEqual(hookTest.body.data.map((t) => [t.url, t.source, t.ok, t.statusCode]), [[hooks.url('/ep'), 'session', true, 200]]);
          assert.equal(tests(), before_ + 1);

          // The session's proxy, tested now: the proxy sees the session's credentials.
          const proxied = proxy.requests.length;
          const probe = await call<{ ok: boolean; statusCode?: number; error?: string }>(via, 'POST', `${at}/proxy/test`, {
            body: { target: `http://127.0.0.1:${String(hooks.port)}/probe` },
          });
          served(probe, what('proxy/test'));
          assert.equal(probe.body.data.ok, true, JSON.stringify(probe.body.data));
          assert.equal(probe.body.data.statusCode, 200);
          assert.equal(proxy.requests.length, proxied + 1);
          assert.equal(proxy.requests.at(-1)?.username, PROXY_USER);

          // Its config, changed through this node.
          const patched = await call<SessionView>(via, 'PATCH', at, { body: { config: { maxRestarts: 10 + NODES.indexOf(n) } } });
          served(patched, what('PATCH'));
          assert.equal(patched.body.data.config.maxRestarts, 10 + NODES.indexOf(n));
        }

        // What was sent is in the owner's sandbox outbox, each once, with its kind.
        const outbox = await call<OutboxEntry[]>(node(owner), 'GET', `${at}/sandbox/outbox`);
        served(outbox, 'outbox');
        for (const s of sent) {
          const found = outbox.body.data.filter((e) => e.messageId === s.messageId);
          assert.equal(found.length, 1, `${s.type} ${s.messageId} sent through ${s.via}: ${String(found.length)} times in ${id}'s outbox`);
          assert.equal(found[0]!.type, s.type);
        }
        assert.equal(outbox.body.data.filter((e) => e.type === 'reaction').length, 3);
        assert.equal(outbox.body.data.filter((e) => e.type === 'seen').length, 3);
        assert.equal(outbox.body.data.filter((e) => e.type === 'presence' && e.state === 'typing').length, 3);
        // The outbox and the history through every node; an incoming file's bytes through every node.
        for (const n of NODES) {
          const box = await call<OutboxEntry[]>(node(n), 'GET', `${at}/sandbox/outbox`);
          served(box, `outbox through ${n}`);
          assert.equal(box.body.data.length, outbox.body.data.length);
          const history = await call<{ id: string }[]>(node(n), 'GET', `${at}/messages?limit=200`);
          served(history, `messages through ${n}`);
          const ids = new Set(history.body.data.map((m) => m.id));
          for (const m of [...sent.map((s) => s.messageId), ...incoming]) assert.ok(ids.has(m), `${m} missing from ${id}'s messages through ${n}`);
          const chats = await call<{ chatId: string; messageCount: number }[]>(node(n), 'GET', `${at}/chats`);
          served(chats, `chats through ${n}`);
          assert.ok(chats.body.data.some((c) => c.chatId === CONTACT));
          const media = await call(node(n), 'GET', `${at}/messages/${incoming[1]!}/media`);
          served(media, `media through ${n}`);
          assert.deepEqual(media.bytes, PNG);
        }
      }),
    );
  });

  it('a streamed upload and a session\'s event stream pass through a node that does not run the session to the one that does', async () => {
    // A streamed upload (chunked, no length) through a node that does not run the session.
    {
      const id = ep[0]!;
      const owner = await ownerOf(id);
      const file = opaqueBytes(3 * 1024 * 1024);
      const json = Buffer.from(JSON.stringify({ chatId: CONTACT, filename: 'big.bin', data: file.toString('base64') }));
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < json.length; i += 64 * 1024) controller.enqueue(json.subarray(i, i + 64 * 1024));
          controller.close();
        },
      });
      const res = await call<Sent>(after_(owner, 2), 'POST', `/api/v1/sessions/${id}/send-file`, { raw: stream, headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 200, show(res));
      assert.equal(res.servedBy, owner);
      const outbox = await call<OutboxEntry[]>(node(owner), 'GET', `/api/v1/sessions/${id}/sandbox/outbox`);
      const entry = outbox.body.data.find((e) => e.messageId === res.body.data.messageId);
      assert.equal(entry?.size, file.length, 'the streamed file did not arrive whole');
    }

    // A session's event stream through a node that does not run it: the owner's stream, kept open.
    {
      const id = ep[1]!;
      const owner = await ownerOf(id);
      const via = after_(owner, 1);
      const probe = new AbortController();
      const head = await fetch(`${via.url}/api/v1/sessions/${id}/events`, { signal: probe.signal });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('x-served-by'), owner);
      assert.match(head.headers.get('content-type') ?? '', /^text\/event-stream/);
      probe.abort();
      const sse = new SseClient(`${via.url}/api/v1/sessions/${id}/events`);
      try {
        await sse.next('session.status', (e: Envelope) => e.session === id);
        const res = await call<Sent>(after_(owner, 2), 'POST', `/api/v1/sessions/${id}/send-text`, { body: { chatId: CONTACT, content: 'to the stream' } });
        assert.equal(res.status, 200, show(res));
        const seen = await sse.next('message.sent', (e: Envelope) => e.payload.id === res.body.data.messageId);
        assert.equal(seen.session, id);
        await sse.next('message.ack', (e: Envelope) => e.payload.messageId === res.body.data.messageId && e.payload.ackName === 'read');
        assert.ok(sse.events.every((e) => (e.data as Envelope).session === id), 'another session\'s event on a session stream');
        assert.equal(sse.ended, false, 'the forwarded stream ended');
      } finally {
        sse.close();
      }
    }
  });

  it('every node lists every session with the status and node its runner gives, and answers the cluster, health and info routes itself', async () => {
    const all = [...ep, ...evIds];
    const truth = new Map<string, { status: string; node: string | null }>();
    for (const id of all) {
      const h = await ownerOf(id);
      const res = await call<SessionView>(node(h), 'GET', `/api/v1/sessions/${id}`);
      truth.set(id, { status: res.body.data.status, node: res.body.data.node });
    }
    const held = await workersByNode(all);
    for (const n of NODES) {
      const via = node(n);
      let shown = '';
      await until(`${n}'s list shows every session as its runner does (${shown})`, async () => {
        const list = await call<SessionView[]>(via, 'GET', '/api/v1/sessions');
        assert.equal(list.servedBy, n);
        const mine = list.body.data.filter((s) => all.includes(s.sessionId));
        shown = JSON.stringify(mine.map((s) => [s.sessionId, s.status, s.node]));
        return mine.length === all.length && mine.every((s) => truth.get(s.sessionId)?.status === s.status && truth.get(s.sessionId)?.node === s.node);
      }, 10_000);
      const cluster = await call<{ node: string; nodes: { id: string; sessions: number; live: boolean }[] }>(via, 'GET', '/api/v1/cluster');
      assert.equal(cluster.status, 200, show(cluster));
      assert.equal(cluster.servedBy, n);
      assert.equal(cluster.body.data.node, n);
      assert.deepEqual(
        cluster.body.data.nodes.map((c) => [c.id, c.live, c.sessions]),
        NODES.map((id) => [id, true, all.filter((s) => truth.get(s)?.node === id).length]),
      );
      const health = await call<never>(via, 'GET', '/health');
      assert.equal(health.status, 200, show(health));
      assert.equal(health.servedBy, n);
      assert.equal((health.body as unknown as { status: string }).status, 'ok');
      const info = await call<never>(via, 'GET', '/info');
      assert.equal(info.status, 200);
      assert.equal(info.servedBy, n);
    }
    // Each node has the worker of exactly the sessions it runs.
    for (const id of all) assert.deepEqual(held.get(id), [truth.get(id)?.node], `${id}'s workers`);
  });

  it('stop, start, restart, logout and linking by pairing code work through a node that does not run the session', async () => {
    /** What was wrong but let the rest run; asserted at the end. */
    const problems: string[] = [];
    for (const id of ep) {
      const owner = await ownerOf(id);
      const stop = await call<SessionView>(after_(owner, 1), 'POST', `/api/v1/sessions/${id}/stop`);
      assert.equal(stop.status, 200, show(stop));
      assert.equal(stop.servedBy, owner);
      assert.equal(stop.body.data.status, 'stopped');
      assert.equal(await holder(id), null, `${id} still leased after its stop`);
      for (const n of NODES) {
        await until(`${id} stopped through ${n}`, async () => (await call<SessionView>(node(n), 'GET', `/api/v1/sessions/${id}`)).body.data.status === 'stopped', 10_000);
      }
      assert.equal((await workersByNode([id])).get(id), undefined, `${id}'s worker still runs after its stop`);
      // Started through the other one: it goes where a new session would, and that node answers.
      const start = await call<SessionView>(after_(owner, 2), 'POST', `/api/v1/sessions/${id}/start`);
      assert.equal(start.status, 200, show(start));
      assert.ok(start.body.data.node, show(start));
      assert.equal(start.servedBy, start.body.data.node);
      assert.equal(await holder(id), start.body.data.node);
      await waitStatus(id, 'ready');
    }
    for (const id of ep) {
      const owner = await ownerOf(id);
      const pidBefore = ((await call<never>(node(owner), 'GET', '/info')).body as unknown as { workers: Record<string, number> }).workers[id];
      const restart = await call<SessionView>(after_(owner, 2), 'POST', `/api/v1/sessions/${id}/restart`);
      assert.equal(restart.status, 200, show(restart));
      assert.equal(restart.servedBy, owner);
      assert.equal(restart.body.data.node, owner);
      await waitStatus(id, 'ready');
      const pidAfter = ((await call<never>(node(owner), 'GET', '/info')).body as unknown as { workers: Record<string, number> }).workers[id];
      assert.ok(pidBefore && pidAfter && pidBefore !== pidAfter, `${id}'s worker was not restarted (${String(pidBefore)} → ${String(pidAfter)})`);
    }
    for (const id of ep) {
      const owner = await ownerOf(id);
      const logout = await call<SessionView>(after_(owner, 1), 'POST', `/api/v1/sessions/${id}/logout`);
      assert.equal(logout.status, 200, show(logout));
      assert.equal(logout.servedBy, owner);
      assert.equal(logout.body.data.status, 'stopped');
      // Checked at the end (so that the rest still runs): unlinked, the session shows no account.
      if (logout.body.data.me !== null) problems.push(`${id}: logout through ${after_(owner, 1).id} answered me ${JSON.stringify(logout.body.data.me)}, not null`);
      // Linked again by pairing code: asked for through one node, entered through another.
      const start = await call<SessionView>(after_(owner, 2), 'POST', `/api/v1/sessions/${id}/start`);
      assert.equal(start.status, 200, show(start));
      const runner = start.body.data.node!;
      await waitStatus(id, 'qr_ready');
      const code = await call<{ code: string }>(after_(runner, 1), 'POST', `/api/v1/sessions/${id}/auth/request-code`, { body: { phoneNumber: '+1 555 010 0077' } });
      assert.equal(code.status, 200, show(code));
      assert.equal(code.servedBy, runner);
      const scan = await call<SessionView>(after_(runner, 2), 'POST', `/api/v1/sessions/${id}/sandbox/scan`, { body: { code: code.body.data.code } });
      assert.equal(scan.status, 200, show(scan));
      assert.equal(scan.servedBy, runner);
      assert.equal(scan.body.data.me?.id, '15550100077@c.us');
    }
    assert.equal(problems.length, 0, `${String(problems.length)} wrong answers:\n${problems.join('\n')}`);
  });

  it('a delete through a node that does not run the session removes it everywhere: folder, worker, lease, every node\'s answers and lists', async () => {
    assert.ok(folder);
    /** What was wrong but let the rest run; asserted at the end. */
    const problems: string[] = [];
    for (const id of ep) {
      const owner = await ownerOf(id);
      const del = await call<{ sessionId: string; deleted: boolean }>(after_(owner, 1), 'DELETE', `/api/v1/sessions/${id}`);
      assert.equal(del.status, 200, show(del));
      assert.equal(del.servedBy, owner);
      assert.deepEqual(del.body.data, { sessionId: id, deleted: true });
      await assert.rejects(access(path.join(folder.dir, id)), `${id}'s folder is still there`);
      assert.equal(await holder(id), null);
      // Right after the delete answered, every node says it is gone (a client behind a load
      // balancer reads next from any node); checked at the end, then waited for.
      for (const n of NODES) {
        const gone = await call(node(n), 'GET', `/api/v1/sessions/${id}`);
        if (gone.status !== 404) problems.push(`GET ${id} through ${n} right after its delete (by ${owner} via ${after_(owner, 1).id}): ${show(gone).slice(0, 160)}`);
      }
      for (const n of NODES) {
        await until(`${n} answers 404 for the deleted ${id}`, async () => (await call(node(n), 'GET', `/api/v1/sessions/${id}`)).body.error?.code === 'SESSION_NOT_FOUND', 10_000);
        const list = await call<SessionView[]>(node(n), 'GET', '/api/v1/sessions');
        assert.ok(!list.body.data.some((s) => s.sessionId === id), `${n} still lists ${id}`);
      }
    }
    assert.equal((await workersByNode(ep)).size, 0, 'a deleted session\'s worker still runs');
    assert.equal(problems.length, 0, `${String(problems.length)} wrong answers:\n${problems.join('\n')}`);
  });

  /** The stored events after `afterId` (up to `upTo`), in id order: the database's word. */
  async function stored(afterId: string, upTo?: string): Promise<{ id: string; event: string; session: string | null }[]> {
    assert.ok(observer);
    let q = observer.db.selectFrom('events').select(['id', 'event', 'session']).where('id', '>', afterId);
    if (upTo !== undefined) q = q.where('id', '<=', upTo);
    return q.orderBy('id').execute();
  }

  /** The stream's stored events (with an id; session.log is never stored, so never compared). */
  const withIds = (events: SseEvent[]): SseEvent[] => events.filter((e) => e.id !== undefined && e.id !== '' && e.event !== 'session.log');

  /** A contact writes to `session` through `via`; answers the message's id. */
  async function writeIn(via: ClusterNodeProcess, session: string, content: string): Promise<string> {
    const res = await call<{ id: string }>(via, 'POST', `/api/v1/sessions/${session}/sandbox/incoming`, { body: { from: '15550100005@c.us', content } });
    assert.equal(res.status, 200, show(res));
    return res.body.data.id;
  }

  it("an event stream on node A carries node C's sessions' events in order with their ids, and resumes on node B with nothing missed or twice", async () => {
    const a = node('node-a');
    const b = node('node-b');
    const c = node('node-c');
    const onC = ev['node-c'];
    const sseA = new SseClient(`${a.url}/api/v1/events`);
    let sseB: SseClient | undefined;
    try {
      // The snapshot has the session node C runs (what it says of it is checked at the end).
      const snapshot = await sseA.next<Envelope>('session.status', (e: Envelope) => e.session === onC);
      const opened = sseA.lastEventId;
      assert.match(opened, /^evt_/, 'a fresh stream starts with the newest stored id');

      // Events in node C's session, caused through node C.
      const contents = [1, 2, 3].map((i) => `c-first-${String(i)}`);
      const messageIds: string[] = [];
      for (const content of contents) messageIds.push(await writeIn(c, onC, content));
      const sent = await call<Sent>(c, 'POST', `/api/v1/sessions/${onC}/send-text`, { body: { chatId: CONTACT, content: 'c-first-sent' } });
      assert.equal(sent.status, 200, show(sent));
      await sseA.next('message.sent', (e: Envelope) => e.payload.id === sent.body.data.messageId, 15_000);
      const messages = sseA.events.filter((e) => e.event === 'message' && (e.data as Envelope).session === onC);
      assert.deepEqual(messages.map((e) => (e.data as Envelope).payload.body), contents, 'node C\'s messages on node A, in order');
      assert.deepEqual(messages.map((e) => (e.data as Envelope).payload.id), messageIds);
      for (const e of messages) assert.equal(e.id, (e.data as Envelope).id, 'the SSE id is the envelope id');
      // The client drops. Everything stored from the stream's start up to its Last-Event-ID was on
      // it, in id order, once.
      sseA.close();
      await sseA.done;
      const lastA = sseA.lastEventId;
      const seenA = withIds(sseA.events).map((e) => e.id!);
      assert.deepEqual(seenA, (await stored(opened, lastA)).map((e) => e.id), 'node A\'s stream against the event log');

      // Missed while away: more in node C's session, and in the others, through every node.
      const missed: string[] = [];
      for (const content of ['c-missed-1', 'c-missed-2']) missed.push(await writeIn(a, onC, content));
      missed.push(await writeIn(c, ev['node-a'], 'a-missed'));
      missed.push(await writeIn(a, ev['node-b'], 'b-missed'));
      const last = await writeIn(b, onC, 'c-missed-last');
      missed.push(last);

      // Resumed on node B from node A's last id: the missed events first, in order, none twice.
      sseB = new SseClient(`${b.url}/api/v1/events`, { 'last-event-id': lastA });
      const resumed = sseB;
      await resumed.next('message', (e: Envelope) => e.payload.id === last, 15_000);
      const lastEnvelope = resumed.events.find((e) => e.event === 'message' && (e.data as Envelope).payload.id === last)!;
      const upToB = lastEnvelope.id!;
      let expected: string[] = [];
      await until('node B\'s stream has every event stored up to the last one caused', async () => {
        expected = (await stored(lastA, upToB)).map((e) => e.id);
        const have = new Set(withIds(resumed.events).map((e) => e.id));
        return expected.every((id) => have.has(id));
      }, 15_000);
      const gotB = withIds(resumed.events).map((e) => e.id!).filter((id) => id <= upToB);
      assert.deepEqual(gotB, expected, 'node B replayed the missed events in order, each once');
      assert.ok(!gotB.some((id) => seenA.includes(id)), 'node B sent again an event node A had delivered');
      const missedOnB = resumed.events.filter((e) => e.event === 'message').map((e) => (e.data as Envelope).payload.id);
      for (const id of missed) assert.equal(missedOnB.filter((m) => m === id).length, 1, `message ${id} on node B`);
      // The stream goes on live after the replay, and the ids keep rising.
      const live = await writeIn(c, onC, 'c-live');
      await resumed.next('message', (e: Envelope) => e.payload.id === live, 15_000);
      const ids = withIds(resumed.events).map((e) => e.id!);
      assert.deepEqual(ids, [...new Set(ids)].sort(), 'node B\'s stream is in id order without duplicates');
      // The snapshot on node A said what node C says of its session: ready, with its account.
      const resource = snapshot.payload.session as SessionView;
      assert.deepEqual(
        { status: snapshot.payload.status, previous: snapshot.payload.previous, me: snapshot.me, node: resource.node, resourceStatus: resource.status },
        { status: 'ready', previous: 'ready', me: resource.me, node: 'node-c', resourceStatus: 'ready' },
        'the snapshot on node A of the session node C runs',
      );
    } finally {
      sseA.close();
      sseB?.close();
    }
  });

  it('each webhook attempt is made once, by one node, for the events of sessions on all three nodes', async () => {
    assert.ok(receiver && observer);
    const hooks = receiver;
    const db = observer.db;
    // More events in the session of each node, caused through the others; then a last one each.
    const sentIds: string[] = [];
    for (const n of NODES) {
      await writeIn(after_(n, 1), ev[n], `hook-1 ${n}`);
      const res = await call<Sent>(after_(n, 2), 'POST', `/api/v1/sessions/${ev[n]}/send-text`, { body: { chatId: CONTACT, content: `hook-2 ${n}` } });
      assert.equal(res.status, 200, show(res));
      sentIds.push(res.body.data.messageId!);
    }
    for (const n of NODES) await writeIn(node(n), ev[n], `hook-last ${n}`);

    // The last events: each sent message read (its last ack) and stored.
    await until('the messages sent read', async () => {
      const acks = await db.selectFrom('events').select('envelope').where('session', 'in', evIds).where('event', '=', 'message.ack').execute();
      return sentIds.every((m) => acks.some((a) => a.envelope.includes(m) && a.envelope.includes('"ackName":"read"')));
    }, 15_000);
    // Then every stored event has its deliveries, and every one of them is done.
    const read = async () => {
      const events = await db.selectFrom('events').select(['id', 'event', 'session']).where('session', 'in', evIds).orderBy('id').execute();
      const deliveries = await db
        .selectFrom('webhook_deliveries')
        .select(['event_id', 'url', 'status', 'attempts', 'last_status_code', 'session'])
        .where('session', 'in', evIds)
        .execute();
      return { events, deliveries };
    };
    let state = await read();
    await until('every delivery of the event sessions made', async () => {
      state = await read();
      const messages = state.events.filter((e) => e.event === 'message').length;
      return state.deliveries.length === state.events.length + messages && state.deliveries.every((d) => d.status !== 'pending');
    }, 60_000);
    const { events, deliveries } = state;
    const byUrl = (url: string) => deliveries.filter((d) => d.url === url);
    const count = (received: Received[]) => {
      const n = new Map<string, number>();
      for (const r of received) n.set(r.id, (n.get(r.id) ?? 0) + 1);
      return n;
    };

    // Every stored event went to /ok in one attempt, made once; nothing else came.
    const ok = hooks.on('/ok');
    const okCount = count(ok);
    assert.deepEqual(byUrl(hooks.url('/ok')).map((d) => d.event_id).sort(), events.map((e) => e.id), 'one /ok delivery per stored event');
    for (const d of byUrl(hooks.url('/ok'))) {
      assert.deepEqual([d.status, d.attempts, d.last_status_code], ['delivered', 1, 200], `delivery of ${d.event_id}`);
      assert.equal(okCount.get(d.event_id), 1, `${d.event_id} reached /ok ${String(okCount.get(d.event_id) ?? 0)} times`);
    }
    assert.equal(ok.length, events.length, 'requests to /ok beyond one per event');
    assert.deepEqual(new Set(ok.map((r) => r.json?.session)), new Set(evIds), 'events of every node\'s session');
    for (const r of ok) {
      assert.equal(r.headers['webhook-id'], r.json?.id, 'webhook-id is the event id');
      assert.match(r.headers['webhook-timestamp'] ?? '', /^\d+$/);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/);
    }

    // Every message went to /flaky: a first attempt answered 500, one retry answered 200; no more.
    const messages = events.filter((e) => e.event === 'message').map((e) => e.id);
    const flaky = hooks.on('/flaky');
    const flakyCount = count(flaky);
    assert.deepEqual(byUrl(hooks.url('/flaky')).map((d) => d.event_id).sort(), messages);
    for (const d of byUrl(hooks.url('/flaky'))) {
      assert.deepEqual([d.status, d.attempts, d.last_status_code], ['delivered', 2, 200], `delivery of ${d.event_id}`);
      assert.equal(flakyCount.get(d.event_id), 2, `${d.event_id} reached /flaky ${String(flakyCount.get(d.event_id) ?? 0)} times`);
    }
    assert.equal(flaky.length, 2 * messages.length);

    // Every node lists the same deliveries.
    for (const id of evIds) {
      const lists = await Promise.all(NODES.map((n) => call<{ eventId: string; attempts: number }[]>(node(n), 'GET', `/api/v1/webhooks/deliveries?session=${id}&limit=1000`)));
      for (const [i, list] of lists.entries()) {
        assert.equal(list.status, 200, show(list));
        assert.equal(list.servedBy, NODES[i]);
        assert.equal(list.body.data.length, deliveries.filter((d) => d.session === id).length);
      }
    }
  });
});
