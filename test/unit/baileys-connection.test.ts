import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { DisconnectReason, type ConnectionState } from '@whiskeysockets/baileys';
import { Connection, FIRST_QR_MS, NEXT_QR_MS, type BaileysSocket, type ConnectionTiming } from '../../src/engines/baileys/connection.js';
import { REASON } from '../../src/engines/baileys/disconnect.js';
import type { EngineLog, EngineStatus, QrCode } from '../../src/engines/types.js';

/** A close as Baileys reports it: a Boom whose output.statusCode is the DisconnectReason (Socket/socket.js end()). */
function boom(statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { isBoom: true, output: { statusCode } });
}

/**
 * Baileys' socket as the connection sees it: connection.update events, the WebSocket client's
 * 'open', and end(), which like Baileys' (Socket/socket.js) reports the close once, then drops
 * its connection.update listeners.
 */
class FakeSocket implements BaileysSocket {
  readonly #events = new EventEmitter();
  readonly ws = new EventEmitter();
  readonly ev = { on: (event: 'connection.update', listener: (update: Partial<ConnectionState>) => void) => void this.#events.on(event, listener) };
  ended = false;
  endedWith: Error | undefined;
  loggedOut = false;
  pairingFor: string | undefined;

  end(error: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.endedWith = error;
    this.#events.emit('connection.update', { connection: 'close', lastDisconnect: { error, date: new Date() } });
    this.#events.removeAllListeners('connection.update');
  }

  logout(): Promise<void> {
    this.loggedOut = true;
    this.end(boom(DisconnectReason.loggedOut, 'Intentional Logout'));
    return Promise.resolve();
  }

  requestPairingCode(phoneNumber: string): Promise<string> {
    this.pairingFor = phoneNumber;
    return Promise.resolve('ABCD2345');
  }

  update(update: Partial<ConnectionState>): void {
    this.#events.emit('connection.update', update);
  }

  qr(data: string): void {
    this.update({ qr: data });
  }

  open(): void {
    this.ws.emit('open');
    this.update({ connection: 'open' });
  }

  /** The server (or the network) ends the connection with a reason. */
  close(statusCode: number, message: string): void {
    this.end(boom(statusCode, message));
  }
}

const TIMING: ConnectionTiming = { connectMs: 20_000, backoffBaseMs: 1000, backoffMaxMs: 60_000, qrTimeoutMs: 120_000, authTimeoutMs: 300_000, logoutMs: 15_000 };

/** Lets the connection's promise continuations run (setImmediate is not faked). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function harness(opts: { linked?: boolean; timing?: Partial<ConnectionTiming> } = {}) {
  const sockets: FakeSocket[] = [];
  const statuses: EngineStatus[] = [];
  const qrs: QrCode[] = [];
  const logs: EngineLog[] = [];
  let removed = 0;
  const connection = new Connection<FakeSocket>({
    open: () => {
      const sock = new FakeSocket();
      sockets.push(sock);
      return Promise.resolve(sock);
    },
    timing: { ...TIMING, ...opts.timing },
    linked: () => opts.linked ?? false,
    removeLogin: () => {
      removed += 1;
      return Promise.resolve();
    },
    me: () => ({ id: '1234567890@c.us', name: 'Alice' }),
    renderQr: (data) => Promise.resolve(`data:image/png;base64,${Buffer.from(data).toString('base64')}`),
    unreachable: (cause) => `could not reach web.whatsapp.com: ${cause.message}`,
    // No jitter: each delay is the backoff's own.
    random: () => 0.5,
  });
  connection.on('status', (s) => statuses.push(s));
  connection.on('qr', (q) => qrs.push(q));
  connection.on('log', (l) => logs.push(l));
  return {
    connection,
    sockets,
    statuses,
    qrs,
    logs,
    removed: () => removed,
    last: (): FakeSocket => {
      const sock = sockets.at(-1);
      assert.ok(sock, 'a socket was made');
      return sock;
    },
    seq: () => statuses.map((s) => s.status),
  };
}

describe('the baileys connection state machine (a fake socket, a fake clock)', () => {
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => {
    mock.timers.reset();
  });

  it("acts on Baileys' own DisconnectReason codes", () => {
    assert.equal(REASON.loggedOut, DisconnectReason.loggedOut);
    assert.equal(REASON.restartRequired, DisconnectReason.restartRequired);
    assert.equal(REASON.connectionReplaced, DisconnectReason.connectionReplaced);
    assert.equal(REASON.forbidden, DisconnectReason.forbidden);
    assert.equal(REASON.multideviceMismatch, DisconnectReason.multideviceMismatch);
    assert.equal(REASON.timedOut, DisconnectReason.timedOut);
  });

  it('QR codes then a scan: restartRequired (515) reconnects at once without an error, and the new socket opens ready', async () => {
    const h = harness();
    await h.connection.start();
    const first = h.last();
    first.qr('ref-1,noise,identity,adv');
    await settle();
    first.qr('ref-2,noise,identity,adv');
    await settle();
    assert.deepEqual(h.seq(), ['qr_ready']);
    assert.deepEqual(
      h.qrs.map((q) => [q.data, q.attempt]),
      [
        ['ref-1,noise,identity,adv', 1],
        ['ref-2,noise,identity,adv', 2],
      ],
    );
    assert.match(h.qrs[0]?.dataUrl ?? '', /^data:image\/png;base64,/);
    // Baileys shows the first code of a connection 60 s, the next ones 20 s (Socket/socket.js).
    const [one, two] = h.qrs.map((q) => Date.parse(q.expiresAt) - Date.now());
    assert.ok(Math.abs((one ?? 0) - FIRST_QR_MS) < 5000 && Math.abs((two ?? 0) - NEXT_QR_MS) < 5000, `${String(one)} ${String(two)}`);

    first.update({ isNewLogin: true, qr: undefined });
    assert.deepEqual(h.seq(), ['qr_ready', 'authenticated']);
    first.close(DisconnectReason.restartRequired, 'Stream Errored (restart required)');
    await settle();
    assert.equal(h.sockets.length, 2, 'a new socket at once, no backoff');
    assert.ok(h.statuses.every((s) => s.status !== 'failed' && s.status !== 'disconnected' && !s.error), JSON.stringify(h.statuses));

    h.last().open();
    assert.deepEqual(h.seq(), ['qr_ready', 'authenticated', 'ready']);
    assert.deepEqual(h.statuses.at(-1)?.me, { id: '1234567890@c.us', name: 'Alice' });
    assert.equal(h.connection.ready(), h.last());
  });

  it('a drop after ready: disconnected with why, a new socket after 1 s, 2 s, 4 s while reconnects fail, ready again once one opens; the next drop starts the backoff over', async () => {
    const h = harness({ linked: true });
    await h.connection.start();
    h.last().open();
    h.last().close(DisconnectReason.connectionLost, 'Connection was lost');
    assert.deepEqual(h.seq(), ['ready', 'disconnected']);
    assert.match(h.statuses[1]?.error ?? '', /connection to WhatsApp was lost \(Connection was lost \(408\)\): reconnecting/);
    assert.throws(() => h.connection.ready(), { code: 'SESSION_NOT_READY' });

    for (const delay of [1000, 2000, 4000]) {
      const before = h.sockets.length;
      mock.timers.tick(delay - 1);
      await settle();
      assert.equal(h.sockets.length, before, `no new socket before ${String(delay)} ms`);
      mock.timers.tick(1);
      await settle();
      assert.equal(h.sockets.length, before + 1, `a new socket after ${String(delay)} ms`);
      // Offline: the WebSocket errors (Baileys reports a network error as 408).
      if (delay < 4000) h.last().close(DisconnectReason.timedOut, 'WebSocket Error (getaddrinfo ENOTFOUND web.whatsapp.com)');
    }
    assert.deepEqual(h.seq(), ['ready', 'disconnected'], 'still disconnected while it reconnects: no failure, no worker restart');
    h.last().open();
    assert.deepEqual(h.seq(), ['ready', 'disconnected', 'ready']);

    h.last().close(DisconnectReason.connectionClosed, 'Connection Terminated');
    const before = h.sockets.length;
    mock.timers.tick(1000);
    await settle();
    assert.equal(h.sockets.length, before + 1, 'the backoff started over at 1 s');
  });

  it('a reconnect that hangs is ended at the deadline and retried, never failing the session', async () => {
    const h = harness({ linked: true });
    await h.connection.start();
    h.last().open();
    h.last().close(DisconnectReason.connectionLost, 'Connection was lost');
    mock.timers.tick(1000);
    await settle();
    const hanging = h.last();
    mock.timers.tick(TIMING.connectMs);
    await settle();
    assert.equal(hanging.ended, true);
    assert.equal((hanging.endedWith as { code?: unknown } | undefined)?.code, 'ETIMEDOUT');
    mock.timers.tick(2000);
    await settle();
    assert.equal(h.sockets.length, 3);
    assert.deepEqual(h.seq(), ['ready', 'disconnected']);
  });

  it('loggedOut (401) while ready: stopped with "logged out by the phone", the login removed, no new socket', async () => {
    const h = harness({ linked: true });
    await h.connection.start();
    h.last().open();
    h.last().close(DisconnectReason.loggedOut, 'Connection Failure');
    await settle();
    assert.deepEqual(h.seq(), ['ready', 'stopped']);
    assert.equal(h.statuses.at(-1)?.error, 'logged out by the phone');
    assert.equal(h.removed(), 1);
    mock.timers.tick(120_000);
    await settle();
    assert.equal(h.sockets.length, 1);
  });

  it('loggedOut (401) on restoring a saved login: stopped, saying the login is no longer accepted', async () => {
    const h = harness({ linked: true });
    await h.connection.start();
    h.last().close(DisconnectReason.loggedOut, 'Connection Failure');
    await settle();
    assert.deepEqual(h.seq(), ['stopped']);
    assert.match(h.statuses[0]?.error ?? '', /no longer accepts this device's login .* scan a new QR code/);
    assert.equal(h.removed(), 1);
  });

  it('connectionReplaced (440): failed, not retryable, and no reconnect', async () => {
    const h = harness({ linked: true });
    await h.connection.start();
    h.last().open();
    h.last().close(DisconnectReason.connectionReplaced, 'Stream Errored (conflict)');
    assert.deepEqual(h.seq(), ['ready', 'failed']);
    assert.equal(h.statuses[1]?.retryable, false);
    assert.match(h.statuses[1]?.error ?? '', /another client opened this login/);
    mock.timers.tick(120_000);
    await settle();
    assert.equal(h.sockets.length, 1);
  });

  it('the first connection failing before it reaches WhatsApp: failed, retryable, in the words of unreachable(); one that hangs is cut at the deadline', async () => {
    const offline = harness();
    await offline.connection.start();
    offline.last().end(boom(408, 'WebSocket Error (getaddrinfo ENOTFOUND web.whatsapp.com)'));
    assert.deepEqual(offline.seq(), ['failed']);
    assert.equal(offline.statuses[0]?.retryable, true);
    assert.equal(offline.statuses[0]?.error, 'could not reach web.whatsapp.com: WebSocket Error (getaddrinfo ENOTFOUND web.whatsapp.com)');

    // The WebSocket opened: what closed it is WhatsApp's answer (here an outdated client's 405), not the network.
    const refused = harness();
    await refused.connection.start();
    refused.last().ws.emit('open');
    refused.last().close(405, 'Connection Failure');
    assert.deepEqual(refused.seq(), ['failed']);
    assert.equal(refused.statuses[0]?.error, 'WhatsApp closed the connection before it showed a QR code or logged in: Connection Failure (405)');
    assert.equal(refused.statuses[0]?.retryable, true);

    const hung = harness();
    await hung.connection.start();
    mock.timers.tick(TIMING.connectMs - 1);
    assert.deepEqual(hung.seq(), []);
    mock.timers.tick(1);
    assert.deepEqual(hung.seq(), ['failed']);
    assert.equal(hung.statuses[0]?.retryable, true);
    assert.equal(hung.statuses[0]?.error, 'could not reach web.whatsapp.com: no answer within 20 s');
    mock.timers.tick(120_000);
    await settle();
    assert.equal(hung.sockets.length, 1, 'no reconnect: the runner restarts the session');
  });

  it('no scan within qrTimeout: failed, not retryable; the QR codes expiring earlier only reconnect for new ones', async () => {
    const h = harness({ timing: { qrTimeoutMs: 200_000 } });
    await h.connection.start();
    h.last().qr('ref-1');
    await settle();
    // Baileys ends a connection whose QR refs ran out (Socket/socket.js genPairQR).
    h.last().close(DisconnectReason.timedOut, 'QR refs attempts ended');
    await settle();
    assert.equal(h.sockets.length, 2, 'a new connection at once');
    h.last().qr('ref-7');
    await settle();
    assert.deepEqual(
      h.qrs.map((q) => q.attempt),
      [1, 2],
    );
    mock.timers.tick(200_000);
    assert.deepEqual(h.seq(), ['qr_ready', 'failed']);
    assert.equal(h.statuses[1]?.retryable, false);
    assert.match(h.statuses[1]?.error ?? '', /^no scan within 200 s \(qrTimeout\)/);
    assert.equal(h.last().ended, true);
  });

  it('a pairing code while the QR code shows, as ABCD-EFGH; none before', async () => {
    const h = harness();
    await h.connection.start();
    await assert.rejects(h.connection.requestPairingCode('1234567890'), { code: 'SESSION_NOT_READY' });
    h.last().qr('ref-1');
    await settle();
    assert.equal(await h.connection.requestPairingCode('1234567890'), 'ABCD-2345');
    assert.equal(h.last().pairingFor, '1234567890');
  });

  it("logout while ready: Baileys' logout, the login removed, stopped without an error; stop() after it is silent", async () => {
    const h = harness({ linked: true });
    await h.connection.start();
    h.last().open();
    await h.connection.logout();
    assert.equal(h.last().loggedOut, true);
    assert.equal(h.removed(), 1);
    assert.deepEqual(h.seq(), ['ready', 'stopped']);
    assert.equal(h.statuses[1]?.error, null);
    h.connection.stop();
    mock.timers.tick(120_000);
    await settle();
    assert.equal(h.statuses.length, 2);
    assert.equal(h.sockets.length, 1);
  });

  it('stop() during a backoff: the socket is ended, nothing is reconnected or reported after it', async () => {
    const h = harness({ linked: true });
    await h.connection.start();
    h.last().open();
    h.last().close(DisconnectReason.connectionLost, 'Connection was lost');
    h.connection.stop();
    mock.timers.tick(120_000);
    await settle();
    assert.equal(h.sockets.length, 1);
    assert.deepEqual(h.seq(), ['ready', 'disconnected']);
  });
});
