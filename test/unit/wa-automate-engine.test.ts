import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WaAutomateEngine, INIT_TIMEOUT_MS } from '../../src/engines/wa-automate/engine.js';
import { SEND_WAIT_MS } from '../../src/engines/wa-automate/sends.js';
import { WATCHDOG_TIMING } from '../../src/engines/wa-automate/watchdog.js';
import type { EngineLog, EngineStatus, IncomingMessage, MediaMessage, SentMessage } from '../../src/engines/types.js';
import { resolveConfig, type SessionConfig } from '../../src/sessions/config.js';
import { AppError, isUnknownOutcome } from '../../src/errors.js';
import { FakeOpenWa, never } from '../helpers/fake-open-wa.js';
import { tempDir } from '../helpers/env.js';

type Tmp = Awaited<ReturnType<typeof tempDir>>;

/** Lets promises and file I/O run while the mocked clock stands still (no real time is measured). */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Waits (on the real clock: Date is mocked) for something that needs I/O, such as deleting a folder. */
async function until(probe: () => boolean, what: string): Promise<void> {
  const end = performance.now() + 10_000;
  while (!probe()) {
    if (performance.now() > end) assert.fail(`never happened: ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Moves the mocked clock in steps, letting the engine's promises run between them. */
async function advance(ms: number, step = 1000): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    mock.timers.tick(Math.min(step, ms - done));
    await turns(5);
  }
}

interface Rig {
  wa: FakeOpenWa;
  engine: WaAutomateEngine;
  statuses: EngineStatus[];
  logs: EngineLog[];
  messages: IncomingMessage[];
  sweeps: string[];
  dataDir: string;
  last(): EngineStatus | undefined;
  failed(): EngineStatus | undefined;
}

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const PNG_DATA_URL = `data:image/png;base64,${PNG.toString('base64')}`;

describe('wa-automate engine against a fake open-wa 4.76.0', () => {
  let tmp: Tmp;
  let browser: string;
  /** The file a send carries, as the server leaves it in the session's outgoing folder. */
  let IMAGE: Omit<MediaMessage, 'chatId'>;
  const engines: WaAutomateEngine[] = [];

  beforeEach(async () => {
    tmp = await tempDir();
    // An executable that answers --version as Chromium does; the fake open-wa never launches it.
    browser = path.join(tmp.dir, 'chromium');
    await writeFile(browser, '#!/bin/sh\necho "Chromium 130.0.6723.91 built on Debian"\n');
    await chmod(browser, 0o755);
    const file = path.join(tmp.dir, 'outgoing-photo.png');
    await writeFile(file, PNG);
    IMAGE = { kind: 'image', file, mimetype: 'image/png', filename: 'photo.png', size: PNG.length, caption: 'look' };
    mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  });

  afterEach(async () => {
    for (const e of engines.splice(0)) await e.stop();
    mock.timers.reset();
    await tmp.cleanup();
  });

  function rig(config: SessionConfig = {}, id = 'wa'): Rig {
    const wa = new FakeOpenWa(id);
    const dataDir = path.join(tmp.dir, id, 'session-data');
    const sweeps: string[] = [];
    const engine = new WaAutomateEngine(
      {
        sessionId: id,
        config: resolveConfig('wa-automate', { executablePath: browser, ...config }, { engine: 'wa-automate', useChrome: false, executablePath: undefined }),
        sessionDataDir: dataDir,
        mediaDir: path.join(path.dirname(dataDir), 'media'),
      },
      {
        load: () => Promise.resolve(wa),
        chdir: () => undefined,
        sweep: (folder) => {
          sweeps.push(folder);
          return Promise.resolve([]);
        },
      },
    );
    engines.push(engine);
    const statuses: EngineStatus[] = [];
    const logs: EngineLog[] = [];
    const messages: IncomingMessage[] = [];
    engine.on('status', (s) => statuses.push(s));
    engine.on('log', (l) => logs.push(l));
    engine.on('message', (m) => messages.push(m));
    return {
      wa,
      engine,
      statuses,
      logs,
      messages,
      sweeps,
      dataDir,
      last: () => statuses.at(-1),
      failed: () => statuses.find((s) => s.status === 'failed'),
    };
  }

  async function started(r: Rig): Promise<void> {
    await r.engine.start();
    await until(() => r.wa.created, 'open-wa create()');
  }

  /** Launched, logged in from the profile, loaded: ready. */
  async function ready(r: Rig): Promise<void> {
    await started(r);
    r.wa.emit('AUTH', true);
    r.wa.ready();
    await until(() => r.last()?.status === 'ready', 'ready');
  }

  const logText = (r: Rig): string => r.logs.map((l) => l.message).join('\n');

  describe('the live patch (item 1)', () => {
    const patchError = (): Error =>
      Object.assign(new Error('getaddrinfo ENOTFOUND raw.githubusercontent.com'), {
        isAxiosError: true,
        code: 'ENOTFOUND',
        config: { url: `https://raw.githubusercontent.com/open-wa/wa-automate-nodejs/master/patches.json?v=${String(Date.now())}` },
      });

    it('a failed download of open-wa patches fails the session, retryable, naming both addresses', async () => {
      const r = rig();
      await started(r);
      r.wa.scanned();
      assert.equal(r.engine.claimStrayError(patchError()), true, 'the worker must not treat it as a crash');
      const failed = r.failed();
      assert.ok(failed);
      assert.equal(failed.retryable, true);
      assert.match(
        failed.error ?? '',
        /^could not download open-wa's patches from https:\/\/cdn\.openwa\.dev\/patches\.json or https:\/\/raw\.githubusercontent\.com\/open-wa\/wa-automate-nodejs\/master\/patches\.json: getaddrinfo ENOTFOUND raw\.githubusercontent\.com/,
      );
    });

    it('any other error open-wa leaves unhandled is a crash while the session runs, and noise once it ended', async () => {
      const r = rig();
      await ready(r);
      assert.equal(r.engine.claimStrayError(new TypeError('x is undefined')), false);
      r.wa.client.page.emit('error', new Error('Page crashed!'));
      assert.equal(r.last()?.status, 'failed');
      assert.equal(r.engine.claimStrayError(new Error('Protocol error: Target closed')), true);
    });
  });

  describe('start-up deadlines (item 3)', () => {
    it('launching that shows no QR code and no login fails once nothing moved for 120 s, retryable, naming the last step', async () => {
      const r = rig();
      await started(r);
      r.wa.step('Navigating to WA');
      await advance(100_000);
      r.wa.step('Page loaded in 2000ms: 200');
      await advance(100_000);
      assert.equal(r.failed(), undefined, 'a new step moves the deadline');
      r.wa.step('Page loaded in 2143ms: 200');
      await advance(INIT_TIMEOUT_MS - 100_000 - 1000);
      assert.equal(r.failed(), undefined);
      await advance(1000);
      const failed = r.failed();
      assert.ok(failed, 'a step that differs only in its numbers is no progress');
      assert.equal(failed.retryable, true);
      assert.match(failed.error ?? '', /neither a QR code nor a login, and nothing moved for 120 s \(last step: Page loaded in 2000ms: 200\)/);
    });

    it('a QR code ends that deadline; qrTimeout counts from there', async () => {
      const r = rig({ qrTimeout: 300 });
      await started(r);
      r.wa.showQr();
      await advance(299_000, 10_000);
      assert.equal(r.last()?.status, 'qr_ready');
      await advance(1000);
      assert.match(r.failed()?.error ?? '', /no scan within 300 s \(qrTimeout\)/);
      assert.equal(r.failed()?.retryable, false);
    });

    it('never cuts the first sync while WhatsApp Web loading bar advances, and fails once it stood still for authTimeout', async () => {
      const r = rig({ authTimeout: 300 });
      await started(r);
      r.wa.showQr();
      r.wa.scanned();
      assert.equal(r.last()?.status, 'authenticated');
      // Twenty minutes of a slow sync: each step arrives within authTimeout of the last.
      for (let value = 5; value <= 100; value += 5) {
        await advance(290_000, 10_000);
        r.wa.loading(value);
      }
      assert.equal(r.failed(), undefined, 'a sync that moves is never restarted');
      await advance(299_000, 10_000);
      assert.equal(r.failed(), undefined);
      await advance(1000);
      const failed = r.failed();
      assert.ok(failed);
      assert.equal(failed.retryable, true);
      assert.match(failed.error ?? '', /nothing moved for 300 s \(authTimeout; last step: 100% Loading your chats\)/);
    });

    it('a step that only repeats, or a bar that does not rise, does not hold the deadline', async () => {
      const r = rig({ authTimeout: 300 });
      await started(r);
      r.wa.emit('AUTH', true);
      assert.equal(r.last()?.status, 'authenticated');
      r.wa.loading(40);
      for (let n = 1; n <= 3; n++) {
        await advance(100_000, 10_000);
        r.wa.step(`Session integrity check failed, trying again... ${String(n)}`);
        r.wa.loading(40);
      }
      await advance(100_000, 10_000);
      assert.match(r.failed()?.error ?? '', /nothing moved for 300 s \(authTimeout; last step: Session integrity check failed, trying again\.\.\. 1\)/);
    });

    it('once ready, no start-up deadline is left', async () => {
      const r = rig({ authTimeout: 300 });
      await ready(r);
      await advance(600_000, 30_000);
      assert.equal(r.failed(), undefined);
    });
  });

  describe('logout (item 4)', () => {
    async function withLogin(r: Rig): Promise<string> {
      const profile = path.join(r.dataDir, '_IGNORE_wa');
      await mkdir(path.join(profile, 'Default', 'IndexedDB'), { recursive: true });
      await writeFile(path.join(profile, 'Default', 'IndexedDB', 'login'), 'x');
      await writeFile(path.join(r.dataDir, 'wa.data.json'), '{}');
      return profile;
    }

    it('on request: unlinks, ends the browser, only then deletes the login, and ends stopped, never failed', async () => {
      const r = rig();
      await ready(r);
      const profile = await withLogin(r);
      let profileAtKill: boolean | undefined;
      r.wa.client.answer('kill', () => {
        profileAtKill = existsSync(profile);
        r.wa.client.page.emit('close');
        r.wa.client.page.browserEvents.emit('disconnected');
        return Promise.resolve(true);
      });
      await r.engine.logout();
      assert.deepEqual(
        r.wa.client.calls.map((c) => c.method).filter((m) => m === 'logout' || m === 'kill'),
        ['logout', 'kill'],
      );
      assert.equal(profileAtKill, true, 'the login is deleted after the browser ended, not under it');
      assert.deepEqual(r.sweeps, [r.dataDir], 'and any browser left on the profile is ended too');
      assert.equal(existsSync(profile), false);
      assert.equal(existsSync(path.join(r.dataDir, 'wa.data.json')), false);
      assert.equal(r.last()?.status, 'stopped');
      assert.equal(r.failed(), undefined, 'the browser closing and the logged-out page are expected in a logout');
    });

    it('a logout WhatsApp does not confirm still ends the browser, deletes the login and ends stopped', async () => {
      const r = rig();
      await ready(r);
      const profile = await withLogin(r);
      r.wa.client.answer('logout', never);
      const done = r.engine.logout();
      await turns();
      await advance(15_000);
      await done;
      assert.equal(existsSync(profile), false);
      assert.equal(r.last()?.status, 'stopped');
      assert.match(logText(r), /WhatsApp did not confirm the logout \(logout\(\) did not answer within 15 s\)/);
    });

    for (const state of ['UNPAIRED', 'UNPAIRED_IDLE']) {
      it(`the phone unlinking the device (${state}) ends the session stopped, with the reason, and deletes the login`, async () => {
        const r = rig();
        await ready(r);
        const profile = await withLogin(r);
        r.wa.client.changeState(state);
        await until(() => r.last()?.status === 'stopped', 'stopped');
        assert.match(r.last()?.error ?? '', new RegExp(`the phone unlinked this device \\(${state}\\)`));
        assert.equal(existsSync(profile), false);
        assert.equal(r.wa.client.called('logout').length, 0, 'nothing to unlink: the phone did');
        assert.equal(r.wa.client.called('kill').length, 1);
        assert.equal(r.failed(), undefined);
      });
    }

    it('WhatsApp Web going to its logged-out page ends the session stopped', async () => {
      const r = rig();
      await ready(r);
      const profile = await withLogin(r);
      r.wa.client.page.navigate('https://web.whatsapp.com/?post_logout=1&logout_reason=0');
      await until(() => r.last()?.status === 'stopped', 'stopped');
      assert.match(r.last()?.error ?? '', /the phone logged this device out/);
      assert.equal(existsSync(profile), false);
      assert.equal(r.failed(), undefined);
    });

    it("a login WhatsApp no longer accepts at start (open-wa's SessionExpiredError) ends stopped and is deleted", async () => {
      const r = rig();
      await started(r);
      const profile = await withLogin(r);
      r.wa.fail(Object.assign(new Error('This session has been deauthenticated!'), { name: 'SessionExpiredError' }));
      await until(() => r.last()?.status === 'stopped', 'stopped');
      assert.match(r.last()?.error ?? '', /no longer accepts this device's login/);
      assert.equal(existsSync(profile), false);
      assert.equal(r.failed(), undefined);
    });

    it('a logout before the login finished ends the browser through the profile sweep and ends stopped', async () => {
      const r = rig();
      await started(r);
      r.wa.showQr();
      const profile = await withLogin(r);
      await r.engine.logout();
      assert.deepEqual(r.sweeps, [r.dataDir]);
      assert.equal(existsSync(profile), false);
      assert.equal(r.last()?.status, 'stopped');
      // open-wa's launch, abandoned, fails later: that is no failure of the session.
      r.wa.fail(new Error('Protocol error (Runtime.callFunctionOn): Target closed'));
      await turns();
      assert.equal(r.failed(), undefined);
    });
  });

  describe('sends (items 5 and 6)', () => {
    const CHAT = '15550002222@c.us';

    it('a file whose id WhatsApp Web never reports is answered after 30 s as sent without an id, never as an error', async () => {
      const r = rig();
      await ready(r);
      let lateId: (id: string) => void = () => undefined;
      r.wa.client.answer('sendImage', () => new Promise((resolve) => (lateId = resolve)));
      const progress = { answered: false };
      const sending: Promise<SentMessage> = r.engine.sendMedia({ chatId: CHAT, ...IMAGE }).finally(() => (progress.answered = true));
      // The file is read first (real I/O): the wait counts from open-wa's call.
      await until(() => r.wa.client.called('sendImage').length === 1, 'sendImage()');
      await advance(SEND_WAIT_MS - 1000);
      assert.equal(progress.answered, false, 'still waiting');
      await advance(1000);
      const sent = await sending;
      assert.equal(sent.messageId, null);
      assert.equal(sent.chatId, CHAT);
      assert.match(logText(r), /the image to 15550002222@c\.us is sent, id not reported: WhatsApp Web confirmed nothing within 30 s/);
      lateId(`true_${CHAT}_LATE`);
      await turns();
      assert.match(logText(r), /answered late: true_15550002222@c\.us_LATE/);
      assert.deepEqual(r.wa.client.called('sendImage')[0]?.slice(0, 4), [CHAT, PNG_DATA_URL, 'photo.png', 'look']);
      assert.equal(r.wa.client.called('sendImage')[0]?.[5], true, 'waitForId');
    });

    it("a file still waiting for its id is answered with the id of its own ack, not another message's", async () => {
      const r = rig();
      await ready(r);
      r.wa.client.answer('sendFile', never);
      const sending = r.engine.sendMedia({ chatId: CHAT, ...IMAGE, kind: 'file', filename: 'report.pdf', mimetype: 'application/pdf' });
      await until(() => r.wa.client.called('sendFile').length === 1, 'sendFile()');
      const t = Math.floor(Date.now() / 1000);
      const ack = r.wa.client.listeners.ack;
      assert.ok(ack);
      ack({ id: `true_${CHAT}_OLDTEXT`, ack: 3, type: 'chat', t: t - 60 }); // read receipt of an old text
      ack({ id: `true_15550009999@c.us_OTHER`, ack: 1, type: 'document', filename: 'report.pdf', t }); // another chat
      ack({ id: `true_${CHAT}_OTHERFILE`, ack: 1, type: 'document', filename: 'other.pdf', t }); // another file
      ack({ id: `false_${CHAT}_INCOMING`, ack: 1, type: 'document', filename: 'report.pdf', t }); // not ours
      ack({ id: `true_${CHAT}_MINE`, ack: 1, type: 'document', filename: 'report.pdf', t });
      const answer = await sending;
      assert.equal(answer.messageId, `true_${CHAT}_MINE`);
    });

    it('a file open-wa answers `true` for is sent, with messageId null', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.answer('sendImage', () => Promise.resolve(true));
      const answer = await r.engine.sendMedia({ chatId: CHAT, ...IMAGE });
      assert.equal(answer.messageId, null);
    });

    it('a text WhatsApp Web does not confirm within 30 s is an error that says it may still go out, of unknown outcome', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.answer('sendText', never);
      const sending = r.engine.sendText({ chatId: CHAT, content: 'hello' });
      const settled = sending.then(
        () => assert.fail('answered as sent'),
        (e: unknown) => e,
      );
      await turns();
      await advance(SEND_WAIT_MS);
      const err = await settled;
      assert.ok(err instanceof AppError);
      assert.equal(err.code, 'ENGINE_ERROR');
      assert.match(err.message, /did not confirm the message to 15550002222@c\.us within 30 s; it may still go out: check the chat before sending it again/);
      assert.equal(isUnknownOutcome(err), true, 'the send queue must not send it again blindly');
    });

    it('a text open-wa answers with an id is sent with that id', async () => {
      const r = rig();
      await ready(r);
      const answer = await r.engine.sendText({ chatId: CHAT, content: 'hello' });
      assert.match(answer.messageId ?? '', /^true_15550002222@c\.us_3EB0/);
    });

    it('a text to a number that never wrote: RECIPIENT_NOT_A_CONTACT, a sentence to act on, and no sales link', async () => {
      const r = rig();
      await ready(r);
      // Client.js sendText, without a licence key.
      r.wa.client.answer('sendText', () =>
        Promise.resolve('ERROR: Not a contact. Unlock this feature and support open-wa by getting a license: https://get.openwa.dev/l/15550001111'),
      );
      const err = await r.engine.sendText({ chatId: CHAT, content: 'hello' }).then(
        () => assert.fail('sent'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof AppError);
      assert.equal(err.code, 'RECIPIENT_NOT_A_CONTACT');
      assert.equal(err.status, 422);
      assert.match(err.message, /Ask the recipient to send a message to this number first, or save their number as a contact on the phone/);
      assert.doesNotMatch(err.message, /https?:|openwa|15550001111/);
    });

    it('a reply into a chat the account does not have (open-wa answers false): RECIPIENT_NOT_A_CONTACT', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.answer('reply', () => Promise.resolve(false));
      await assert.rejects(r.engine.sendText({ chatId: CHAT, content: 'hi', quotedMessageId: `false_${CHAT}_Q` }), { code: 'RECIPIENT_NOT_A_CONTACT' });
    });

    it('files open-wa answers a bare false for: RECIPIENT_NOT_A_CONTACT for a person, a clear error for a group or an @lid id', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.answer('sendImage', () => Promise.resolve(false), () => Promise.resolve(false), () => Promise.resolve(false));
      r.wa.client.answer('sendFile', () => Promise.resolve(false));
      await assert.rejects(r.engine.sendMedia({ chatId: CHAT, ...IMAGE }), { code: 'RECIPIENT_NOT_A_CONTACT' });
      await assert.rejects(r.engine.sendMedia({ chatId: CHAT, ...IMAGE, kind: 'file' }), { code: 'RECIPIENT_NOT_A_CONTACT' });
      await assert.rejects(r.engine.sendMedia({ chatId: '120363000000000000@g.us', ...IMAGE }), {
        code: 'ENGINE_ERROR',
        message: /to the group|member of the group/,
      });
      await assert.rejects(r.engine.sendMedia({ chatId: '123456789012345@lid', ...IMAGE }), { code: 'ENGINE_ERROR', message: /@c\.us and @g\.us/ });
    });

    it('sends are refused while logging out', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.answer('logout', never);
      const out = r.engine.logout();
      await assert.rejects(r.engine.sendText({ chatId: CHAT, content: 'x' }), { code: 'SESSION_NOT_READY' });
      await turns();
      await advance(15_000);
      await out;
    });
  });

  describe('incoming messages and acks (item 7)', () => {
    it('an image arrives with its caption as text (not the base64 thumbnail), its mimetype and filename', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.listeners.message?.({
        id: 'false_15550003333@c.us_3EB0AAA',
        from: '15550003333@c.us',
        to: '15550001111@c.us',
        chatId: '15550003333@c.us',
        type: 'image',
        body: '/9j/4AAQSkZJRgABAQAAAQABAAD',
        caption: 'the invoice',
        mimetype: 'image/jpeg',
        filename: 'invoice.jpg',
        isGroupMsg: false,
        isMedia: true,
        t: 1_700_000_000,
      });
      const m = r.messages[0];
      assert.ok(m);
      assert.equal(m.body, 'the invoice');
      assert.equal(m.caption, 'the invoice');
      assert.equal(m.mimetype, 'image/jpeg');
      assert.equal(m.filename, 'invoice.jpg');
      assert.equal(m.isGroupMsg, false);
    });

    it('an ack names its chat (chatId before to) and reaches the session', async () => {
      const r = rig();
      await ready(r);
      const acks: { chatId: string; messageId: string }[] = [];
      r.engine.on('ack', (a) => acks.push(a));
      r.wa.client.listeners.ack?.({ id: 'true_15550004444@c.us_3EB0BBB', to: '15550001111@c.us', chatId: '15550004444@c.us', ack: 2 });
      assert.deepEqual(acks, [{ messageId: 'true_15550004444@c.us_3EB0BBB', chatId: '15550004444@c.us', ack: 2, ackName: 'delivered' }]);
    });
  });

  describe('a ready session that is dead (item 8)', () => {
    it('WhatsApp Web reloading its page fails the session, retryable, saying its listeners are gone', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.page.navigate('https://web.whatsapp.com/', false);
      assert.equal(r.failed(), undefined, 'a same-document navigation keeps the listeners');
      r.wa.client.page.navigate('https://web.whatsapp.com/');
      const failed = r.failed();
      assert.ok(failed);
      assert.equal(failed.retryable, true);
      assert.match(failed.error ?? '', /loaded its page again .* not its listeners, so no message would arrive: restarting the session/);
    });

    it('a crash of the page fails the session, retryable; errors of its scripts are only logged', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.page.emit('pageerror', new Error('Cannot read properties of undefined'));
      assert.equal(r.failed(), undefined);
      assert.match(logText(r), /a script on WhatsApp Web threw: Cannot read properties of undefined/);
      r.wa.client.page.emit('error', new Error('Page crashed!'));
      assert.match(r.failed()?.error ?? '', /the WhatsApp Web page crashed \(Page crashed!\)/);
      assert.equal(r.failed()?.retryable, true);
    });

    it('CONFLICT: "Use here" is clicked and the session is ready again once WhatsApp Web is CONNECTED', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.changeState('CONFLICT');
      assert.equal(r.last()?.status, 'disconnected');
      await until(() => r.last()?.status === 'ready', 'ready again');
      assert.equal(r.wa.client.called('forceRefocus').length, 1);
      assert.equal(r.failed(), undefined);
    });

    it('CONFLICT that "Use here" cannot clear in time fails the session, retryable, with the reason', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.answer('forceRefocus', never);
      r.wa.client.changeState('CONFLICT');
      await advance(WATCHDOG_TIMING.refocusMs);
      const failed = r.failed();
      assert.ok(failed);
      assert.equal(failed.retryable, true);
      assert.match(failed.error ?? '', /stayed CONFLICT .* "Use here" did not bring it back within 30 s \(forceRefocus\(\) did not answer within 30 s\)/);
    });

    it('a state only the periodic check sees (UNLAUNCHED, no listener left to say so) is acted on', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.state = 'UNLAUNCHED';
      r.wa.client.answer('forceRefocus', () => Promise.resolve(true));
      await advance(WATCHDOG_TIMING.checkEveryMs);
      await until(() => r.wa.client.called('forceRefocus').length === 1, 'forceRefocus');
      await advance(WATCHDOG_TIMING.refocusMs + WATCHDOG_TIMING.callMs, 2000);
      assert.match(r.failed()?.error ?? '', /stayed UNLAUNCHED .*\(the state is still UNLAUNCHED\)/);
    });

    it('WhatsApp Web that stops answering fails the session after two checks in a row without an answer', async () => {
      const r = rig();
      await ready(r);
      r.wa.client.answer('getConnectionState', never, never);
      await advance(WATCHDOG_TIMING.checkEveryMs + WATCHDOG_TIMING.callMs);
      assert.equal(r.failed(), undefined, 'one miss is forgiven');
      assert.match(logText(r), /a health check of WhatsApp Web failed/);
      await advance(WATCHDOG_TIMING.checkEveryMs);
      const failed = r.failed();
      assert.ok(failed);
      assert.equal(failed.retryable, true);
      assert.match(failed.error ?? '', /WhatsApp Web stopped answering \(getConnectionState\(\) did not answer within 15 s, 2 checks in a row\)/);
    });

    it('a healthy session stays ready through many checks', async () => {
      const r = rig();
      await ready(r);
      await advance(30 * WATCHDOG_TIMING.checkEveryMs, 10_000);
      assert.equal(r.last()?.status, 'ready');
      assert.ok(r.wa.client.called('getConnectionState').length >= 29);
    });
  });
});
