import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CALL_WAIT_MS, WaAutomateEngine } from '../../src/engines/wa-automate/engine.js';
import { SEND_WAIT_MS } from '../../src/engines/wa-automate/sends.js';
import type { EngineStatus, MediaMessage, PairingCode, QrCode } from '../../src/engines/types.js';
import { resolveConfig, type SessionConfig } from '../../src/sessions/config.js';
import { AppError, isUnknownOutcome } from '../../src/errors.js';
import { FakeOpenWa, never, wid } from '../helpers/fake-open-wa.js';
import { tempDir } from '../helpers/env.js';

/**
 * The wa-automate engine's operations beyond text, each against a fake open-wa 4.76.0 client that
 * records its calls and answers as api/Client.js does: which open-wa call each operation makes,
 * with which arguments, and how each answer (refusals included) reaches the client.
 */

const CHAT = '15550002222@c.us';
const HOST = '15550001111';
const SALES = 'https://get.openwa.dev/l/15550001111';

async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Waits on the real clock (Date is mocked) for something that needs I/O. */
async function until(probe: () => boolean, what: string): Promise<void> {
  const end = performance.now() + 10_000;
  while (!probe()) {
    if (performance.now() > end) assert.fail(`never happened: ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function advance(ms: number, step = 1000): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    mock.timers.tick(Math.min(step, ms - done));
    await turns(5);
  }
}

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => assert.fail('it succeeded'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AppError, `not an AppError: ${String(err)}`);
  return err;
}

interface Rig {
  wa: FakeOpenWa;
  engine: WaAutomateEngine;
  statuses: EngineStatus[];
  qrs: QrCode[];
  codes: PairingCode[];
}

describe('wa-automate: every other way to send, and contacts and groups, through open-wa', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let browser: string;
  const engines: WaAutomateEngine[] = [];

  beforeEach(async () => {
    tmp = await tempDir();
    browser = path.join(tmp.dir, 'chromium');
    await writeFile(browser, '#!/bin/sh\necho "Chromium 130.0.6723.91 built on Debian"\n');
    await chmod(browser, 0o755);
    mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  });

  afterEach(async () => {
    for (const e of engines.splice(0)) await e.stop();
    mock.timers.reset();
    await tmp.cleanup();
  });

  function rig(config: SessionConfig = {}, linkCode?: string): Rig {
    const wa = new FakeOpenWa('more');
    const dataDir = path.join(tmp.dir, 'more', 'session-data');
    const engine = new WaAutomateEngine(
      {
        sessionId: 'more',
        config: resolveConfig('wa-automate', { executablePath: browser, ...config }, { engine: 'wa-automate', useChrome: false, executablePath: undefined }),
        sessionDataDir: dataDir,
        mediaDir: path.join(tmp.dir, 'more', 'media'),
        linkCode,
      },
      { load: () => Promise.resolve(wa), chdir: () => undefined, sweep: () => Promise.resolve([]) },
    );
    engines.push(engine);
    const r: Rig = { wa, engine, statuses: [], qrs: [], codes: [] };
    engine.on('status', (s) => r.statuses.push(s));
    engine.on('qr', (q) => r.qrs.push(q));
    engine.on('pairing_code', (c) => r.codes.push(c));
    return r;
  }

  async function started(r: Rig): Promise<void> {
    await r.engine.start();
    await until(() => r.wa.created, 'open-wa create()');
  }

  async function ready(r: Rig = rig()): Promise<Rig> {
    await started(r);
    r.wa.emit('AUTH', true);
    r.wa.ready();
    await until(() => r.statuses.at(-1)?.status === 'ready', 'ready');
    return r;
  }

  /** A file in the session's outgoing folder, as the server leaves it for the engine. */
  async function outgoing(name: string, bytes: Buffer, rest: Omit<MediaMessage, 'chatId' | 'file' | 'size'>): Promise<MediaMessage> {
    const file = path.join(tmp.dir, `outgoing-${name}`);
    await writeFile(file, bytes);
    return { chatId: CHAT, file, size: bytes.length, ...rest };
  }
  const dataUrl = (type: string, bytes: Buffer): string => `data:${type};base64,${bytes.toString('base64')}`;
  const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
  const PDF = Buffer.from('%PDF-1.4 test');
  const MP4 = Buffer.from('000000186674797069736f6d', 'hex');
  const OGG = Buffer.from('OggS\0\x02opus');

  it("names itself 'wa-automate'", () => {
    assert.equal(rig().engine.name, 'wa-automate');
  });

  describe('media', () => {
    it('an image goes by sendImage as a data URL of the file, with its name, caption, quoted message and waitForId', async () => {
      const r = await ready();
      const msg = await outgoing('a.png', PNG, { kind: 'image', mimetype: 'image/png', filename: 'a.png', caption: 'look', quotedMessageId: `false_${CHAT}_Q1` });
      const sent = await r.engine.sendMedia(msg);
      assert.deepEqual(r.wa.client.called('sendImage'), [[CHAT, dataUrl('image/png', PNG), 'a.png', 'look', `false_${CHAT}_Q1`, true]]);
      assert.match(sent.messageId ?? '', /^true_15550002222@c\.us_/);
      assert.equal(sent.chatId, CHAT);
    });

    it('a file goes by sendFile with withoutPreview, so WhatsApp sends it as a document', async () => {
      const r = await ready();
      const msg = await outgoing('r.pdf', PDF, { kind: 'file', mimetype: 'application/pdf', filename: 'report.pdf' });
      await r.engine.sendMedia(msg);
      assert.deepEqual(r.wa.client.called('sendFile'), [[CHAT, dataUrl('application/pdf', PDF), 'report.pdf', '', undefined, true, false, true]]);
    });

    it('a video goes by sendFile with its video type and no withoutPreview, so WhatsApp Web makes it a video message', async () => {
      const r = await ready();
      const msg = await outgoing('v.mp4', MP4, { kind: 'video', mimetype: 'video/mp4', filename: 'clip.mp4', caption: 'watch' });
      await r.engine.sendMedia(msg);
      assert.deepEqual(r.wa.client.called('sendFile'), [[CHAT, dataUrl('video/mp4', MP4), 'clip.mp4', 'watch', undefined, true]]);
      assert.equal(r.wa.client.called('sendImage').length, 0);
    });

    it('a voice note goes by sendPtt and an audio file by sendAudio, each answered with its id', async () => {
      const r = await ready();
      const voice = await outgoing('v.ogg', OGG, { kind: 'voice', mimetype: 'audio/ogg; codecs=opus', filename: 'note.ogg', quotedMessageId: `false_${CHAT}_Q2` });
      const audio = await outgoing('a.ogg', OGG, { kind: 'audio', mimetype: 'audio/mpeg', filename: 'song.mp3' });
      const sentVoice = await r.engine.sendMedia(voice);
      const sentAudio = await r.engine.sendMedia(audio);
      assert.deepEqual(r.wa.client.called('sendPtt'), [[CHAT, dataUrl('audio/ogg;codecs=opus', OGG), `false_${CHAT}_Q2`]]);
      assert.deepEqual(r.wa.client.called('sendAudio'), [[CHAT, dataUrl('audio/mpeg', OGG), undefined]]);
      assert.match(sentVoice.messageId ?? '', /^true_/);
      assert.match(sentAudio.messageId ?? '', /^true_/);
    });

    it('a voice note open-wa answers false for (sendPtt is sendImage): RECIPIENT_NOT_A_CONTACT', async () => {
      const r = await ready();
      r.wa.client.answer('sendPtt', () => Promise.resolve(false));
      const err = await failure(r.engine.sendMedia(await outgoing('v.ogg', OGG, { kind: 'voice', mimetype: 'audio/ogg', filename: 'n.ogg' })));
      assert.equal(err.code, 'RECIPIENT_NOT_A_CONTACT');
      assert.equal(err.status, 422);
    });

    it("a voice note still uploading after 30 s is answered as sent without an id, claimed by its own ack meanwhile if it comes", async () => {
      const r = await ready();
      r.wa.client.answer('sendPtt', never, never);
      const first = r.engine.sendMedia(await outgoing('v1.ogg', OGG, { kind: 'voice', mimetype: 'audio/ogg', filename: 'n.ogg' }));
      await until(() => r.wa.client.called('sendPtt').length === 1, 'sendPtt()');
      const t = Math.floor(Date.now() / 1000);
      r.wa.client.listeners.ack?.({ id: `true_${CHAT}_TEXT`, ack: 1, type: 'chat', t }); // a text: not ours
      r.wa.client.listeners.ack?.({ id: `true_${CHAT}_VOICE`, ack: 1, type: 'ptt', t });
      assert.equal((await first).messageId, `true_${CHAT}_VOICE`);
      const second = r.engine.sendMedia(await outgoing('v2.ogg', OGG, { kind: 'voice', mimetype: 'audio/ogg', filename: 'n.ogg' }));
      await until(() => r.wa.client.called('sendPtt').length === 2, 'sendPtt() again');
      await advance(SEND_WAIT_MS);
      assert.equal((await second).messageId, null);
    });

    it('a file that cannot be read is an ENGINE_ERROR, and open-wa is not called', async () => {
      const r = await ready();
      const err = await failure(
        r.engine.sendMedia({ chatId: CHAT, kind: 'image', file: path.join(tmp.dir, 'gone.png'), mimetype: 'image/png', filename: 'gone.png', size: 1 }),
      );
      assert.equal(err.code, 'ENGINE_ERROR');
      assert.match(err.message, /could not read the file to send \(gone\.png\)/);
      assert.equal(r.wa.client.called('sendImage').length, 0);
    });
  });

  describe('location, contact card, reaction', () => {
    it('a location goes by sendLocation: coordinates as text, the title as the text with the pin, the address', async () => {
      const r = await ready();
      const sent = await r.engine.sendLocation({ chatId: CHAT, latitude: 52.52, longitude: 13.405, title: 'Office', address: 'Street 1' });
      assert.deepEqual(r.wa.client.called('sendLocation'), [[CHAT, '52.52', '13.405', 'Office', 'Street 1', undefined]]);
      assert.match(sent.messageId ?? '', /^true_15550002222@c\.us_/);
      await r.engine.sendLocation({ chatId: CHAT, latitude: -33.9, longitude: 18.4 });
      assert.deepEqual(r.wa.client.called('sendLocation')[1], [CHAT, '-33.9', '18.4', '', undefined, undefined]);
    });

    it('a location to a chat the account does not have (open-wa answers false): RECIPIENT_NOT_A_CONTACT', async () => {
      const r = await ready();
      r.wa.client.answer('sendLocation', () => Promise.resolve(false));
      const err = await failure(r.engine.sendLocation({ chatId: CHAT, latitude: 1, longitude: 2 }));
      assert.equal(err.code, 'RECIPIENT_NOT_A_CONTACT');
    });

    it('what open-wa wants its licence key for is NOT_SUPPORTED_BY_ENGINE (501), saying so, without the sales link', async () => {
      const r = await ready();
      r.wa.client.answer('sendLocation', () => Promise.resolve(`ERROR: This feature requires a license key. Get one here: ${SALES}`));
      const err = await failure(r.engine.sendLocation({ chatId: CHAT, latitude: 1, longitude: 2, address: 'Street 1' }));
      assert.equal(err.code, 'NOT_SUPPORTED_BY_ENGINE');
      assert.equal(err.status, 501);
      assert.match(err.message, /^the wa-automate engine cannot send a location: it needs an open-wa licence key: ERROR: This feature requires a license key\.$/);
      assert.doesNotMatch(err.message, /https?:|15550001111/);
    });

    it('a contact card by id goes by sendContact with the contact chat id; open-wa reports no id', async () => {
      const r = await ready();
      const sent = await r.engine.sendContact({ chatId: CHAT, contactId: '15550003333' });
      assert.deepEqual(r.wa.client.called('sendContact'), [[CHAT, '15550003333@c.us']]);
      assert.equal(sent.messageId, null);
      assert.equal(sent.chatId, CHAT);
    });

    it("a vCard goes by sendVCard with the card's own name (without one WhatsApp Web shows another contact)", async () => {
      const r = await ready();
      const vcard = 'BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nTEL;TYPE=CELL:+15550003333\r\nEND:VCARD';
      const sent = await r.engine.sendContact({ chatId: CHAT, vcard });
      assert.deepEqual(r.wa.client.called('sendVCard'), [[CHAT, vcard, 'Jane Doe']]);
      assert.equal(sent.messageId, null);
      await r.engine.sendContact({ chatId: CHAT, vcard: 'BEGIN:VCARD\nVERSION:3.0\nN:Roe;Richard;;;\nEND:VCARD' });
      assert.equal(r.wa.client.called('sendVCard')[1]?.[2], 'Richard Roe');
    });

    it('a vCard open-wa answers false for is an ENGINE_ERROR', async () => {
      const r = await ready();
      r.wa.client.answer('sendVCard', () => Promise.resolve(false));
      const err = await failure(r.engine.sendContact({ chatId: CHAT, vcard: 'BEGIN:VCARD\nFN:X\nEND:VCARD' }));
      assert.equal(err.code, 'ENGINE_ERROR');
      assert.match(err.message, /did not send the contact card to 15550002222@c\.us: open-wa answered false/);
    });

    it("a reaction goes by react; the answer names the message's chat and no message id", async () => {
      const r = await ready();
      const target = `false_${CHAT}_3EB0REACT`;
      const sent = await r.engine.sendReaction({ messageId: target, reaction: '👍' });
      assert.deepEqual(r.wa.client.called('react'), [[target, '👍']]);
      assert.equal(sent.messageId, null);
      assert.equal(sent.chatId, CHAT);
      await r.engine.sendReaction({ messageId: target, reaction: '' });
      assert.deepEqual(r.wa.client.called('react')[1], [target, '']);
    });

    it('a reaction to what is no message id: VALIDATION_ERROR naming body.messageId; open-wa is not called', async () => {
      const r = await ready();
      const err = await failure(r.engine.sendReaction({ messageId: 'not-an-id', reaction: '👍' }));
      assert.equal(err.code, 'VALIDATION_ERROR');
      assert.deepEqual((err.details as { path: string }[]).map((d) => d.path), ['body.messageId']);
      assert.equal(r.wa.client.called('react').length, 0);
    });

    it('a reaction open-wa answers false for is an ENGINE_ERROR; one it never answers is of unknown outcome after 30 s', async () => {
      const r = await ready();
      r.wa.client.answer('react', () => Promise.resolve(false), never);
      const refused = await failure(r.engine.sendReaction({ messageId: `false_${CHAT}_X`, reaction: '👍' }));
      assert.equal(refused.code, 'ENGINE_ERROR');
      assert.equal(isUnknownOutcome(refused), false);
      const hanging = failure(r.engine.sendReaction({ messageId: `false_${CHAT}_Y`, reaction: '👍' }));
      await turns();
      await advance(SEND_WAIT_MS);
      const err = await hanging;
      assert.equal(err.code, 'ENGINE_ERROR');
      assert.match(err.message, /did not confirm the reaction to 15550002222@c\.us within 30 s; it may still go out/);
      assert.equal(isUnknownOutcome(err), true);
    });

    it('a location open-wa throws "Not a contact" for is RECIPIENT_NOT_A_CONTACT too', async () => {
      const r = await ready();
      r.wa.client.answer('sendLocation', () => Promise.reject(new Error(`ERROR: Not a contact. Unlock this feature and support open-wa by getting a license: ${SALES}`)));
      const err = await failure(r.engine.sendLocation({ chatId: CHAT, latitude: 1, longitude: 2 }));
      assert.equal(err.code, 'RECIPIENT_NOT_A_CONTACT');
    });
  });

  describe('seen and presence', () => {
    it('send-seen calls sendSeen; a chat the account does not have (false) is NOT_FOUND', async () => {
      const r = await ready();
      await r.engine.sendSeen(CHAT);
      assert.deepEqual(r.wa.client.called('sendSeen'), [[CHAT]]);
      r.wa.client.answer('sendSeen', () => Promise.resolve(false));
      assert.equal((await failure(r.engine.sendSeen('15550009999@c.us'))).code, 'NOT_FOUND');
    });

    it('typing turns simulateTyping on, recording simulateRecording, paused turns both off', async () => {
      const r = await ready();
      await r.engine.setPresence({ chatId: CHAT, state: 'typing' });
      await r.engine.setPresence({ chatId: CHAT, state: 'recording' });
      await r.engine.setPresence({ chatId: CHAT, state: 'paused' });
      assert.deepEqual(r.wa.client.called('simulateTyping'), [
        [CHAT, true],
        [CHAT, false],
      ]);
      assert.deepEqual(r.wa.client.called('simulateRecording'), [
        [CHAT, true],
        [CHAT, false],
      ]);
    });

    it('a presence open-wa wants its licence key for is NOT_SUPPORTED_BY_ENGINE', async () => {
      const r = await ready();
      r.wa.client.answer('simulateRecording', () => Promise.resolve(`simulateRecording requires an insiders license: ${SALES}`));
      const err = await failure(r.engine.setPresence({ chatId: CHAT, state: 'recording' }));
      assert.equal(err.code, 'NOT_SUPPORTED_BY_ENGINE');
      assert.match(err.message, /cannot show typing or recording: it needs an open-wa licence key/);
      assert.doesNotMatch(err.message, /https?:/);
    });

    it('a call that never answers is an ENGINE_ERROR after 30 s', async () => {
      const r = await ready();
      r.wa.client.answer('simulateTyping', never);
      const pending = failure(r.engine.setPresence({ chatId: CHAT, state: 'typing' }));
      await turns();
      await advance(CALL_WAIT_MS);
      const err = await pending;
      assert.equal(err.code, 'ENGINE_ERROR');
      assert.match(err.message, /did not show typing or recording in time \(simulateTyping\(\) did not answer within 30 s\)/);
      assert.equal(isUnknownOutcome(err), false, 'showing typing again does no harm');
    });
  });

  describe('numbers and contacts', () => {
    it('a number on WhatsApp exists, with the id WhatsApp gives; one that is not, with <digits>@c.us', async () => {
      const r = await ready();
      r.wa.client.onWhatsApp.add('15550003333@c.us');
      assert.deepEqual(await r.engine.checkNumber('15550003333'), { exists: true, chatId: '15550003333@c.us' });
      assert.deepEqual(await r.engine.checkNumber('15550004444@c.us'), { exists: false, chatId: '15550004444@c.us' });
      assert.deepEqual(r.wa.client.called('checkNumberStatus'), [['15550003333@c.us'], ['15550004444@c.us']]);
      // A number written with a national prefix: WhatsApp answers the id to write to.
      r.wa.client.answer('checkNumberStatus', () => Promise.resolve({ id: wid('4915112345678@c.us'), status: 200, numberExists: true, canReceiveMessage: true }));
      assert.deepEqual(await r.engine.checkNumber('49015112345678'), { exists: true, chatId: '4915112345678@c.us' });
    });

    it('a number whose query failed (neither 200 nor 404) is an ENGINE_ERROR, not a "no"', async () => {
      const r = await ready();
      r.wa.client.answer('checkNumberStatus', () => Promise.resolve({ id: '15550003333@c.us', status: {}, isBusiness: false, canReceiveMessage: false }));
      const err = await failure(r.engine.checkNumber('15550003333'));
      assert.equal(err.code, 'ENGINE_ERROR');
    });

    it("a contact: its id, the address book's name, the name it chose, whether it is a business; one unknown is NOT_FOUND", async () => {
      const r = await ready();
      r.wa.client.contacts.set('15550003333@c.us', { id: wid('15550003333@c.us'), name: 'Jane (work)', pushname: 'Jane', isBusiness: true, isMyContact: true });
      r.wa.client.contacts.set('15550005555@c.us', { id: '15550005555@c.us', pushname: 'Sam', isBusiness: false });
      assert.deepEqual(await r.engine.getContact('15550003333@c.us'), { id: '15550003333@c.us', name: 'Jane (work)', pushname: 'Jane', isBusiness: true });
      assert.deepEqual(await r.engine.getContact('15550005555'), { id: '15550005555@c.us', name: null, pushname: 'Sam', isBusiness: false });
      const err = await failure(r.engine.getContact('15550009999@c.us'));
      assert.equal(err.code, 'NOT_FOUND');
      assert.equal(err.status, 404);
    });
  });

  describe('groups', () => {
    const MEMBER = '15550003333@c.us';
    const OTHER = '15550004444@c.us';
    const ME = `${HOST}@c.us`;

    it('lists the group chats: id, name, participants with admins, creation as ISO', async () => {
      const r = await ready();
      const g = r.wa.client.addGroup('Team', [MEMBER]);
      assert.deepEqual(await r.engine.listGroups(), [
        {
          id: g.id,
          name: 'Team',
          participants: [
            { id: ME, isAdmin: true },
            { id: MEMBER, isAdmin: false },
          ],
          createdAt: '2023-11-14T22:13:20.000Z',
        },
      ]);
      assert.equal(r.wa.client.called('getAllGroups').length, 1);
    });

    it("reads a group's members and admins from open-wa's group calls; one not on the account is NOT_FOUND without them", async () => {
      const r = await ready();
      const g = r.wa.client.addGroup('Team', [MEMBER, OTHER]);
      g.participants[1]!.isAdmin = true;
      const info = await r.engine.getGroup(g.id);
      assert.deepEqual(info.participants, [
        { id: ME, isAdmin: true },
        { id: MEMBER, isAdmin: true },
        { id: OTHER, isAdmin: false },
      ]);
      assert.deepEqual(r.wa.client.called('getChatById'), [[g.id]]);
      assert.deepEqual(r.wa.client.called('getGroupMembersId'), [[g.id]]);
      assert.deepEqual(r.wa.client.called('getGroupAdmins'), [[g.id]]);
      const err = await failure(r.engine.getGroup('120363999999999999@g.us'));
      assert.equal(err.code, 'NOT_FOUND');
      assert.equal(r.wa.client.called('getGroupMembersId').length, 1, 'no group call for a group that is not there');
    });

    it('creates a group with the participants as chat ids and answers it as read back', async () => {
      const r = await ready();
      const info = await r.engine.createGroup({ name: 'New', participants: ['15550003333', OTHER] });
      assert.deepEqual(r.wa.client.called('createGroup'), [['New', [MEMBER, OTHER]]]);
      assert.match(info.id, /^120363\d+@g\.us$/);
      assert.equal(info.name, 'New');
      assert.deepEqual(info.participants, [
        { id: ME, isAdmin: true },
        { id: MEMBER, isAdmin: false },
        { id: OTHER, isAdmin: false },
      ]);
      assert.deepEqual(r.wa.client.called('getChatById'), [[info.id]]);
    });

    it('a group WhatsApp refuses to create (status 400) is an ENGINE_ERROR saying why', async () => {
      const r = await ready();
      r.wa.client.answer('createGroup', () => Promise.resolve({ status: 400, gid: undefined, participants: [] }));
      const err = await failure(r.engine.createGroup({ name: 'New', participants: [MEMBER] }));
      assert.equal(err.code, 'ENGINE_ERROR');
      assert.match(err.message, /did not create the group "New": a participant is not on WhatsApp \(status 400\)/);
    });

    it('a created group WhatsApp Web cannot show yet is answered from the creation, never as an error (a retry would make two)', async () => {
      const r = await ready();
      r.wa.client.answer('createGroup', () =>
        Promise.resolve({ status: 200, gid: wid('120363000000000001@g.us'), participants: [{ [MEMBER]: { code: 200 } }, { [OTHER]: { code: 403 } }] }),
      );
      r.wa.client.answer('getChatById', () => Promise.resolve(false));
      const info = await r.engine.createGroup({ name: 'New', participants: [MEMBER, OTHER] });
      assert.equal(info.id, '120363000000000001@g.us');
      assert.equal(info.name, 'New');
      assert.deepEqual(info.participants, [
        { id: ME, isAdmin: true },
        { id: MEMBER, isAdmin: false },
      ]);
      assert.ok(info.createdAt);
    });

    it('a group creation that does not answer within 30 s is an ENGINE_ERROR of unknown outcome', async () => {
      const r = await ready();
      r.wa.client.answer('createGroup', never);
      const pending = failure(r.engine.createGroup({ name: 'New', participants: [MEMBER] }));
      await turns();
      await advance(CALL_WAIT_MS);
      const err = await pending;
      assert.equal(err.code, 'ENGINE_ERROR');
      assert.equal(isUnknownOutcome(err), true, 'creating it again could make a second group');
    });

    it('adds with one addParticipant call for all ids and answers the group with them', async () => {
      const r = await ready();
      const g = r.wa.client.addGroup('Team', []);
      const info = await r.engine.changeParticipants({ groupId: g.id, action: 'add', participants: ['15550003333', OTHER] });
      assert.deepEqual(r.wa.client.called('addParticipant'), [[g.id, [MEMBER, OTHER]]]);
      assert.deepEqual(
        info.participants.map((p) => p.id),
        [ME, MEMBER, OTHER],
      );
    });

    it("an add refused per participant (open-wa's AddParticipantError) names each reason; someone already in is no refusal", async () => {
      const r = await ready();
      const g = r.wa.client.addGroup('Team', [OTHER]);
      r.wa.client.answer('addParticipant', () =>
        Promise.reject(Object.assign(new Error('Unable to add some participants'), { name: 'ADD_PARTICIPANTS_ERROR', data: { [MEMBER]: 403, [OTHER]: 409 } })),
      );
      const err = await failure(r.engine.changeParticipants({ groupId: g.id, action: 'add', participants: [MEMBER, OTHER] }));
      assert.equal(err.code, 'ENGINE_ERROR');
      assert.match(err.message, /did not add 15550003333@c\.us \(their privacy settings do not let this account add them: send them the invite link\) to the group/);
      assert.doesNotMatch(err.message, /15550004444/);
      r.wa.client.answer('addParticipant', () => Promise.reject(Object.assign(new Error('x'), { name: 'ADD_PARTICIPANTS_ERROR', data: { [OTHER]: 409 } })));
      const info = await r.engine.changeParticipants({ groupId: g.id, action: 'add', participants: [OTHER] });
      assert.ok(info.participants.some((p) => p.id === OTHER));
    });

    it('removes with removeParticipant per id; a refusal names who was removed before it; someone already out is no refusal', async () => {
      const r = await ready();
      const g = r.wa.client.addGroup('Team', [MEMBER, OTHER]);
      const info = await r.engine.changeParticipants({ groupId: g.id, action: 'remove', participants: [MEMBER, '15550007777@c.us'] });
      assert.deepEqual(r.wa.client.called('removeParticipant'), [
        [g.id, MEMBER],
        [g.id, '15550007777@c.us'],
      ]);
      assert.deepEqual(
        info.participants.map((p) => p.id),
        [ME, OTHER],
      );
      r.wa.client.addGroup('Team', [MEMBER, OTHER], g.id);
      r.wa.client.answer('removeParticipant', () => Promise.resolve(true), () => Promise.resolve('INSUFFICIENT_PERMISSIONS'));
      const err = await failure(r.engine.changeParticipants({ groupId: g.id, action: 'remove', participants: [MEMBER, OTHER, ME] }));
      assert.equal(err.code, 'ENGINE_ERROR');
      assert.match(err.message, /did not remove 15550004444@c\.us \(this account is not an admin of the group\) from the group .*; removed before it: 15550003333@c\.us$/);
      assert.equal(r.wa.client.called('removeParticipant').length, 4, 'it stops at the first refusal');
    });

    it('a change to a group that is not there is NOT_FOUND, with no change attempted', async () => {
      const r = await ready();
      const err = await failure(r.engine.changeParticipants({ groupId: '120363999999999999@g.us', action: 'remove', participants: [MEMBER] }));
      assert.equal(err.code, 'NOT_FOUND');
      assert.equal(r.wa.client.called('removeParticipant').length, 0);
    });

    it("the invite code is the last part of open-wa's invite link; a group not there is NOT_FOUND", async () => {
      const r = await ready();
      const g = r.wa.client.addGroup('Team', [MEMBER]);
      assert.deepEqual(await r.engine.groupInviteCode(g.id), { code: 'FakeInvite0Code1234567', url: 'https://chat.whatsapp.com/FakeInvite0Code1234567' });
      assert.deepEqual(r.wa.client.called('getGroupInviteLink'), [[g.id]]);
      assert.equal((await failure(r.engine.groupInviteCode('120363999999999999@g.us'))).code, 'NOT_FOUND');
      r.wa.client.answer('getGroupInviteLink', () => Promise.resolve('https://chat.whatsapp.com/undefined'));
      assert.equal((await failure(r.engine.groupInviteCode(g.id))).code, 'ENGINE_ERROR');
    });

    it("what open-wa throws in the page is an ENGINE_ERROR with its reason, never its link", async () => {
      const r = await ready();
      const g = r.wa.client.addGroup('Team', [MEMBER]);
      r.wa.client.answer('getGroupInviteLink', () => Promise.reject(new Error(`Evaluation failed: not-authorized\n    at x (${SALES})`)));
      const err = await failure(r.engine.groupInviteCode(g.id));
      assert.equal(err.code, 'ENGINE_ERROR');
      assert.match(err.message, /could not give a group's invite link: Evaluation failed: not-authorized$/);
    });
  });

  describe('the session', () => {
    it('every operation on a session that is not ready is SESSION_NOT_READY, and open-wa is not called', async () => {
      const r = rig();
      await started(r);
      r.wa.showQr();
      const media = await outgoing('a.png', PNG, { kind: 'image', mimetype: 'image/png', filename: 'a.png' });
      const ops: Promise<unknown>[] = [
        r.engine.sendMedia(media),
        r.engine.sendLocation({ chatId: CHAT, latitude: 1, longitude: 2 }),
        r.engine.sendContact({ chatId: CHAT, contactId: '15550003333@c.us' }),
        r.engine.sendReaction({ messageId: `false_${CHAT}_A`, reaction: '👍' }),
        r.engine.sendSeen(CHAT),
        r.engine.setPresence({ chatId: CHAT, state: 'typing' }),
        r.engine.checkNumber(CHAT),
        r.engine.getContact(CHAT),
        r.engine.listGroups(),
        r.engine.createGroup({ name: 'x', participants: [CHAT] }),
        r.engine.getGroup('120363000000000000@g.us'),
        r.engine.changeParticipants({ groupId: '120363000000000000@g.us', action: 'add', participants: [CHAT] }),
        r.engine.groupInviteCode('120363000000000000@g.us'),
      ];
      for (const op of ops) {
        const err = await failure(op);
        assert.equal(err.code, 'SESSION_NOT_READY');
        assert.match(err.message, /the session is qr_ready, not ready/);
      }
      assert.deepEqual(r.wa.client.calls, []);
    });

    it('a pairing code in place stays unsupported (the server relaunches with linkCode); findSent says why it cannot know', async () => {
      const r = await ready();
      const err = await failure(r.engine.requestPairingCode('15550001111'));
      assert.equal(err.code, 'NOT_SUPPORTED_BY_ENGINE');
      const answer = await r.engine.findSent({ ref: 'job-1', chatId: CHAT, since: new Date().toISOString() });
      assert.ok('unknown' in answer);
      assert.match(answer.unknown, /open-wa keeps no reference of ours with a message/);
    });
  });

  describe('linking by phone number (pairing code)', () => {
    it('a launch with linkCode gives open-wa the phone number as config.linkCode; one without gives none', async () => {
      const linked = rig({}, '15550001111');
      await started(linked);
      assert.equal(linked.wa.configs[0]?.linkCode, '15550001111');
      await linked.engine.stop();
      const plain = rig();
      await started(plain);
      assert.equal('linkCode' in (plain.wa.configs[0] ?? {}), false);
    });

    it("open-wa's 9-character code (on qrData, then on qr) is one pairing_code event; the session is qr_ready with no qr event", async () => {
      const r = rig({}, '15550001111');
      await started(r);
      // A QR code the page showed before the code: not announced in a phone-number launch.
      r.wa.showQr();
      r.wa.emit('qrData', 'ABCD-EF12');
      r.wa.emit('qr', 'ABCD-EF12');
      assert.deepEqual(r.codes, [{ code: 'ABCD-EF12', phoneNumber: '15550001111' }]);
      assert.deepEqual(r.qrs, []);
      assert.deepEqual(
        r.statuses.map((s) => s.status),
        ['initializing', 'qr_ready'],
      );
      r.wa.scanned();
      assert.equal(r.statuses.at(-1)?.status, 'authenticated');
    });

    it('qrTimeout counts from the pairing code as from a QR code', async () => {
      const r = rig({ qrTimeout: 120 }, '15550001111');
      await started(r);
      r.wa.emit('qrData', 'WXYZ-2345');
      r.wa.emit('qr', 'WXYZ-2345');
      await advance(119_000, 10_000);
      assert.equal(r.statuses.at(-1)?.status, 'qr_ready');
      await advance(1000);
      const failed = r.statuses.find((s) => s.status === 'failed');
      assert.ok(failed);
      assert.equal(failed.retryable, false);
      assert.match(failed.error ?? '', /the pairing code was not entered within 120 s \(qrTimeout\): start the session again for a new pairing code/);
    });

    it('without linkCode a QR code is a qr event and nothing is a pairing code', async () => {
      const r = rig();
      await started(r);
      r.wa.showQr();
      assert.equal(r.qrs.length, 1);
      assert.deepEqual(r.codes, []);
      assert.equal(r.statuses.at(-1)?.status, 'qr_ready');
    });
  });
});
