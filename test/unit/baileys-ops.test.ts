import { after, afterEach, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { generateWAMessage, proto, type AnyMessageContent, type GroupMetadata, type MiscMessageGenerationOptions, type WAMessage } from '@whiskeysockets/baileys';
import { AppError, isUnknownOutcome } from '../../src/errors.js';
import type { EngineLog, MediaMessage } from '../../src/engines/types.js';
import { BaileysOps, CALL_WAIT_MS, MEDIA_UPLOAD_MS, type OpsSocket } from '../../src/engines/baileys/ops.js';
import { SentCache } from '../../src/engines/baileys/sent-cache.js';
import { MP4, OGG_OPUS, PDF, PNG } from '../helpers/media-fixtures.js';
import { tempDir } from '../helpers/env.js';

// The errors Baileys throws are @hapi/boom's, of the copy Baileys itself resolves.
const { Boom } = createRequire(import.meta.resolve('@whiskeysockets/baileys'))('@hapi/boom') as {
  Boom: new (message: string, options?: { statusCode?: number; data?: unknown }) => Error;
};

const ME = '15550001111:7@s.whatsapp.net';
const PERSON_JID = '15550003333@s.whatsapp.net';
const PERSON = '15550003333@c.us';
const GROUP = '120363012345678901@g.us';

interface Call {
  op: string;
  args: unknown[];
}

interface Upload {
  mediaType: string;
}

/**
 * A socket of just the calls BaileysOps makes. sendMessage runs Baileys' own generateWAMessage
 * (the message Baileys would relay), with an upload that keeps the encrypted file's size instead
 * of posting it: what each op hands to Baileys is checked by what Baileys makes of it.
 */
function fakeSocket(overrides: Partial<Omit<OpsSocket, 'user'>> = {}) {
  const calls: Call[] = [];
  const uploads: Upload[] = [];
  // Not the encrypted file's bytes: Baileys 6.7.21 hands its path over before its write stream has
  // finished (Utils/messages-media.js encryptedStream ends it without waiting), so only a real
  // upload, after its own network round trips, reads it whole.
  const upload = (_encFilePath: string, opts: { mediaType: string; timeoutMs?: number }) => {
    uploads.push({ mediaType: opts.mediaType });
    assert.equal(opts.timeoutMs, MEDIA_UPLOAD_MS, 'every upload is bounded');
    return Promise.resolve({ mediaUrl: 'https://mmg.whatsapp.net/v/t62/x.enc', directPath: '/v/t62/x.enc' });
  };
  const defaults: Omit<OpsSocket, 'user'> = {
    sendMessage: (jid: string, content: AnyMessageContent, options?: MiscMessageGenerationOptions) => generateWAMessage(jid, content, { userJid: ME, upload, ...options }),
    readMessages: () => Promise.resolve(),
    sendPresenceUpdate: () => Promise.resolve(),
    onWhatsApp: (...jids: string[]) => Promise.resolve(jids.map((jid) => ({ jid, exists: true, lid: undefined }))),
    getBusinessProfile: () => Promise.resolve(undefined),
    groupFetchAllParticipating: () => Promise.resolve({}),
    groupMetadata: () => Promise.reject(new Boom('item-not-found', { data: 404 })),
    groupCreate: (subject: string, participants: string[]) => Promise.resolve(meta(GROUP, subject, participants)),
    groupParticipantsUpdate: (_jid: string, participants: string[]) => Promise.resolve(participants.map((jid) => ({ status: '200', jid, content: { tag: 'participant', attrs: {} } }))),
    groupInviteCode: () => Promise.resolve('AbCdEfGhIjKlMnOpQrStUv'),
  };
  const impl = { ...defaults, ...overrides } as Record<string, (...args: unknown[]) => unknown>;
  const sock = { user: { id: ME, lid: '99990001111:7@lid', name: 'Me' } } as Record<string, unknown>;
  for (const [op, fn] of Object.entries(impl)) {
    sock[op] = (...args: unknown[]) => {
      calls.push({ op, args });
      return fn(...args);
    };
  }
  return { sock: sock as unknown as OpsSocket, calls, uploads };
}

function meta(id: string, subject: string, participants: string[], creation = 1_700_000_000): GroupMetadata {
  return {
    id,
    subject,
    addressingMode: 'pn',
    owner: ME,
    creation,
    participants: [{ id: '15550001111@s.whatsapp.net', jid: '15550001111@s.whatsapp.net', admin: 'superadmin' }, ...participants.map((p) => ({ id: p, jid: p, admin: null }))],
  };
}

function setup(overrides: Partial<Omit<OpsSocket, 'user'>> = {}, notReady = false) {
  const fake = fakeSocket(overrides);
  const logs: EngineLog[] = [];
  const cache = new SentCache();
  const ops = new BaileysOps({
    sock: () => {
      if (notReady) throw new AppError('SESSION_NOT_READY', 'the connection is down');
      return fake.sock;
    },
    sentCache: cache,
    log: (level, message) => logs.push({ level, message }),
  });
  return { ops, cache, logs, ...fake };
}

const sent = (calls: Call[]): Array<{ jid: string; content: AnyMessageContent; options: MiscMessageGenerationOptions }> =>
  calls.filter((c) => c.op === 'sendMessage').map((c) => ({ jid: c.args[0] as string, content: c.args[1] as AnyMessageContent, options: c.args[2] as MiscMessageGenerationOptions }));

/** An incoming message as Baileys hands it, kept as toIncoming keeps it. */
function received(cache: SentCache, id: string, remoteJid = PERSON_JID, participant?: string): WAMessage {
  const msg = proto.WebMessageInfo.fromObject({
    key: { remoteJid, fromMe: false, id, ...(participant ? { participant } : {}) },
    message: { conversation: `message ${id}` },
    messageTimestamp: 1_700_000_000,
    pushName: 'Ann',
  }) as WAMessage;
  cache.put(msg);
  return msg;
}

async function rejects(promise: Promise<unknown>, code: string, text?: RegExp): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof AppError, `an AppError, not ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (text) assert.match(err.message, text);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('baileys ops: sends', () => {
  it('a text goes to the person’s jid without a link preview; the answer names it as the API does', async () => {
    const { ops, calls, cache } = setup();
    const answer = await ops.sendText({ chatId: PERSON, content: 'hello https://example.com' });
    const [call] = sent(calls);
    assert.equal(call?.jid, PERSON_JID);
    assert.deepEqual(call?.content, { text: 'hello https://example.com', linkPreview: null });
    const keyId = call?.options.messageId ?? '';
    assert.match(keyId, /^3EB0[0-9A-F]{18}$/);
    assert.equal(answer.messageId, `true_${PERSON}_${keyId}`);
    assert.equal(answer.chatId, PERSON);
    assert.match(answer.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    assert.equal(cache.get({ remoteJid: PERSON_JID, id: keyId })?.extendedTextMessage?.text, 'hello https://example.com', 'kept for retries');
  });

  it('a reply quotes a kept message, which Baileys copies into the context; an unknown one is refused before anything is sent', async () => {
    const { ops, calls, cache } = setup();
    received(cache, '3EB0Q1');
    await ops.sendText({ chatId: PERSON, content: 'yes', quotedMessageId: `false_${PERSON}_3EB0Q1` });
    const [call] = sent(calls);
    assert.ok(call);
    assert.equal(call.options.quoted?.key.id, '3EB0Q1');

    const made = await generateWAMessage(PERSON_JID, call.content, { userJid: ME, upload: () => Promise.reject(new Error('no upload')), quoted: call.options.quoted });
    const context = made.message?.extendedTextMessage?.contextInfo;
    assert.equal(context?.stanzaId, '3EB0Q1');
    assert.equal(context?.participant, PERSON_JID);
    assert.equal(context?.quotedMessage?.conversation, 'message 3EB0Q1');

    await rejects(ops.sendText({ chatId: PERSON, content: 'yes', quotedMessageId: `false_${PERSON}_NEVERSEEN` }), 'NOT_FOUND', /quotes only messages it received or sent/);
    await rejects(ops.sendText({ chatId: PERSON, content: 'yes', quotedMessageId: 'garbage' }), 'VALIDATION_ERROR');
    assert.equal(sent(calls).length, 1, 'nothing more was sent');
  });

  describe('files, streamed from their path', () => {
    let dir: { dir: string; cleanup(): Promise<void> };
    before(async () => {
      dir = await tempDir('baileys-ops-');
    });
    after(async () => {
      await dir.cleanup();
    });

    async function file(name: string, bytes: Buffer): Promise<string> {
      const at = path.join(dir.dir, name);
      await writeFile(at, bytes);
      return at;
    }

    const media = (kind: MediaMessage['kind'], at: string, mimetype: string, bytes: Buffer, extra: Partial<MediaMessage> = {}): MediaMessage => ({
      chatId: PERSON,
      kind,
      file: at,
      mimetype,
      filename: path.basename(at),
      size: bytes.length,
      ...extra,
    });

    it('each kind becomes its WhatsApp message, with its type, name and caption, and the file’s bytes uploaded', async () => {
      const { ops, calls, uploads, logs, cache } = setup();
      const cases: Array<[MediaMessage, string]> = [
        [media('image', await file('a.png', PNG), 'image/png', PNG, { caption: 'a pixel' }), 'imageMessage'],
        [media('file', await file('report.pdf', PDF), 'application/pdf', PDF, { caption: 'the report' }), 'documentMessage'],
        [media('video', await file('clip.mp4', MP4), 'video/mp4', MP4, { caption: 'look' }), 'videoMessage'],
        [media('voice', await file('note.ogg', OGG_OPUS), 'audio/ogg; codecs=opus', OGG_OPUS, { caption: 'dropped' }), 'audioMessage'],
        [media('audio', await file('song.ogg', OGG_OPUS), 'audio/ogg', OGG_OPUS), 'audioMessage'],
      ];
      for (const [msg] of cases) await ops.sendMedia(msg);
      const calls_ = sent(calls);
      for (const [i, [msg, type]] of cases.entries()) {
        const call = calls_[i]!;
        assert.equal(call.options.mediaUploadTimeoutMs, MEDIA_UPLOAD_MS);
        const content = call.content as Record<string, unknown>;
        const upload = Object.values(content).find((v): v is { stream: unknown } => typeof v === 'object' && v !== null && 'stream' in v);
        assert.ok(upload?.stream instanceof Readable, `${msg.kind}: streamed, not read whole`);
        assert.equal(uploads[i]?.mediaType, type.replace('Message', ''));
        // Baileys counts the bytes it read from the stream as the message's fileLength.
        const made = cache.find(call.options.messageId ?? '')?.message.message as Record<string, { fileLength?: unknown } | undefined> | undefined;
        assert.equal(Number(made?.[type]?.fileLength), msg.size, `${msg.kind}: the whole file was read`);
      }
      const doc = calls_[1]!.content as { document: unknown; fileName: string; mimetype: string; caption: string };
      assert.deepEqual([doc.fileName, doc.mimetype, doc.caption], ['report.pdf', 'application/pdf', 'the report']);
      assert.equal((calls_[3]!.content as { ptt: boolean }).ptt, true, 'a voice note');
      assert.equal((calls_[4]!.content as { ptt: boolean }).ptt, false, 'an audio file');
      assert.equal((calls_[3]!.content as { caption?: string }).caption, undefined);
      assert.ok(logs.some((l) => l.message.includes('caption of the voice note')));
    });

    it('what Baileys makes of them: a document keeps its name, a voice note is ptt, all with the given type', async () => {
      const msgs: WAMessage[] = [];
      const { ops } = setup({
        sendMessage: async (jid, content, options) => {
          const made = await generateWAMessage(jid, content, {
            userJid: ME,
            upload: () => Promise.resolve({ mediaUrl: 'https://mmg.whatsapp.net/x', directPath: '/x' }),
            ...options,
          });
          msgs.push(made);
          return made;
        },
      });
      await ops.sendMedia(media('file', await file('r.pdf', PDF), 'application/pdf', PDF, { caption: 'see' }));
      await ops.sendMedia(media('voice', await file('n.ogg', OGG_OPUS), 'audio/ogg; codecs=opus', OGG_OPUS));
      const docMsg = msgs[0]?.message?.documentMessage;
      assert.equal(docMsg?.fileName, 'r.pdf');
      assert.equal(docMsg?.mimetype, 'application/pdf');
      assert.equal(docMsg?.caption, 'see');
      assert.equal(Number(docMsg?.fileLength), PDF.length);
      const voice = msgs[1]?.message?.audioMessage;
      assert.equal(voice?.ptt, true);
      assert.equal(voice?.mimetype, 'audio/ogg; codecs=opus');
    });

    it('a file that is gone, or a session that is down, sends nothing', async () => {
      const { ops, calls } = setup();
      await rejects(ops.sendMedia(media('file', path.join(dir.dir, 'missing.pdf'), 'application/pdf', PDF)), 'ENGINE_ERROR', /gone/);
      const down = setup({}, true);
      await rejects(down.ops.sendMedia(media('image', await file('b.png', PNG), 'image/png', PNG)), 'SESSION_NOT_READY');
      assert.equal(sent(calls).length + sent(down.calls).length, 0);
    });
  });

  it('a location: its coordinates, name and address', async () => {
    const { ops, calls } = setup();
    await ops.sendLocation({ chatId: GROUP, latitude: 52.3731, longitude: 4.8926, title: 'Dam Square', address: 'Amsterdam' });
    const [call] = sent(calls);
    assert.equal(call?.jid, GROUP);
    assert.deepEqual(call?.content, { location: { degreesLatitude: 52.3731, degreesLongitude: 4.8926, name: 'Dam Square', address: 'Amsterdam' } });
  });

  it('a contact card: a vCard as given, named by its FN; a person by number gets a vCard with waid and the name this session heard', async () => {
    const { ops, calls } = setup();
    const vcard = 'BEGIN:VCARD\nVERSION:3.0\nFN:Bob Example\nTEL;waid=15550004444:+15550004444\nEND:VCARD';
    await ops.sendContact({ chatId: PERSON, vcard });
    ops.observeContacts([{ id: '15550004444@s.whatsapp.net', name: 'Bob, from work' }]);
    await ops.sendContact({ chatId: PERSON, contactId: '15550004444@c.us' });
    await ops.sendContact({ chatId: PERSON, contactId: '15550005555@c.us' });
    const [given, known, unknown] = sent(calls).map((c) => c.content as { contacts: { displayName: string; contacts: Array<{ displayName: string; vcard: string }> } });
    assert.equal(given?.contacts.displayName, 'Bob Example');
    assert.equal(given?.contacts.contacts[0]?.vcard, vcard);
    assert.equal(known?.contacts.displayName, 'Bob, from work');
    assert.equal(known?.contacts.contacts[0]?.vcard, 'BEGIN:VCARD\nVERSION:3.0\nFN:Bob\\, from work\nTEL;type=CELL;type=VOICE;waid=15550004444:+15550004444\nEND:VCARD');
    assert.equal(unknown?.contacts.displayName, '+15550005555');
    await rejects(ops.sendContact({ chatId: PERSON, contactId: '99990004444@lid' }), 'VALIDATION_ERROR', /linked id/);
    await rejects(ops.sendContact({ chatId: PERSON }), 'VALIDATION_ERROR');
  });

  it('a reaction names the message by the key its id carries; its answer has no id of its own', async () => {
    const { ops, calls, cache } = setup();
    const one = await ops.sendReaction({ messageId: `false_${PERSON}_3EB0R1`, reaction: '👍' });
    assert.deepEqual(one, { messageId: null, chatId: PERSON, timestamp: one.timestamp });
    await ops.sendReaction({ messageId: `false_${GROUP}_3EB0R2_15550004444@c.us`, reaction: '' });
    received(cache, '3EB0R3', '99990003333@lid');
    await ops.sendReaction({ messageId: `false_99990003333@lid_3EB0R3`, reaction: '🎉' });
    const [a, b, c] = sent(calls);
    // Baileys stamps the reaction (senderTimestampMs) as it makes the message: key and text are ours.
    const react = (content: AnyMessageContent | undefined) => {
      const { key, text } = (content as { react: { key: unknown; text: string } }).react;
      return { key, text };
    };
    assert.equal(a?.jid, PERSON_JID);
    assert.deepEqual(react(a?.content), { key: { remoteJid: PERSON_JID, fromMe: false, id: '3EB0R1' }, text: '👍' });
    assert.equal(b?.jid, GROUP);
    assert.deepEqual(react(b?.content), { key: { remoteJid: GROUP, fromMe: false, id: '3EB0R2', participant: '15550004444@s.whatsapp.net' }, text: '' });
    assert.equal(c?.jid, '99990003333@lid', 'a kept message: its key as received');
    await rejects(ops.sendReaction({ messageId: `false_${GROUP}_3EB0R4`, reaction: '👍' }), 'VALIDATION_ERROR', /author/);
    await rejects(ops.sendReaction({ messageId: 'nope', reaction: '👍' }), 'VALIDATION_ERROR');
  });
});

describe('baileys ops: refusals and outcomes', () => {
  afterEach(() => mock.timers.reset());

  it('a closed connection is SESSION_NOT_READY (nothing went out); findSent says so', async () => {
    const { ops } = setup({ sendMessage: () => Promise.reject(new Boom('Connection Closed', { statusCode: 428 })) });
    await rejects(ops.sendText({ chatId: PERSON, content: 'hi', ref: 'job-1' }), 'SESSION_NOT_READY');
    assert.deepEqual(await ops.findSent({ ref: 'job-1', chatId: PERSON, since: new Date().toISOString() }), { found: null });
  });

  it('Baileys’ own timeout leaves the outcome unknown', async () => {
    const { ops } = setup({ sendMessage: () => Promise.reject(new Boom('Timed Out', { statusCode: 408, data: { stack: '' } })) });
    const err = await rejects(ops.sendText({ chatId: PERSON, content: 'hi', ref: 'job-2' }), 'ENGINE_ERROR');
    assert.ok(isUnknownOutcome(err));
    assert.ok('unknown' in (await ops.findSent({ ref: 'job-2', chatId: PERSON, since: new Date().toISOString() })));
  });

  it('a send that does not finish within the wait is unknown, names its id, and findSent learns its late outcome', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    let finish: (msg: proto.WebMessageInfo) => void = () => undefined;
    const { ops } = setup({ sendMessage: () => new Promise<proto.WebMessageInfo>((resolve) => (finish = resolve)) });
    const pending = ops.sendText({ chatId: PERSON, content: 'slow', ref: 'job-3' });
    const outcome = pending.then(
      () => assert.fail('no answer before the deadline'),
      (err: unknown) => err,
    );
    mock.timers.tick(CALL_WAIT_MS);
    const err = await outcome;
    assert.ok(err instanceof AppError && isUnknownOutcome(err));
    const messageId = (err.details as { messageId: string }).messageId;
    assert.match(messageId, new RegExp(`^true_${PERSON}_3EB0`));
    assert.deepEqual(await ops.findSent({ ref: 'job-3', chatId: PERSON, since: '' }), { unknown: 'it is still being sent' });
    finish(proto.WebMessageInfo.fromObject({ key: { remoteJid: PERSON_JID, fromMe: true, id: messageId.split('_')[2] }, message: { conversation: 'slow' }, messageTimestamp: 1_700_000_000 }));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(await ops.findSent({ ref: 'job-3', chatId: PERSON, since: '' }), { found: { messageId, chatId: PERSON, timestamp: '2023-11-14T22:13:20.000Z' } });
    assert.deepEqual(await ops.findSent({ ref: 'never', chatId: PERSON, since: '' }), { unknown: 'this session has no record of that send (it ran in an earlier worker)' });
  });
});

describe('baileys ops: chat state', () => {
  it('sendSeen sends read receipts for the chat’s unread received messages, once', async () => {
    const { ops, calls, cache } = setup();
    received(cache, 'U1');
    received(cache, 'U2');
    received(cache, 'U3', GROUP, PERSON_JID);
    await ops.sendSeen(PERSON);
    await ops.sendSeen(PERSON);
    const reads = calls.filter((c) => c.op === 'readMessages');
    assert.equal(reads.length, 1, 'the second time there is nothing unread');
    assert.deepEqual((reads[0]?.args[0] as Array<{ id: string }>).map((k) => k.id), ['U1', 'U2']);
  });

  it('presence: typing is composing, recording and paused as they are, to the chat’s jid', async () => {
    const { ops, calls } = setup();
    await ops.setPresence({ chatId: PERSON, state: 'typing' });
    await ops.setPresence({ chatId: GROUP, state: 'recording' });
    await ops.setPresence({ chatId: PERSON, state: 'paused' });
    assert.deepEqual(
      calls.map((c) => c.args),
      [
        ['composing', PERSON_JID],
        ['recording', GROUP],
        ['paused', PERSON_JID],
      ],
    );
  });
});

describe('baileys ops: contacts', () => {
  it('checkNumber: on WhatsApp with its chat id, not on it, or no answer', async () => {
    const { ops, calls } = setup();
    assert.deepEqual(await ops.checkNumber('15550003333'), { exists: true, chatId: PERSON });
    assert.deepEqual(calls[0]?.args, [PERSON_JID]);
    const none = setup({ onWhatsApp: () => Promise.resolve([]) });
    assert.deepEqual(await none.ops.checkNumber(PERSON), { exists: false, chatId: PERSON });
    const silent = setup({ onWhatsApp: () => Promise.resolve(undefined) });
    await rejects(silent.ops.checkNumber(PERSON), 'ENGINE_ERROR', /did not say/);
    await rejects(ops.checkNumber('99990003333@lid'), 'VALIDATION_ERROR');
  });

  it('getContact: business or not, the names this session heard, NOT_FOUND off WhatsApp', async () => {
    const business = setup({ getBusinessProfile: () => Promise.resolve({ description: 'shop', email: undefined, business_hours: {}, website: [] }) });
    received(business.cache, 'P1');
    business.ops.observeContacts([{ id: PERSON_JID, name: 'Ann Example' }]);
    assert.deepEqual(await business.ops.getContact(PERSON), { id: PERSON, name: 'Ann Example', pushname: 'Ann', isBusiness: true });
    const plain = setup({ getBusinessProfile: () => Promise.reject(new Boom('item-not-found', { data: 404 })) });
    assert.deepEqual(await plain.ops.getContact(PERSON), { id: PERSON, name: null, pushname: null, isBusiness: false });
    const absent = setup({ onWhatsApp: () => Promise.resolve([]) });
    await rejects(absent.ops.getContact(PERSON), 'NOT_FOUND');
  });
});

describe('baileys ops: groups', () => {
  it('lists and reads groups: members by number, admins, creation time', async () => {
    const lidMember = { id: '99990004444@lid', jid: '15550004444@s.whatsapp.net', admin: 'admin' as const };
    const group = { ...meta(GROUP, 'Team', [PERSON_JID]), participants: [...meta(GROUP, 'Team', [PERSON_JID]).participants, lidMember] };
    const { ops } = setup({ groupFetchAllParticipating: () => Promise.resolve({ [GROUP]: group }), groupMetadata: () => Promise.resolve(group) });
    const expected = {
      id: GROUP,
      name: 'Team',
      participants: [
        { id: '15550001111@c.us', isAdmin: true },
        { id: PERSON, isAdmin: false },
        { id: '15550004444@c.us', isAdmin: true },
      ],
      createdAt: '2023-11-14T22:13:20.000Z',
    };
    assert.deepEqual(await ops.groups.listGroups(), [expected]);
    assert.deepEqual(await ops.groups.getGroup(GROUP), expected);
  });

  it('a group this account is not in, or that does not exist, is NOT_FOUND', async () => {
    await rejects(setup().ops.groups.getGroup(GROUP), 'NOT_FOUND');
    await rejects(setup({ groupMetadata: () => Promise.reject(new Boom('forbidden', { data: 403 })) }).ops.groups.getGroup(GROUP), 'NOT_FOUND');
    await rejects(setup().ops.groups.getGroup('not-a-group'), 'VALIDATION_ERROR');
  });

  it('createGroup checks the numbers first: someone not on WhatsApp is named and nothing is created', async () => {
    const { ops, calls } = setup({ onWhatsApp: () => Promise.resolve([{ jid: PERSON_JID, exists: true, lid: undefined }]) });
    const err = await rejects(ops.groups.createGroup({ name: 'Team', participants: [PERSON, '15550009999'] }), 'ENGINE_ERROR', /15550009999@c\.us is not on WhatsApp/);
    assert.deepEqual(err.details, { notOnWhatsApp: ['15550009999@c.us'] });
    assert.ok(!calls.some((c) => c.op === 'groupCreate'));
  });

  it('createGroup answers the group as WhatsApp kept it, or as created when reading it back fails', async () => {
    const kept = meta(GROUP, 'Team', [PERSON_JID]);
    const { ops, calls } = setup({ groupMetadata: () => Promise.resolve(kept) });
    const group = await ops.groups.createGroup({ name: ' Team ', participants: [PERSON] });
    assert.deepEqual(calls.find((c) => c.op === 'groupCreate')?.args, ['Team', [PERSON_JID]]);
    assert.equal(group.participants.length, 2);
    const fallback = setup({ groupMetadata: () => Promise.reject(new Boom('Timed Out', { statusCode: 408 })) });
    const made = await fallback.ops.groups.createGroup({ name: 'Team', participants: [PERSON] });
    assert.equal(made.id, GROUP);
    assert.ok(fallback.logs.some((l) => l.message.includes('was created; reading it back failed')));
  });

  it('changeParticipants: someone already in is fine; a refusal is named with who was added meanwhile', async () => {
    const kept = meta(GROUP, 'Team', [PERSON_JID]);
    const fine = setup({
      groupParticipantsUpdate: () => Promise.resolve([{ status: '409', jid: PERSON_JID, content: { tag: 'participant', attrs: {} } }]),
      groupMetadata: () => Promise.resolve(kept),
    });
    assert.equal((await fine.ops.groups.changeParticipants({ groupId: GROUP, action: 'add', participants: [PERSON] })).id, GROUP);
    assert.deepEqual(fine.calls.find((c) => c.op === 'groupParticipantsUpdate')?.args, [GROUP, [PERSON_JID], 'add']);

    const refused = setup({
      groupParticipantsUpdate: () =>
        Promise.resolve([
          { status: '200', jid: PERSON_JID, content: { tag: 'participant', attrs: {} } },
          { status: '403', jid: '15550004444@s.whatsapp.net', content: { tag: 'participant', attrs: {} } },
        ]),
    });
    const err = await rejects(refused.ops.groups.changeParticipants({ groupId: GROUP, action: 'add', participants: [PERSON, '15550004444@c.us'] }), 'ENGINE_ERROR', /15550004444@c\.us \(their privacy settings/);
    assert.match(err.message, /added: 15550003333@c\.us/);
    const notAdmin = setup({ groupParticipantsUpdate: () => Promise.reject(new Boom('not-authorized', { data: 401 })) });
    await rejects(notAdmin.ops.groups.changeParticipants({ groupId: GROUP, action: 'remove', participants: [PERSON] }), 'ENGINE_ERROR', /not an admin/);
  });

  it('groupInviteCode: the code and its link; none given is a refusal', async () => {
    assert.deepEqual(await setup().ops.groups.groupInviteCode(GROUP), { code: 'AbCdEfGhIjKlMnOpQrStUv', url: 'https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv' });
    await rejects(setup({ groupInviteCode: () => Promise.resolve(undefined) }).ops.groups.groupInviteCode(GROUP), 'ENGINE_ERROR', /only its admins/);
  });
});
