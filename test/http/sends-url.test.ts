import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { HTML, PDF, PNG, opaqueBytes } from '../helpers/media-fixtures.js';
import { expectError, expectSent, outbox, outgoingFiles, readySandbox, type Sent } from '../helpers/send-checks.js';

const ID = 'by-url';
const TO = '15550100001@c.us';
const MAX_BODY = 64 * 1024;
/** Random bytes under --max-body: sent whole, byte for byte. */
const BLOB = opaqueBytes(40_000);
const TOO_BIG = opaqueBytes(MAX_BODY + 1000);

/**
 * The files a send may name by URL, on 127.0.0.1: counts its requests, and holds the sockets of
 * those it never answers so the after-hook can end them.
 */
class FileServer {
  readonly server: http.Server;
  requests = 0;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor() {
    this.server = http.createServer((req, res) => {
      this.requests += 1;
      // A client that gives up mid-answer (a refused, too big file) is no error here.
      res.on('error', () => undefined);
      this.#answer(req.url ?? '/', res);
    });
    this.server.on('connection', (socket) => {
      socket.on('error', () => undefined);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return `http://127.0.0.1:${String(this.port)}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #answer(url: string, res: http.ServerResponse): void {
    const hop = /^\/hop\/(\d+)\/(.*)$/.exec(url);
    if (hop) {
      const left = Number(hop[1]);
      if (left > 0) {
        res.writeHead(302, { location: `/hop/${String(left - 1)}/${hop[2] ?? ''}` }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG);
      return;
    }
    switch (url) {
      case '/files/blob.bin':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BLOB.length }).end(BLOB);
        return;
      case '/files/report.pdf':
        res.writeHead(200, { 'content-type': 'application/pdf' }).end(PDF);
        return;
      case '/download?id=7':
        res.writeHead(200, { 'content-type': 'image/png', 'content-disposition': 'attachment; filename="chart.png"' }).end(PNG);
        return;
      case '/big-by-length.bin':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': TOO_BIG.length }).end(TOO_BIG);
        return;
      case '/big-chunked.bin': {
        // No Content-Length: only counting as it streams can tell it is too big.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let at = 0; at < TOO_BIG.length; at += 4096) res.write(TOO_BIG.subarray(at, at + 4096));
        res.end();
        return;
      }
      case '/page.html':
        res.writeHead(200, { 'content-type': 'text/html' }).end(HTML);
        return;
      case '/hang':
        return; // never answered
      case '/hang-in-body':
        res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': PDF.length * 10 });
        res.write(PDF);
        return; // the rest never comes
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such file');
    }
  }
}

const send = (srv: TestServer, endpoint: string, body: Record<string, unknown>) => srv.api<Sent>('POST', `/api/v1/sessions/${ID}/${endpoint}`, body);

describe('media by URL with --allow-private-urls: fetched within the limits, never left on disk', () => {
  let srv: TestServer;
  const files = new FileServer();
  let base = '';

  before(async () => {
    base = await files.start();
    srv = await startTestServer(['--allow-private-urls', '--max-body', '64kb']);
    await readySandbox(srv, ID);
  });
  after(async () => {
    await srv.stop();
    await files.close();
  });

  async function refusedAndClean(res: Awaited<ReturnType<typeof send>>, status: number, code: string, paths: string[] = []): Promise<void> {
    const before = (await outbox(srv, ID)).length;
    expectError(res, status, code, paths);
    assert.equal((await outbox(srv, ID)).length, before);
    assert.deepEqual(await outgoingFiles(srv, ID), [], 'nothing left in outgoing/');
  }

  it('a file is fetched and sent whole; its name comes from the URL', async () => {
    const sent = expectSent(await send(srv, 'send-file', { chatId: TO, url: `${base}/files/blob.bin` }), TO);
    const entry = (await outbox(srv, ID)).at(-1)!;
    assert.equal(entry.messageId, sent.messageId);
    assert.equal(entry.size, BLOB.length, 'the outbox holds as many bytes as the server sent');
    assert.equal(entry.filename, 'blob.bin');
    assert.equal(entry.mimetype, 'application/octet-stream');
    assert.deepEqual(await outgoingFiles(srv, ID), []);
    const pdf = expectSent(await send(srv, 'send-file', { chatId: TO, url: `${base}/files/report.pdf`, caption: 'fetched' }), TO);
    const pdfEntry = (await outbox(srv, ID)).at(-1)!;
    assert.equal(pdfEntry.messageId, pdf.messageId);
    assert.equal(pdfEntry.filename, 'report.pdf');
    assert.equal(pdfEntry.mimetype, 'application/pdf');
    assert.equal(pdfEntry.size, PDF.length);
    assert.deepEqual(await outgoingFiles(srv, ID), []);
  });

  it('the name comes from Content-Disposition before the URL, and a filename given in the body wins', async () => {
    expectSent(await send(srv, 'send-image', { chatId: TO, url: `${base}/download?id=7` }), TO);
    let entry = (await outbox(srv, ID)).at(-1)!;
    assert.equal(entry.type, 'image');
    assert.equal(entry.filename, 'chart.png');
    assert.equal(entry.size, PNG.length);
    expectSent(await send(srv, 'send-image', { chatId: TO, url: `${base}/download?id=7`, filename: 'mine.png' }), TO);
    entry = (await outbox(srv, ID)).at(-1)!;
    assert.equal(entry.filename, 'mine.png');
    assert.deepEqual(await outgoingFiles(srv, ID), []);
  });

  it('3 redirects are followed; a 4th is a 400 on body.url', async () => {
    expectSent(await send(srv, 'send-image', { chatId: TO, url: `${base}/hop/3/dot.png` }), TO);
    const entry = (await outbox(srv, ID)).at(-1)!;
    assert.equal(entry.filename, 'dot.png');
    assert.equal(entry.size, PNG.length);
    const before = files.requests;
    const res = await send(srv, 'send-image', { chatId: TO, url: `${base}/hop/4/dot.png` });
    await refusedAndClean(res, 400, 'VALIDATION_ERROR', ['body.url']);
    assert.match(res.body.error.message, /redirect/);
    assert.equal(files.requests - before, 4, 'the 4th redirect is not followed');
  });

  it('a file larger than --max-body is a 413, by its Content-Length and as it streams without one', async () => {
    for (const file of ['big-by-length.bin', 'big-chunked.bin']) {
      const res = await send(srv, 'send-file', { chatId: TO, url: `${base}/${file}` });
      await refusedAndClean(res, 413, 'PAYLOAD_TOO_LARGE');
      assert.match(res.body.error.message, /--max-body/, file);
    }
  });

  it('an HTML page sent as an image is a 415', async () => {
    await refusedAndClean(await send(srv, 'send-image', { chatId: TO, url: `${base}/page.html` }), 415, 'UNSUPPORTED_MEDIA');
    await refusedAndClean(await send(srv, 'send-video', { chatId: TO, url: `${base}/page.html` }), 415, 'UNSUPPORTED_MEDIA');
  });

  it('a URL that answers 404 is a 400 on body.url naming the status', async () => {
    const res = await send(srv, 'send-file', { chatId: TO, url: `${base}/missing.pdf` });
    await refusedAndClean(res, 400, 'VALIDATION_ERROR', ['body.url']);
    assert.match(res.body.error.message, /404/);
  });

  it('a port nobody listens on is a 502 MEDIA_FETCH_FAILED', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await refusedAndClean(await send(srv, 'send-file', { chatId: TO, url: `http://127.0.0.1:${String(port)}/a.pdf` }), 502, 'MEDIA_FETCH_FAILED');
  });
});

