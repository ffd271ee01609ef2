import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { encryptedStream, proto, WAMessageStubType, type WAMessage, type WAMessageKey } from '@whiskeysockets/baileys';
import { mediaFileName } from '../../src/engines/incoming-media.js';
import type { EngineLog } from '../../src/engines/types.js';
import { receiptAcks, toAcks, toIncoming, type IncomingDeps } from '../../src/engines/baileys/incoming.js';
import { chatIdOf, jidOf, keyChatId, messageIdOfKey, parseMessageId, serializeMessageId } from '../../src/engines/baileys/jid.js';
import { SentCache } from '../../src/engines/baileys/sent-cache.js';
import { PNG } from '../helpers/media-fixtures.js';
import { tempDir, waitForAsync } from '../helpers/env.js';

// Fixtures are Baileys' own types, built as its decoder leaves them: proto.WebMessageInfo with
// a key that may carry the extra fields Utils/decode-wa-message.js adds (senderPn, participantPn).

const ME = '15550001111:7@s.whatsapp.net';
const ME_LID = '99990001111:7@lid';
const PERSON = '15550003333@s.whatsapp.net';
const GROUP = '120363012345678901@g.us';
const T = 1_700_000_000;

function wa(obj: Record<string, unknown>, keyExtras: Partial<WAMessageKey> = {}): WAMessage {
  const msg = proto.WebMessageInfo.fromObject({ messageTimestamp: T, ...obj }) as WAMessage;
  Object.assign(msg.key, keyExtras);
  return msg;
}

const fromPerson = (id: string, message: Record<string, unknown>, extra: Record<string, unknown> = {}): WAMessage =>
  wa({ key: { remoteJid: PERSON, fromMe: false, id }, message, pushName: 'Ann', ...extra });

interface Harness {
  deps: IncomingDeps;
  logs: EngineLog[];
  cache: SentCache;
}

function harness(mediaDir: string, extra: Partial<IncomingDeps> = {}): Harness {
  const logs: EngineLog[] = [];
  const cache = new SentCache();
  const deps: IncomingDeps = {
    mediaDir,
    sock: {
      user: { id: ME, lid: ME_LID },
      updateMediaMessage: () => Promise.reject(new Error('no re-upload in this test')),
    },
    log: (level, message) => logs.push({ level, message }),
    sentCache: cache,
    ...extra,
  };
  return { deps, logs, cache };
}

describe('baileys ids', () => {
  it('jids become chat ids without device, and chat ids become jids', () => {
    assert.equal(chatIdOf('15550001111:7@s.whatsapp.net'), '15550001111@c.us');
    assert.equal(chatIdOf('99990001111:3@lid'), '99990001111@lid');
    assert.equal(chatIdOf(GROUP), GROUP);
    assert.equal(chatIdOf(''), null);
    assert.equal(chatIdOf(undefined), null);
    assert.equal(jidOf('15550003333@c.us'), PERSON);
    assert.equal(jidOf('+1 555 000-3333'), '15550003333@s.whatsapp.net');
    assert.equal(jidOf(PERSON), PERSON);
    assert.equal(jidOf(GROUP), GROUP);
    assert.equal(jidOf('99990001111@lid'), '99990001111@lid');
    assert.throws(() => jidOf('not a chat'), (err: Error & { code?: string }) => err.code === 'VALIDATION_ERROR');
  });

  it('a message id carries the whole key and reads back', () => {
    const group = { fromMe: false, chatId: GROUP, id: '3EB0ABCDEF', participant: '15550003333@c.us' };
    const id = serializeMessageId(group);
    assert.equal(id, `false_${GROUP}_3EB0ABCDEF_15550003333@c.us`);
    assert.deepEqual(parseMessageId(id), group);
    assert.equal(serializeMessageId({ fromMe: true, chatId: GROUP, id: 'X1', participant: '15550001111@c.us' }), `true_${GROUP}_X1`, 'our own: no author');
    assert.deepEqual(parseMessageId('true_15550003333@c.us_3EB0AA'), { fromMe: true, chatId: '15550003333@c.us', id: '3EB0AA', participant: null });
    assert.equal(parseMessageId('3EB0AA'), null);
    assert.equal(parseMessageId('true_15550003333@c.us_3EB0AA_x_y'), null);
  });

  it('a person writing from a linked id is named by the phone number Baileys gives with it', () => {
    const key: WAMessageKey = { remoteJid: '99990003333@lid', fromMe: false, id: 'AB12', senderPn: PERSON };
    assert.equal(keyChatId(key), '15550003333@c.us');
    assert.equal(messageIdOfKey(key), 'false_15550003333@c.us_AB12');
    assert.equal(keyChatId({ remoteJid: '99990003333@lid', fromMe: false, id: 'AB12' }), '99990003333@lid', 'no number given: the linked id');
  });
});

