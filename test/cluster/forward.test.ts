import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, afterEach, describe, it } from 'node:test';
import express, { type ErrorRequestHandler } from 'express';
import { AppError } from '../../src/errors.js';
import { createForwarder, HOP_HEADER, isForwarded, servedBy, type Forwarder, type ForwardTarget } from '../../src/cluster/forward.js';

/**
 * The one-hop forwarder between two local HTTP servers: a "front" node (Express, as the app is)
 * that passes every request it did not get from another node on to the "owner" node.
 */

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface Owner {
  url: string;
  seen: Seen[];
  /** Resolves when the owner's request `i` ends early (the client went away). */
  aborted: Promise<void>[];
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen, index: number) => void;

async function listen(server: http.Server): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The owner node: records each request (its body read whole unless the handler answers first) and answers with `handler`. */
async function startOwner(handler: Handler, opts: { readBody?: boolean } = {}): Promise<Owner> {
  const seen: Seen[] = [];
  const aborted: Promise<void>[] = [];
  const server = http.createServer((req, res) => {
    const index = seen.length;
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) };
    seen.push(entry);
    aborted.push(new Promise((resolve) => res.on('close', () => (res.writableFinished ? undefined : resolve()))));
    res.setHeader('x-served-by', 'owner');
    if (opts.readBody === false) {
      handler(req, res, entry, index);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      entry.body = Buffer.concat(chunks);
      handler(req, res, entry, index);
    });
  });
  const l = await listen(server);
  return { url: l.url, seen, aborted, close: l.close };
}

/** Polls `check` for up to 5 s (a bound, not a timing assertion). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(check(), 'timed out');
}

const errors: ErrorRequestHandler = (err, _req, res, _next) => {
  const status = err instanceof AppError ? err.status : 500;
  res.status(status).json({ success: false, error: { code: err instanceof AppError ? err.code : 'INTERNAL_ERROR', message: String((err as Error).message) } });
};

/** The front node: X-Served-By: front; JSON parsed only when `parseJson`; everything not forwarded already goes to `owner`. */
async function startFront(forwarder: Forwarder, owner: ForwardTarget, opts: { parseJson?: boolean } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.use(servedBy('front'));
  app.get('/local', (_req, res) => {
    res.json({ here: true });
  });
  if (opts.parseJson) app.use(express.json());
  app.use((req, res, next) => {
    if (isForwarded(req)) {
      res.json({ servedHere: true });
      return;
    }
    forwarder.forward(req, res, owner).catch(next);
  });
  app.use(errors);
  return listen(http.createServer(app));
}

