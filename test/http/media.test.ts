import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { opaqueBytes, PDF, PNG } from '../helpers/media-fixtures.js';
import type { MessageResource } from '../../src/sessions/resource.js';
import { mediaFileName } from '../../src/engines/incoming-media.js';

const FROM = '15550000009@c.us';

interface Incoming {
  id: string;
  type: string;
  body: string;
  caption: string | null;
  media: { mimetype: string; filename: string | null; size: number } | null;
}

describe('incoming media through the sandbox, served from the history', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startTestServer(['--webhook-host', 'media.example.test']);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'pics' });
    assert.equal((await srv.api('POST', '/api/v1/sessions/pics/sandbox/scan')).status, 200);
  });
  after(async () => {
    await srv.stop();
  });

  const mediaDir = (): string => path.join(srv.dir, 'pics', 'media');

  async function receive(media: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Incoming> {
    const res = await srv.api<Incoming>('POST', '/api/v1/sessions/pics/sandbox/incoming', { from: FROM, media, ...extra });
    assert.equal(res.status, 200, res.text);
    await srv.bus.idle();
    return res.body.data;
  }

  async function stored(id: string): Promise<MessageResource> {
    const page = await srv.api<MessageResource[]>('GET', '/api/v1/sessions/pics/messages?limit=1000');
    const message = page.body.data.find((m) => m.id === id);
    assert.ok(message, `message ${id} is in the history`);
    return message;
  }

  function mediaPath(id: string): string {
    return `/api/v1/sessions/pics/messages/${encodeURIComponent(id)}/media`;
  }

  it('an image round trip: the same bytes come back with their type, as an attachment, from the absolute URL in the message', async () => {
    const sent = await receive({ data: `data:image/png;base64,${PNG.toString('base64')}`, filename: 'photo.png', caption: 'look at this' });
    assert.equal(sent.type, 'image');
    assert.equal(sent.body, 'look at this', 'the caption is the body');
    assert.equal(sent.caption, 'look at this');
    assert.deepEqual(sent.media, { mimetype: 'image/png', filename: 'photo.png', size: PNG.length });
    const message = await stored(sent.id);
    assert.ok(message.media);
    assert.equal(message.media.url, `http://media.example.test:${String(srv.port)}${mediaPath(sent.id)}`, 'absolute, from --webhook-host');
    const res = await fetch(`${srv.url}${new URL(message.media.url).pathname}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.equal(res.headers.get('content-length'), String(PNG.length));
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="photo.png"');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(res.headers.get('content-security-policy') ?? '', /sandbox/);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), PNG);
  });

  it('the file is kept 0600 in a 0700 sessions/<id>/media folder, under a name made from the message id only', async () => {
    const sent = await receive({ data: PNG.toString('base64'), filename: '..evil name.png' });
    const names = await readdir(mediaDir());
    assert.ok(names.includes(mediaFileName(sent.id)));
    assert.ok(names.every((n) => /^[0-9a-f]{40}$/.test(n)), `only derived names: ${names.join(', ')}`);
    assert.equal((await lstat(mediaDir())).mode & 0o777, 0o700);
    assert.equal((await lstat(path.join(mediaDir(), mediaFileName(sent.id)))).mode & 0o777, 0o600);
    assert.deepEqual(await readFile(path.join(mediaDir(), mediaFileName(sent.id))), PNG);
  });

  it('the type comes from the bytes where they tell it, else the data URL, else the name', async () => {
    const mislabelled = await receive({ data: `data:image/jpeg;base64,${PNG.toString('base64')}`, filename: 'x.jpg' });
    assert.equal(mislabelled.media?.mimetype, 'image/png');
    const pdf = await receive({ data: PDF.toString('base64'), filename: 'report' });
    assert.equal(pdf.media?.mimetype, 'application/pdf');
    assert.equal(pdf.type, 'document');
    const declared = await receive({ data: `data:text/csv;base64,${Buffer.from('a,b\n1,2\n').toString('base64')}`, filename: 'table.dat' });
    assert.equal(declared.media?.mimetype, 'text/csv');
    const named = await receive({ data: Buffer.from('hello').toString('base64'), filename: 'notes.txt' });
    assert.equal(named.media?.mimetype, 'text/plain');
    const unknown = await receive({ data: opaqueBytes(64).toString('base64'), filename: 'blob' });
    assert.equal(unknown.media?.mimetype, 'application/octet-stream');
    const voice = await receive({ data: Buffer.from('OggS\0\x02rest-of-an-ogg-page').toString('base64'), filename: 'voice.ogg' });
    assert.equal(voice.type, 'ptt');
  });

  it('a file name that is no plain ASCII name is sent safely (no quotes, control characters or paths; UTF-8 beside)', async () => {
    const sent = await receive({ data: PDF.toString('base64'), filename: 'fa\u00e7ture "final"\u202e.pdf' });
    const res = await fetch(`${srv.url}${mediaPath(sent.id)}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/pdf');
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="fa_ture _final__.pdf"; filename*=UTF-8''fa%C3%A7ture%20_final__.pdf`);
    await res.arrayBuffer();
  });

  it('a file of several megabytes is streamed back whole; HEAD gives its headers only', async () => {
    const big = opaqueBytes(3 * 1024 * 1024 + 7);
    const sent = await receive({ data: big.toString('base64'), filename: 'big.bin' });
    assert.equal(sent.media?.size, big.length);
    const res = await fetch(`${srv.url}${mediaPath(sent.id)}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(big));
    const head = await fetch(`${srv.url}${mediaPath(sent.id)}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(big.length));
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  it('bad input: no text and no file, both, a path as a name, bad base64, and an image the bytes deny', async () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ from: FROM }, 400, 'body.content'],
      [{ from: FROM, content: 'hi', media: { data: PNG.toString('base64'), filename: 'a.png' } }, 400, 'body.content'],
      [{ from: FROM, media: { data: PNG.toString('base64'), filename: '../../etc/passwd' } }, 400, 'body.media.filename'],
      [{ from: FROM, media: { data: PNG.toString('base64') } }, 400, 'body.media.filename'],
      [{ from: FROM, media: { data: '@@@', filename: 'a.png' } }, 400, 'body.media.data'],
      [{ from: FROM, media: { data: 'data:image/png,notbase64', filename: 'a.png' } }, 400, 'body.media.data'],
      [{ from: FROM, media: { data: `data:text/html\r\nX-Evil: 1;base64,${PNG.toString('base64')}`, filename: 'a.html' } }, 400, 'body.media.data'],
      [{ from: FROM, media: { data: PNG.toString('base64'), filename: 'a.png', path: '/tmp/x' } }, 400, 'body.media'],
    ];
    for (const [body, status, field] of cases) {
      const res = await srv.api('POST', '/api/v1/sessions/pics/sandbox/incoming', body);
      assert.equal(res.status, status, JSON.stringify(body).slice(0, 120));
      assert.equal((res.body.error.details as { path: string }[])[0]?.path, field, res.text);
    }
    const denied = await srv.api('POST', '/api/v1/sessions/pics/sandbox/incoming', {
      from: FROM,
      media: { data: opaqueBytes(100).toString('base64'), filename: 'photo.png' },
    });
    assert.equal(denied.status, 415);
    assert.equal(denied.body.error.code, 'UNSUPPORTED_MEDIA');
    assert.match(denied.body.error.message, /body\.media\.data is not image\/png \(checked by its bytes\)/);
  });

  it('404s: a message without a file, an unknown message, an unknown session', async () => {
    const text = await srv.api<{ id: string }>('POST', '/api/v1/sessions/pics/sandbox/incoming', { from: FROM, content: 'just text' });
    await srv.bus.idle();
    for (const [url, code] of [
      [mediaPath(text.body.data.id), 'NOT_FOUND'],
      [mediaPath('false_1@c.us_NOPE'), 'NOT_FOUND'],
      ['/api/v1/sessions/nobody/messages/x/media', 'SESSION_NOT_FOUND'],
    ] as const) {
      const res = await srv.api('GET', url);
      assert.equal(res.status, 404, url);
      assert.equal(res.body.error.code, code, url);
    }
  });

  it('a link in place of the file, or of the media folder, is never followed (404)', async () => {
    const outside = path.join(srv.dir, 'secret.txt');
    await writeFile(outside, 'not for clients');
    const sent = await receive({ data: PNG.toString('base64'), filename: 'a.png' });
    const file = path.join(mediaDir(), mediaFileName(sent.id));
    await rm(file);
    await symlink(outside, file);
    const viaFileLink = await srv.api('GET', mediaPath(sent.id));
    assert.equal(viaFileLink.status, 404);
    assert.doesNotMatch(viaFileLink.text, /not for clients/);

    // The whole folder swapped for a link to another folder that has a file of that name.
    const elsewhere = path.join(srv.dir, 'elsewhere');
    await rm(file);
    await rm(mediaDir(), { recursive: true });
    await mkdir(elsewhere);
    await writeFile(path.join(elsewhere, mediaFileName(sent.id)), 'not for clients either');
    await symlink(elsewhere, mediaDir());
    const viaFolderLink = await srv.api('GET', mediaPath(sent.id));
    assert.equal(viaFolderLink.status, 404);
    assert.doesNotMatch(viaFolderLink.text, /not for clients/);
    // The engine refuses to write through it too: the simulated message fails (502), nothing lands elsewhere.
    const refused = await srv.api('POST', '/api/v1/sessions/pics/sandbox/incoming', { from: FROM, media: { data: PNG.toString('base64'), filename: 'b.png' } });
    assert.equal(refused.status, 502);
    assert.deepEqual(await readdir(elsewhere), [mediaFileName(sent.id)]);
    await rm(mediaDir());
  });
});
