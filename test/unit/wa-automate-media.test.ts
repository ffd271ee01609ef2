import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WaAutomateEngine } from '../../src/engines/wa-automate/engine.js';
import { downloadMedia } from '../../src/engines/wa-automate/media.js';
import type { WaMessage } from '../../src/engines/wa-automate/mapping.js';
import type { WaClient } from '../../src/engines/wa-automate/open-wa.js';
import type { EngineLog, EngineStatus, IncomingMessage } from '../../src/engines/types.js';
import { mediaFileName } from '../../src/engines/incoming-media.js';
import { resolveConfig } from '../../src/sessions/config.js';
import { FakeOpenWa } from '../helpers/fake-open-wa.js';
import { tempDir } from '../helpers/env.js';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);

const image = (key: string, extra: Partial<WaMessage> = {}): WaMessage => ({
  id: `false_15550003333@c.us_${key}`,
  from: '15550003333@c.us',
  to: '15550001111@c.us',
  chatId: '15550003333@c.us',
  type: 'image',
  body: '/9j/4AAQSkZJRgABAQAAAQABAAD',
  caption: 'the invoice',
  mimetype: 'image/jpeg',
  filename: 'invoice.jpg',
  isMedia: true,
  size: JPEG.length,
  t: 1_700_000_000,
  ...extra,
});

const text = (key: string): WaMessage => ({
  id: `false_15550003333@c.us_${key}`,
  from: '15550003333@c.us',
  chatId: '15550003333@c.us',
  type: 'chat',
  body: 'and a text',
  t: 1_700_000_001,
});

const dataUrl = (bytes: Buffer): string => `data:image/jpeg;base64,${bytes.toString('base64')}`;

