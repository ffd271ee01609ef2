import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import express from 'express';
import { HOP_HEADER } from '../../src/cluster/forward.js';
import { SessionMirror } from '../../src/cluster/mirror.js';
import { OrderedFeed } from '../../src/cluster/ordered-feed.js';
import type { Subscriber } from '../../src/events/bus.js';
import { newEventId } from '../../src/events/envelope.js';
import { ReplaySeam } from '../../src/http/sse-seam.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Envelope } from '../../src/events/envelope.js';
import type { ClusterNode } from '../../src/store/leases.js';
import { EventTokens } from '../../src/http/auth.js';
import { forwardToOwner, type ClusterSource, type Forward } from '../../src/http/routes/cluster.js';

/** The pieces that join a node to the others: what it shows of their sessions, where it sends a call, whose tokens it takes. */

function statusEvent(id: string, session: string, status: string, extra: Record<string, unknown> = {}): Envelope {
  return {
    id,
    timestamp: new Date().toISOString(),
    event: 'session.status',
    session,
    engine: 'sandbox',
    me: null,
    payload: { status, previous: 'stopped', error: null, me: null, session: { sessionId: session, status, restarts: 2, qrAvailable: false, error: null, me: null, ...extra } },
  };
}

describe('SessionMirror', () => {
  it("shows another node's session as its runner last said, and only a view at rest once nobody runs it", () => {
    const mirror = new SessionMirror();
    assert.equal(mirror.view('s1', true), undefined);
    mirror.observe(statusEvent('evt_02', 's1', 'ready', { me: { id: '1555@c.us', name: 'A' } }));
    assert.equal(mirror.view('s1', true)?.status, 'ready');
    assert.deepEqual(mirror.view('s1', true)?.me, { id: '1555@c.us', name: 'A' });
    assert.equal(mirror.view('s1', true)?.restarts, 2);
    // Its node died (no lease): "ready" is not true any more.
    assert.equal(mirror.view('s1', false), undefined);
    mirror.observe(statusEvent('evt_03', 's1', 'failed', { error: 'boom' }));
    assert.equal(mirror.view('s1', false)?.status, 'failed');
    assert.equal(mirror.view('s1', false)?.error, 'boom');
    // At rest, not who it was logged in as (a logout since would not show).
    assert.equal('me' in (mirror.view('s1', false) ?? {}), false);
    // This node changed it itself: its own state is the word.
    mirror.forget('s1');
    assert.equal(mirror.view('s1', true), undefined);
  });

  it('never lets an older event replace a newer one, forgets a deleted session, and ignores other events', () => {
    const mirror = new SessionMirror();
    mirror.observe(statusEvent('evt_05', 's1', 'ready'));
    mirror.observe(statusEvent('evt_04', 's1', 'qr_ready'));
    assert.equal(mirror.view('s1', true)?.status, 'ready');
    mirror.observe({ ...statusEvent('evt_06', 's1', 'stopped'), event: 'message' });
    assert.equal(mirror.view('s1', true)?.status, 'ready');
    mirror.observe({ id: 'evt_07', timestamp: '', event: 'session.deleted', session: 's1', engine: null, me: null, payload: { sessionId: 's1' } });
    assert.equal(mirror.view('s1', true), undefined);
  });
});