describe('baileys incoming messages', () => {
  let dir: { dir: string; cleanup(): Promise<void> };
  before(async () => {
    dir = await tempDir('baileys-in-');
  });
  after(async () => {
    await dir.cleanup();
  });

  it('a text from a person: our shapes, ids and an ISO timestamp', async () => {
    const { deps } = harness(dir.dir);
    const m = await toIncoming(fromPerson('3EB0A1', { conversation: 'hello' }), deps);
    assert.deepEqual(m, {
      id: 'false_15550003333@c.us_3EB0A1',
      chatId: '15550003333@c.us',
      from: '15550003333@c.us',
      to: '15550001111@c.us',
      body: 'hello',
      type: 'chat',
      timestamp: '2023-11-14T22:13:20.000Z',
      fromMe: false,
      quotedMessageId: null,
      caption: null,
      mimetype: null,
      filename: null,
      author: null,
      isGroupMsg: false,
      media: null,
    });
  });

  it('a reply: extended text with the quoted message id, ours (fromMe) or theirs', async () => {
    const { deps } = harness(dir.dir);
    const toUs = await toIncoming(
      fromPerson('3EB0A2', { extendedTextMessage: { text: 'yes', contextInfo: { stanzaId: 'BAE5OURS', participant: ME, quotedMessage: { conversation: 'ok?' } } } }),
      deps,
    );
    assert.equal(toUs?.body, 'yes');
    assert.equal(toUs?.type, 'chat');
    assert.equal(toUs?.quotedMessageId, 'true_15550003333@c.us_BAE5OURS');
    const toThem = await toIncoming(
      fromPerson('3EB0A3', { extendedTextMessage: { text: 'again', contextInfo: { stanzaId: '3EB0A1', participant: PERSON, quotedMessage: { conversation: 'hello' } } } }),
      deps,
    );
    assert.equal(toThem?.quotedMessageId, 'false_15550003333@c.us_3EB0A1');
  });

  it('a group message: the group is the chat and `from`, the member the author, by number even behind a linked id', async () => {
    const { deps } = harness(dir.dir);
    const m = await toIncoming(
      wa({ key: { remoteJid: GROUP, fromMe: false, id: '3EB0G1', participant: '99990003333@lid' }, message: { conversation: 'hi all' } }, { participantPn: PERSON }),
      deps,
    );
    assert.equal(m?.id, `false_${GROUP}_3EB0G1_15550003333@c.us`);
    assert.equal(m?.chatId, GROUP);
    assert.equal(m?.from, GROUP);
    assert.equal(m?.author, '15550003333@c.us');
    assert.equal(m?.isGroupMsg, true);
  });

  it('wrappers are unwrapped: ephemeral, view-once and document-with-caption', async () => {
    const { deps } = harness(dir.dir);
    const ephemeral = await toIncoming(fromPerson('3EB0E1', { ephemeralMessage: { message: { extendedTextMessage: { text: 'vanishing' } } } }), deps);
    assert.equal(ephemeral?.type, 'chat');
    assert.equal(ephemeral?.body, 'vanishing');
    const once = await toIncoming(
      fromPerson('3EB0E2', { viewOnceMessageV2: { message: { videoMessage: { caption: 'once', mimetype: 'video/mp4', fileLength: 10 } } } }),
      harness(dir.dir, { maxMediaBytes: 1 }).deps,
    );
    assert.equal(once?.type, 'video');
    assert.equal(once?.body, 'once');
    assert.equal(once?.mimetype, 'video/mp4');
    const doc = await toIncoming(
      fromPerson('3EB0E3', {
        documentWithCaptionMessage: { message: { documentMessage: { caption: 'the report', fileName: 'report.pdf', title: 'report', mimetype: 'application/pdf', fileLength: 10 } } },
      }),
      harness(dir.dir, { maxMediaBytes: 1 }).deps,
    );
    assert.equal(doc?.type, 'document');
    assert.equal(doc?.filename, 'report.pdf');
    assert.equal(doc?.caption, 'the report');
    assert.equal(doc?.body, 'the report');
  });

  it('each kind gets WhatsApp Web’s type; a location and a contact card carry their text', async () => {
    const { deps } = harness(dir.dir, { maxMediaBytes: 1 });
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ imageMessage: { mimetype: 'image/jpeg', fileLength: 10 } }, 'image', ''],
      [{ audioMessage: { mimetype: 'audio/ogg; codecs=opus', ptt: true, fileLength: 10 } }, 'ptt', ''],
      [{ audioMessage: { mimetype: 'audio/mpeg', fileLength: 10 } }, 'audio', ''],
      [{ stickerMessage: { mimetype: 'image/webp', fileLength: 10 } }, 'sticker', ''],
      [{ documentMessage: { mimetype: 'application/pdf', fileName: 'a.pdf', title: 'a.pdf', fileLength: 10 } }, 'document', ''],
      [{ locationMessage: { degreesLatitude: 52.37, degreesLongitude: 4.89, name: 'Dam Square', address: 'Amsterdam' } }, 'location', 'Dam Square\nAmsterdam'],
      [{ locationMessage: { degreesLatitude: 52.37, degreesLongitude: 4.89 } }, 'location', '52.37,4.89'],
      [{ contactMessage: { displayName: 'Bob', vcard: 'BEGIN:VCARD\nFN:Bob\nEND:VCARD' } }, 'vcard', 'BEGIN:VCARD\nFN:Bob\nEND:VCARD'],
      [{ pollCreationMessageV3: { name: 'Lunch?', options: [{ optionName: 'yes' }] } }, 'poll_creation', 'Lunch?'],
    ];
    let n = 0;
    for (const [message, type, body] of cases) {
      const m = await toIncoming(fromPerson(`3EB0K${String(n++)}`, message), deps);
      assert.equal(m?.type, type, JSON.stringify(message));
      assert.equal(m?.body, body, JSON.stringify(message));
    }
  });

  it('what is no message of a person is not reported: protocol, reaction, stub, status, own messages', async () => {
    const { deps, logs, cache } = harness(dir.dir);
    const none = [
      fromPerson('3EB0N1', { protocolMessage: { type: proto.Message.ProtocolMessage.Type.REVOKE, key: { id: 'X' } } }),
      fromPerson('3EB0N2', { reactionMessage: { key: { id: '3EB0A1', remoteJid: PERSON }, text: '👍' } }),
      fromPerson('3EB0N3', { senderKeyDistributionMessage: { groupId: GROUP } }),
      wa({ key: { remoteJid: GROUP, fromMe: false, id: '3EB0N4', participant: PERSON }, messageStubType: WAMessageStubType.GROUP_CREATE, messageStubParameters: ['Team'] }),
      wa({ key: { remoteJid: 'status@broadcast', fromMe: false, id: '3EB0N5', participant: PERSON }, message: { conversation: 'my status' } }),
      wa({ key: { remoteJid: PERSON, fromMe: true, id: '3EB0N6' }, message: { conversation: 'sent from the phone' } }),
    ];
    for (const msg of none) assert.equal(await toIncoming(msg, deps), null, JSON.stringify(msg.key));
    assert.ok(cache.find('3EB0N6'), 'a message of the phone is kept all the same: replies can quote it');
    assert.equal(cache.find('3EB0N6')?.unread, false);

    const undecryptable = wa({ key: { remoteJid: PERSON, fromMe: false, id: '3EB0N7' }, messageStubType: WAMessageStubType.CIPHERTEXT, messageStubParameters: ['No session found'] });
    assert.equal(await toIncoming(undecryptable, deps), null);
    assert.ok(logs.some((l) => l.level === 'warn' && l.message.includes('could not be decrypted') && l.message.includes('No session found')));

    const viewOnce = wa({ key: { remoteJid: PERSON, fromMe: false, id: '3EB0N8' } }, { isViewOnce: true });
    assert.equal(await toIncoming(viewOnce, deps), null);
    assert.ok(logs.some((l) => l.message.includes('view-once') && l.message.includes('3EB0N8')));
  });

  it('a received message is kept unread and its push name remembered', async () => {
    const { deps, cache } = harness(dir.dir);
    await toIncoming(fromPerson('3EB0U1', { conversation: 'one' }), deps);
    assert.deepEqual(
      cache.unreadIn('15550003333@c.us').map((k) => k.id),
      ['3EB0U1'],
    );
    assert.equal(cache.pushNameOf('15550003333@c.us'), 'Ann');
  });

  it('a file announced bigger than the bound is not downloaded; the message is reported without it', async () => {
    const { deps, logs } = harness(dir.dir, { maxMediaBytes: 100 });
    const m = await toIncoming(fromPerson('3EB0B1', { imageMessage: { mimetype: 'image/jpeg', caption: 'big', fileLength: 5_000_000, directPath: '/v/x', mediaKey: Buffer.alloc(32) } }), deps);
    assert.equal(m?.caption, 'big');
    assert.equal(m?.media, null);
    assert.ok(logs.some((l) => l.level === 'warn' && l.message.includes('5000000 bytes')));
  });

  describe('media download through the session’s agent', () => {
    let server: http.Server;
    let port = 0;
    const seen: Array<{ url: string | undefined; host: string | undefined; origin: string | undefined }> = [];
    let payload = Buffer.alloc(0);
    let hang = false;

    /** Every https connection goes to the local server: what a proxy agent does, without a network. */
    class LoopbackAgent extends https.Agent {
      override createConnection(): net.Socket {
        return net.connect(port, '127.0.0.1');
      }
    }

    before(async () => {
      server = http.createServer((req, res) => {
        seen.push({ url: req.url, host: req.headers.host, origin: req.headers.origin });
        if (hang) return;
        res.end(payload);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as net.AddressInfo).port;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('an image is fetched from WhatsApp’s media host through the agent, decrypted, and written under its id', async () => {
      const enc = await encryptedStream(PNG, 'image');
      // Baileys returns before its write stream has finished (it only calls end()): wait for the whole
      // file, AES-CBC padded to the next block and followed by the 10-byte MAC.
      const encLength = (Math.floor(PNG.length / 16) + 1) * 16 + 10;
      payload = await waitForAsync(async () => {
        const b = await readFile(enc.encFilePath).catch(() => undefined);
        return b?.length === encLength ? b : undefined;
      }, 5_000, 'the encrypted file written whole');
      await unlink(enc.encFilePath);
      const agent = new LoopbackAgent();
      const { deps } = harness(dir.dir, { mediaAgent: agent });
      const m = await toIncoming(
        fromPerson('3EB0M1', {
          imageMessage: {
            mimetype: 'image/png',
            caption: 'a pixel',
            directPath: '/v/t62.7118-24/pixel.enc',
            mediaKey: enc.mediaKey,
            fileLength: PNG.length,
            fileSha256: enc.fileSha256,
            fileEncSha256: enc.fileEncSha256,
          },
        }),
        deps,
      );
      agent.destroy();
      assert.deepEqual(seen.at(-1), { url: '/v/t62.7118-24/pixel.enc', host: 'mmg.whatsapp.net', origin: 'https://web.whatsapp.com' });
      const id = 'false_15550003333@c.us_3EB0M1';
      assert.deepEqual(m?.media, { mimetype: 'image/png', filename: null, size: PNG.length, file: mediaFileName(id) });
      assert.deepEqual(await readFile(path.join(dir.dir, mediaFileName(id))), PNG);
    });

    it('a download that does not finish in time leaves the message without its file, and nothing hangs', async () => {
      hang = true;
      const agent = new LoopbackAgent();
      const { deps, logs } = harness(dir.dir, { mediaAgent: agent, downloadMs: 200 });
      const m = await toIncoming(
        fromPerson('3EB0M2', { documentMessage: { mimetype: 'application/pdf', fileName: 'a.pdf', directPath: '/v/slow.enc', mediaKey: Buffer.alloc(32, 1), fileLength: 10 } }),
        deps,
      );
      hang = false;
      agent.destroy();
      assert.equal(m?.filename, 'a.pdf');
      assert.equal(m?.media, null);
      assert.ok(logs.some((l) => l.level === 'warn' && l.message.includes('is not kept')));
    });
  });
});

describe('baileys acks', () => {
  const { Status } = proto.WebMessageInfo;
  const ours = (id: string, remoteJid = PERSON): WAMessageKey => ({ remoteJid, fromMe: true, id });

  it('messages.update statuses become our ack numbers; others’ messages and non-status updates none', () => {
    const acks = toAcks([
      { key: ours('A1'), update: { status: Status.SERVER_ACK } },
      { key: ours('A2'), update: { status: Status.DELIVERY_ACK } },
      { key: ours('A3'), update: { status: Status.READ } },
      { key: ours('A4'), update: { status: Status.PLAYED } },
      { key: ours('A5'), update: { status: Status.ERROR } },
      { key: ours('A6'), update: { status: Status.PENDING } },
      { key: { remoteJid: PERSON, fromMe: false, id: 'B1' }, update: { status: Status.READ } },
      { key: ours('A7'), update: { message: null } },
    ]);
    assert.deepEqual(
      acks.map((a) => [a.messageId, a.chatId, a.ack, a.ackName]),
      [
        ['true_15550003333@c.us_A1', '15550003333@c.us', 1, 'sent'],
        ['true_15550003333@c.us_A2', '15550003333@c.us', 2, 'delivered'],
        ['true_15550003333@c.us_A3', '15550003333@c.us', 3, 'read'],
        ['true_15550003333@c.us_A4', '15550003333@c.us', 4, 'played'],
        ['true_15550003333@c.us_A5', '15550003333@c.us', -1, 'error'],
      ],
    );
  });

  it('a message sent from here keeps the id its send answered, whatever jid the receipt comes from; acks only go up', () => {
    const cache = new SentCache();
    cache.put(wa({ key: ours('S1'), message: { conversation: 'hi' } }), { ours: true });
    const fromLid = { remoteJid: '99990003333@lid', fromMe: true, id: 'S1' };
    const first = toAcks([{ key: fromLid, update: { status: Status.READ } }], cache);
    assert.deepEqual(first, [{ messageId: 'true_15550003333@c.us_S1', chatId: '15550003333@c.us', ack: 3, ackName: 'read' }]);
    assert.deepEqual(toAcks([{ key: ours('S1'), update: { status: Status.DELIVERY_ACK } }], cache), [], 'delivered after read is no news');
  });

  it('a group’s receipts, one per member: delivered, then read; a later member’s delivery is no step back', () => {
    const cache = new SentCache();
    cache.put(wa({ key: ours('G1', GROUP), message: { conversation: 'hi all' } }), { ours: true });
    const key = { remoteJid: GROUP, fromMe: true, id: 'G1', participant: PERSON };
    const acks = receiptAcks(
      [
        { key, receipt: { userJid: PERSON, receiptTimestamp: T } },
        { key, receipt: { userJid: PERSON, readTimestamp: T + 1 } },
        { key: { ...key, participant: '15550004444@s.whatsapp.net' }, receipt: { userJid: '15550004444@s.whatsapp.net', receiptTimestamp: T + 2 } },
      ],
      cache,
    );
    assert.deepEqual(
      acks.map((a) => [a.messageId, a.ack]),
      [
        [`true_${GROUP}_G1`, 2],
        [`true_${GROUP}_G1`, 3],
      ],
    );
  });
});

describe('baileys sent cache', () => {
  it('is bounded: the oldest message goes first; getMessage answers the content of a kept one', () => {
    const cache = new SentCache(2);
    for (const id of ['K1', 'K2', 'K3']) cache.put(wa({ key: { remoteJid: PERSON, fromMe: true, id }, message: { conversation: id } }), { ours: true });
    assert.equal(cache.size, 2);
    assert.equal(cache.get({ remoteJid: PERSON, id: 'K1' }), undefined);
    assert.equal(cache.get({ remoteJid: PERSON, id: 'K3' })?.conversation, 'K3');
  });

  it('marks read what sendSeen read, per chat', () => {
    const cache = new SentCache();
    cache.put(wa({ key: { remoteJid: PERSON, fromMe: false, id: 'R1' }, message: { conversation: 'a' } }));
    cache.put(wa({ key: { remoteJid: GROUP, fromMe: false, id: 'R2', participant: PERSON }, message: { conversation: 'b' } }));
    const keys = cache.unreadIn('15550003333@c.us');
    assert.deepEqual(keys.map((k) => k.id), ['R1']);
    cache.markRead(keys);
    assert.deepEqual(cache.unreadIn('15550003333@c.us'), []);
    assert.deepEqual(cache.unreadIn(GROUP).map((k) => k.id), ['R2']);
  });
});