/** A promise the test settles. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(err: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function until(probe: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail(`never happened: ${what}`);
}

describe('wa-automate: received media with decryptMedia', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let browser: string;
  const engines: WaAutomateEngine[] = [];

  before(async () => {
    tmp = await tempDir();
    browser = path.join(tmp.dir, 'chromium');
    await writeFile(browser, '#!/bin/sh\necho "Chromium 130.0.6723.91 built on Debian"\n');
    await chmod(browser, 0o755);
  });
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.stop();
  });
  after(async () => {
    await tmp.cleanup();
  });

  describe('downloadMedia()', () => {
    const logs: EngineLog[] = [];
    const log = (level: EngineLog['level'], message: string): void => {
      logs.push({ level, message });
    };
    const client = (decryptMedia?: (m: WaMessage | string) => Promise<string>): WaClient => ({ decryptMedia }) as unknown as WaClient;
    const mediaDir = (): string => path.join(tmp.dir, 'unit', 'media');

    it('keeps the decrypted file under a name made from the message id, with its type, name and size', async () => {
      const m = image('A1');
      const media = await downloadMedia(client(() => Promise.resolve(dataUrl(JPEG))), m, { mediaDir: mediaDir(), log });
      assert.deepEqual(media, { mimetype: 'image/jpeg', filename: 'invoice.jpg', size: JPEG.length, file: mediaFileName('false_15550003333@c.us_A1') });
      assert.deepEqual(await readFile(path.join(mediaDir(), media.file)), JPEG);
    });

    it('keeps nothing, and says why, when the file is too big (announced or decrypted), late, refused or not a data URL', async () => {
      let asked = 0;
      const counting = client(() => {
        asked += 1;
        return Promise.resolve(dataUrl(JPEG));
      });
      assert.equal(await downloadMedia(counting, image('B1', { size: 1_000_000 }), { mediaDir: mediaDir(), log, maxBytes: 1000 }), null);
      assert.equal(asked, 0, 'an announced size past the bound is never downloaded');
      assert.equal(await downloadMedia(counting, image('B2', { size: undefined }), { mediaDir: mediaDir(), log, maxBytes: 4 }), null);
      assert.equal(await downloadMedia(client(() => new Promise<string>(() => undefined)), image('B3'), { mediaDir: mediaDir(), log, timeoutMs: 20 }), null);
      assert.equal(await downloadMedia(client(() => Promise.reject(new Error('404 from the CDN'))), image('B4'), { mediaDir: mediaDir(), log }), null);
      assert.equal(await downloadMedia(client(() => Promise.resolve('false')), image('B5'), { mediaDir: mediaDir(), log }), null);
      assert.equal(await downloadMedia(client(), image('B6'), { mediaDir: mediaDir(), log }), null);
      const said = logs.map((l) => `${l.level}: ${l.message}`).join('\n');
      for (const why of [
        /B1 is not kept: it is 1000000 bytes, more than the 1000 kept/,
        /B2 is not kept: it is more than the 4 bytes kept/,
        /B3 is not kept: decryptMedia\(\) did not answer within 0.02 s/,
        /B4 is not kept: 404 from the CDN/,
        /B5 is not kept: decryptMedia\(\) answered no data URL/,
        /B6 is not kept: this open-wa has no decryptMedia/,
      ]) {
        assert.match(said, why);
      }
      assert.ok(logs.every((l) => l.level === 'warn'));
    });
  });

  describe('the engine', () => {
    async function readyEngine(decryptMedia: (m: WaMessage | string) => Promise<string>) {
      const wa = new FakeOpenWa('wam');
      Object.assign(wa.client, { decryptMedia });
      const dataDir = path.join(tmp.dir, 'wam', 'session-data');
      const mediaDir = path.join(tmp.dir, 'wam', 'media');
      const engine = new WaAutomateEngine(
        {
          sessionId: 'wam',
          config: resolveConfig('wa-automate', { executablePath: browser }, { engine: 'wa-automate', useChrome: false, executablePath: undefined }),
          sessionDataDir: dataDir,
          mediaDir,
        },
        { load: () => Promise.resolve(wa), chdir: () => undefined, sweep: () => Promise.resolve([]) },
      );
      engines.push(engine);
      const statuses: EngineStatus[] = [];
      const messages: IncomingMessage[] = [];
      const logs: EngineLog[] = [];
      engine.on('status', (s) => statuses.push(s));
      engine.on('message', (m) => messages.push(m));
      engine.on('log', (l) => logs.push(l));
      await engine.start();
      await until(() => wa.created, 'open-wa create()');
      wa.emit('AUTH', true);
      wa.ready();
      await until(() => statuses.at(-1)?.status === 'ready', 'ready');
      return { wa, messages, logs, mediaDir };
    }

    it('a media message comes with its file; the text after it waits its turn, so the chat keeps its order', async () => {
      const download = deferred<string>();
      const r = await readyEngine(() => download.promise);
      r.wa.client.listeners.message?.(image('C1'));
      r.wa.client.listeners.message?.(text('C2'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(r.messages.length, 0, 'nothing overtakes the download');
      download.resolve(dataUrl(JPEG));
      await until(() => r.messages.length === 2, 'both messages');
      assert.deepEqual(
        r.messages.map((m) => m.id),
        ['false_15550003333@c.us_C1', 'false_15550003333@c.us_C2'],
      );
      const [withFile, after] = r.messages;
      assert.equal(withFile?.body, 'the invoice');
      assert.deepEqual(withFile?.media, { mimetype: 'image/jpeg', filename: 'invoice.jpg', size: JPEG.length, file: mediaFileName('false_15550003333@c.us_C1') });
      assert.deepEqual(await readFile(path.join(r.mediaDir, mediaFileName('false_15550003333@c.us_C1'))), JPEG);
      assert.equal(after?.media, undefined);
      // With nothing waiting, a text is announced at once.
      r.wa.client.listeners.message?.(text('C3'));
      assert.equal(r.messages.at(-1)?.id, 'false_15550003333@c.us_C3');
    });

    it('a download that fails is logged and the message still arrives, without its file', async () => {
      const r = await readyEngine(() => Promise.reject(new Error('the media is no longer on the server')));
      r.wa.client.listeners.message?.(image('D1'));
      await until(() => r.messages.length === 1, 'the message');
      assert.equal(r.messages[0]?.media, null);
      assert.equal(r.messages[0]?.caption, 'the invoice');
      assert.match(r.logs.map((l) => l.message).join('\n'), /the file of message false_15550003333@c\.us_D1 is not kept: the media is no longer on the server/);
    });
  });
});