describe('forwardToOwner', () => {
  const node = (id: string, sessions: number, live = true): ClusterNode => ({
    id,
    url: `http://${id}.invalid`,
    lastSeen: new Date(),
    startedAt: new Date(),
    sessions,
    maxSessions: 10,
    live,
    draining: false,
  });

  async function front(
    owners: Record<string, string | null>,
    opts: { nodes?: ClusterNode[]; preferred?: Record<string, string> } = {},
  ): Promise<{ url: string; forwarded: string[]; close(): Promise<void> }> {
    const forwarded: string[] = [];
    const cluster: ClusterSource = {
      nodeId: 'node-a',
      nodes: () => Promise.resolve(opts.nodes ?? []),
      refreshHolders: () => Promise.resolve(),
      owner: (session) => {
        const node = owners[session];
        if (node === undefined) return Promise.reject(new Error('database down'));
        return Promise.resolve(node === null ? null : { id: node, url: `http://${node}.invalid` });
      },
    };
    const forward: Forward = async (req, res, node) => {
      // The body was not read before: it streams to the owner untouched.
      let body = '';
      for await (const chunk of req) body += String(chunk);
      forwarded.push(`${req.method} ${req.originalUrl} -> ${node.id} ${body}`);
      res.status(202).json({ forwardedTo: node.id });
    };
    const app = express();
    app.use(forwardToOwner(cluster, forward, (id) => Promise.resolve(opts.preferred?.[id])));
    app.use(express.json());
    app.use((req, res) => {
      res.json({ servedHere: req.originalUrl });
    });
    app.use(((err: Error & { code?: string }, _req, res, _next) => {
      res.status(500).json({ error: `${err.code ?? ''} ${String(err)}` });
    }) as express.ErrorRequestHandler);
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${String(port)}`, forwarded, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  it("passes a call for another node's session on with its raw body, and serves its own, nobody's, and other paths here", async () => {
    const f = await front({ theirs: 'node-c', mine: 'node-a', nobodys: null }, { nodes: [node('node-a', 0)] });
    try {
      const sent = await fetch(`${f.url}/api/v1/sessions/theirs/send-text?x=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"chatId":"1","content":"hi"}' });
      assert.equal(sent.status, 202);
      assert.deepEqual(await sent.json(), { forwardedTo: 'node-c' });
      assert.deepEqual(f.forwarded, ['POST /api/v1/sessions/theirs/send-text?x=1 -> node-c {"chatId":"1","content":"hi"}']);
      const whole = await fetch(`${f.url}/api/v1/sessions/theirs`);
      assert.deepEqual(await whole.json(), { forwardedTo: 'node-c' });
      for (const path of ['/api/v1/sessions/mine/status', '/api/v1/sessions/nobodys', '/api/v1/sessions', '/api/v1/events', '/health']) {
        const res = await fetch(`${f.url}${path}`);
        assert.deepEqual(await res.json(), { servedHere: path }, path);
      }
      assert.equal(f.forwarded.length, 2);
    } finally {
      await f.close();
    }
  });

  it("starts a session nobody runs where a new one would go: its config.node when live, else the most free slots", async () => {
    const f = await front(
      { free: null, pinned: null, pinnedDown: null },
      { nodes: [node('node-a', 5), node('node-b', 1), node('node-c', 9), node('node-d', 0, false)], preferred: { pinned: 'node-c', pinnedDown: 'node-d' } },
    );
    try {
      for (const id of ['free', 'pinned', 'pinnedDown']) await fetch(`${f.url}/api/v1/sessions/${id}/start`, { method: 'POST' });
      // A status read of a session nobody runs stays here.
      const here = await fetch(`${f.url}/api/v1/sessions/free/status`);
      assert.deepEqual(await here.json(), { servedHere: '/api/v1/sessions/free/status' });
      assert.deepEqual(f.forwarded, [
        'POST /api/v1/sessions/free/start -> node-b ',
        'POST /api/v1/sessions/pinned/start -> node-c ',
        'POST /api/v1/sessions/pinnedDown/start -> node-b ',
      ]);
    } finally {
      await f.close();
    }
  });

  it('serves a call another node passed on here, whoever the owner is (one hop, never a loop)', async () => {
    const f = await front({ theirs: 'node-c' });
    try {
      const res = await fetch(`${f.url}/api/v1/sessions/theirs/status`, { headers: { [HOP_HEADER]: 'node-b' } });
      assert.deepEqual(await res.json(), { servedHere: '/api/v1/sessions/theirs/status' });
      assert.deepEqual(f.forwarded, []);
    } finally {
      await f.close();
    }
  });

  it("answers an error when the owner cannot be read, and leaves a malformed id to the routes", async () => {
    const f = await front({});
    try {
      const down = await fetch(`${f.url}/api/v1/sessions/unknown/status`);
      assert.equal(down.status, 500);
      assert.match(((await down.json()) as { error: string }).error, /NODE_UNAVAILABLE.*cluster's database did not answer: database down/s);
      const malformed = await fetch(`${f.url}/api/v1/sessions/%E0%A4%A/status`);
      assert.deepEqual(await malformed.json(), { servedHere: '/api/v1/sessions/%E0%A4%A/status' });
    } finally {
      await f.close();
    }
  });
});

describe('EventTokens', () => {
  it('a token one node issued is accepted by another node with the same API key, not with another key', () => {
    const issued = new EventTokens(60_000, 'the-key').issue();
    assert.equal(new EventTokens(60_000, 'the-key').verify(issued.token), true);
    assert.equal(new EventTokens(60_000, 'another-key').verify(issued.token), false);
    assert.equal(new EventTokens(60_000).verify(issued.token), false);
  });
});

describe('OrderedFeed', () => {
  function upstream(): { subscribe(fn: Subscriber): () => void; emit(e: Envelope): void; listeners(): number } {
    const fns = new Set<Subscriber>();
    return {
      subscribe: (fn) => {
        fns.add(fn);
        return () => fns.delete(fn);
      },
      emit: (e) => {
        for (const fn of fns) fn(e);
      },
      listeners: () => fns.size,
    };
  }
  const envelope = (id: string): Envelope => ({ id, timestamp: '', event: 'message', session: 's', engine: null, me: null, payload: null });

  it("hands events out in id order, holding each until it is holdMs old: another node's earlier event overtakes this node's later one", async () => {
    const bus = upstream();
    const feed = new OrderedFeed(bus, { holdMs: 300 });
    const heard: string[] = [];
    const off = feed.subscribe((e) => heard.push(e.id));
    const now = Date.now();
    const earlier = newEventId(now - 50);
    const later = newEventId(now);
    bus.emit(envelope(later));
    bus.emit(envelope(earlier));
    assert.deepEqual(heard, [], 'held');
    // Bounded wait for the hold to pass (not a timing assertion: only the order is checked).
    for (let i = 0; i < 100 && heard.length < 2; i++) await sleep(20);
    assert.deepEqual(heard, [earlier, later]);
    // Late (older than the hold already): out at once, never dropped.
    const late = newEventId(now - 10_000);
    bus.emit(envelope(late));
    assert.deepEqual(heard, [earlier, later, late]);
    off();
    assert.equal(bus.listeners(), 0, 'nobody listens: unsubscribed upstream');
  });
});

describe('ReplaySeam in a cluster', () => {
  it('sends once an event that was replayed from the log and comes live after the replay ended', () => {
    const sent: string[] = [];
    const seam = new ReplaySeam((e) => sent.push(e.id), 1_000_000, () => assert.fail('no overflow'), 10_000);
    const a = newEventId();
    const b = newEventId();
    const c = newEventId();
    const envelope = (id: string): Envelope => ({ id, timestamp: '', event: 'message', session: 's', engine: null, me: null, payload: null });
    seam.replayed(envelope(a));
    seam.replayed(envelope(b));
    seam.goLive();
    seam.live(envelope(a));
    seam.live(envelope(b));
    seam.live(envelope(c));
    assert.deepEqual(sent, [a, b, c]);
  });
});