describe('media by URL from a server that does not answer in time', () => {
  let srv: TestServer;
  const files = new FileServer();
  let base = '';

  before(async () => {
    base = await files.start();
    srv = await startTestServer(['--allow-private-urls'], { mediaFetchTimeoutMs: 500 });
    await readySandbox(srv, ID);
  });
  after(async () => {
    await srv.stop();
    await files.close();
  });

  it('no answer, or a body that stops, within the deadline is a 502 MEDIA_FETCH_FAILED and leaves no file', async () => {
    for (const file of ['hang', 'hang-in-body']) {
      const res = await send(srv, 'send-file', { chatId: TO, url: `${base}/${file}`, filename: 'x.pdf' });
      expectError(res, 502, 'MEDIA_FETCH_FAILED');
      assert.match(res.body.error.message, /deadline/, file);
      assert.deepEqual(await outgoingFiles(srv, ID), [], `${file}: nothing left in outgoing/`);
    }
    assert.deepEqual(await outbox(srv, ID), []);
  });
});

describe('media by URL without --allow-private-urls: this machine is out of reach', () => {
  let srv: TestServer;
  const files = new FileServer();

  before(async () => {
    await files.start();
    srv = await startTestServer();
    await readySandbox(srv, ID);
  });
  after(async () => {
    await srv.stop();
    await files.close();
  });

  it('a loopback URL (127.0.0.1, localhost, [::1]) is a 400 on body.url before any request reaches it', async () => {
    const port = String(files.port);
    for (const url of [`http://127.0.0.1:${port}/files/report.pdf`, `http://localhost:${port}/files/report.pdf`, `http://[::1]:${port}/files/report.pdf`]) {
      const res = await send(srv, 'send-file', { chatId: TO, url });
      expectError(res, 400, 'VALIDATION_ERROR', ['body.url']);
      assert.match(res.body.error.message, /--allow-private-urls/, url);
      assert.deepEqual(await outgoingFiles(srv, ID), [], `${url}: nothing left in outgoing/`);
    }
    assert.equal(files.requests, 0, 'the file server got no request');
    assert.deepEqual(await outbox(srv, ID), []);
  });
});