describe('one-hop forwarding to another node', { timeout: 30_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  after(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function pair(handler: Handler, opts: { parseJson?: boolean; readBody?: boolean } = {}): Promise<{ owner: Owner; front: string; forwarder: Forwarder }> {
    const owner = await startOwner(handler, opts);
    cleanups.push(owner.close);
    const forwarder = createForwarder({ nodeId: 'front' });
    cleanups.push(() => forwarder.close());
    const front = await startFront(forwarder, { id: 'owner', url: owner.url }, opts);
    cleanups.push(front.close);
    return { owner, front: front.url, forwarder };
  }

  it('passes the method, path, query, headers and a large body on, and the status, headers and body back', async () => {
    const { owner, front } = await pair((_req, res, seen) => {
      res.statusCode = 207;
      res.setHeader('content-type', 'application/octet-stream');
      res.setHeader('x-owner', 'yes');
      res.end(createHash('sha256').update(seen.body).digest());
    });
    const body = Buffer.alloc(3 * 1024 * 1024, 'abc');
    const answer = await fetch(`${front}/api/v1/sessions/s1/send-file?x=1&y=%20z`, {
      method: 'PUT',
      headers: { 'content-type': 'application/x-thing', 'x-api-key': 'k', 'idempotency-key': 'i-1' },
      body,
    });
    assert.equal(answer.status, 207);
    assert.equal(answer.headers.get('x-owner'), 'yes');
    assert.equal(answer.headers.get('content-type'), 'application/octet-stream');
    const digest = Buffer.from(await answer.arrayBuffer());
    assert.deepEqual(digest, createHash('sha256').update(body).digest());
    const seen = owner.seen[0]!;
    assert.equal(seen.method, 'PUT');
    assert.equal(seen.url, '/api/v1/sessions/s1/send-file?x=1&y=%20z');
    assert.equal(seen.headers['x-api-key'], 'k');
    assert.equal(seen.headers['idempotency-key'], 'i-1');
    assert.equal(seen.headers['content-type'], 'application/x-thing');
    assert.equal(seen.body.length, body.length);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  });

  it('drops hop-by-hop headers in both directions, and those the Connection header names', async () => {
    const { owner, front } = await pair((_req, res) => {
      res.setHeader('connection', 'keep-alive, x-owner-hop');
      res.setHeader('x-owner-hop', 'must not cross');
      res.setHeader('proxy-authenticate', 'Basic');
      res.setHeader('x-kept', '1');
      res.end('ok');
    });
    const answer = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${front}/api/v1/x`, {
        method: 'GET',
        headers: { connection: 'keep-alive, x-client-hop', 'x-client-hop': 'must not cross', te: 'trailers', 'proxy-authorization': 'Basic eA==', 'x-kept': 'k' },
      });
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    });
    answer.resume();
    assert.equal(answer.statusCode, 200);
    assert.equal(answer.headers['x-owner-hop'], undefined);
    assert.equal(answer.headers['proxy-authenticate'], undefined);
    assert.equal(answer.headers['x-kept'], '1');
    const seen = owner.seen[0]!.headers;
    assert.equal(seen['x-client-hop'], undefined);
    assert.equal(seen.te, undefined);
    assert.equal(seen['proxy-authorization'], undefined);
    assert.equal(seen['x-kept'], 'k');
    assert.notEqual(seen.host, new URL(front).host, "the owner's own host, not the front's");
    assert.equal(seen['x-forwarded-host'], new URL(front).host);
  });

  it('marks the request with the hop header, and a marked request is served where it lands (never passed on again)', async () => {
    const { owner, front } = await pair((req, res) => {
      // The owner here is a plain server; what matters is what it receives.
      res.end(JSON.stringify({ forwarded: isForwarded(req) }));
    });
    const passed = await fetch(`${front}/api/v1/a`);
    assert.deepEqual(await passed.json(), { forwarded: true });
    assert.equal(owner.seen[0]!.headers[HOP_HEADER], 'front');
    // A request that already made its hop is answered by the front itself.
    const marked = await fetch(`${front}/api/v1/a`, { headers: { [HOP_HEADER]: 'someone' } });
    assert.deepEqual(await marked.json(), { servedHere: true });
    assert.equal(owner.seen.length, 1);
  });

  it("sets X-Served-By on the node's own answers and keeps the owner's on forwarded ones", async () => {
    const { front } = await pair((_req, res) => res.end('ok'));
    const local = await fetch(`${front}/local`);
    assert.equal(local.headers.get('x-served-by'), 'front');
    await local.arrayBuffer();
    const passed = await fetch(`${front}/api/v1/anything`);
    assert.equal(passed.headers.get('x-served-by'), 'owner');
    await passed.arrayBuffer();
  });

  it('passes an event stream through as it is written, and ends the upstream when the client leaves', { timeout: 10_000 }, async () => {
    let write: ((text: string) => void) | undefined;
    const { owner, front } = await pair((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': hello\n\n');
      write = (text) => res.write(text);
    });
    const controller = new AbortController();
    const answer = await fetch(`${front}/api/v1/events`, { signal: controller.signal });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('content-type'), 'text/event-stream');
    const reader = (answer.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let got = '';
    async function readUntil(text: string): Promise<void> {
      while (!got.includes(text)) {
        const { value, done } = await reader.read();
        if (done) assert.fail(`the stream ended before ${JSON.stringify(text)}`);
        got += decoder.decode(value, { stream: true });
      }
    }
    // The owner has not ended the stream: each event arrives while it stays open.
    await readUntil(': hello');
    write!('id: 1\nevent: one\ndata: {}\n\n');
    await readUntil('event: one');
    write!('id: 2\nevent: two\ndata: {}\n\n');
    await readUntil('event: two');
    controller.abort();
    await owner.aborted[0];
  });

  it('a client that left before its call was passed on (while the owner was looked up) never ends the process', async () => {
    const owner = await startOwner((_req, res) => res.end('{"ok":true}'));
    cleanups.push(owner.close);
    const forwarder = createForwarder({ nodeId: 'front' });
    cleanups.push(() => forwarder.close());
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => {
      uncaught.push(err);
    };
    process.on('uncaughtException', onUncaught);
    const forwarded: Promise<void>[] = [];
    let arrived: () => void = () => undefined;
    const atFront = new Promise<void>((resolve) => (arrived = resolve));
    // The front passes the call on only once its client has gone (as when the owner lookup took longer).
    const front = await listen(
      http.createServer((req, res) => {
        res.once('close', () => forwarded.push(forwarder.forward(req, res, { id: 'owner', url: owner.url }).catch(() => undefined)));
        arrived();
      }),
    );
    cleanups.push(front.close);
    try {
      await new Promise<void>((resolve) => {
        const req = http.get(`${front.url}/api/v1/sessions/s1/status`);
        req.on('error', () => resolve());
        req.on('close', () => resolve());
        // Gone once the front has the call.
        void atFront.then(() => req.destroy());
      });
      await until(() => forwarded.length === 1 && owner.seen.length === 1);
      await Promise.all(forwarded);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    assert.deepEqual(uncaught.map(String), []);
  });

  it('sends a body the JSON parser already read again, as JSON', async () => {
    const { owner, front } = await pair((_req, res) => res.end('ok'), { parseJson: true });
    const answer = await fetch(`${front}/api/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ id: 's1', config: { node: 'owner' } }),
    });
    assert.equal(await answer.text(), 'ok');
    const seen = owner.seen[0]!;
    assert.deepEqual(JSON.parse(seen.body.toString('utf8')), { id: 's1', config: { node: 'owner' } });
    assert.equal(seen.headers['content-type'], 'application/json');
    assert.equal(Number(seen.headers['content-length']), seen.body.length);
  });

  it('answers 503 with the node named when the owner cannot be reached', async () => {
    const gone = await startOwner((_req, res) => res.end());
    await gone.close();
    const forwarder = createForwarder({ nodeId: 'front', connectTimeoutMs: 2_000 });
    cleanups.push(() => forwarder.close());
    const front = await startFront(forwarder, { id: 'dead-node', url: gone.url });
    cleanups.push(front.close);
    const answer = await fetch(`${front.url}/api/v1/sessions/s1`);
    assert.equal(answer.status, 503);
    assert.equal(answer.headers.get('x-served-by'), 'front');
    const body = (await answer.json()) as { error: { message: string } };
    assert.match(body.error.message, /dead-node/);
  });
});
