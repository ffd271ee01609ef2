import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AckEvent, MediaKind, OutboxEntry } from '../../src/engines/types.js';
import { appError, useSandboxFolder } from '../helpers/sandbox-engine.js';

const CHAT = '15550100001@c.us';
const ALL_FIELDS = [
  'messageId', 'chatId', 'type', 'content', 'caption', 'filename', 'mimetype', 'size', 'quotedMessageId', 'latitude', 'longitude',
  'title', 'address', 'contactId', 'vcard', 'reaction', 'targetMessageId', 'state', 'ref', 'timestamp', 'ack',
].sort();
const VCARD = 'BEGIN:VCARD\nVERSION:3.0\nFN:Ada\nTEL;type=CELL;waid=15550100002:+15550100002\nEND:VCARD';

/** The entry with the fields of its kind as given and every other kind's field null. */
function expectEntry(entry: OutboxEntry | undefined, fields: Partial<OutboxEntry>): void {
  assert.ok(entry);
  assert.deepEqual(Object.keys(entry).sort(), ALL_FIELDS);
  for (const key of ALL_FIELDS as (keyof OutboxEntry)[]) {
    if (key === 'timestamp' || key === 'ack' || key === 'messageId') continue;
    assert.deepEqual(entry[key], key in fields ? fields[key] : null, `${key} of a ${entry.type}`);
  }
  if ('messageId' in fields) assert.equal(entry.messageId, fields.messageId);
}

describe('sandbox engine: sends and the outbox', () => {
  const t = useSandboxFolder();

  async function fileToSend(bytes: number): Promise<string> {
    const file = path.join(t.dir, `outgoing-${String(bytes)}`);
    await writeFile(file, Buffer.alloc(bytes, 7));
    return file;
  }

  it('records a text with its ref and quoted message, every other field null', async () => {
    const e = await t.folder.ready();
    const sent = await e.sendText({ chatId: CHAT, content: 'hi', quotedMessageId: 'false_15550100001@c.us_AB12', ref: 'job_1' });
    const [entry] = await e.outbox();
    expectEntry(entry, { messageId: sent.messageId, chatId: CHAT, type: 'text', content: 'hi', quotedMessageId: 'false_15550100001@c.us_AB12', ref: 'job_1' });
    assert.equal(entry?.timestamp, sent.timestamp);
  });

  it('records each media kind as its type, with the size of the file on disk (not the size it was told)', async () => {
    const e = await t.folder.ready();
    const kinds: MediaKind[] = ['image', 'file', 'video', 'voice', 'audio'];
    for (const [i, kind] of kinds.entries()) {
      const file = await fileToSend(100 + i);
      const sent = await e.sendMedia({ chatId: CHAT, kind, file, mimetype: 'application/octet-stream', filename: `f${String(i)}.bin`, size: 1, caption: `c${String(i)}` });
      assert.match(sent.messageId ?? '', /^true_15550100001@c\.us_[0-9A-F]{32}$/);
      assert.equal(sent.chatId, CHAT);
    }
    const outbox = await e.outbox();
    assert.deepEqual(outbox.map((x) => x.type), kinds);
    outbox.forEach((entry, i) =>
      expectEntry(entry, { chatId: CHAT, type: kinds[i], caption: `c${String(i)}`, filename: `f${String(i)}.bin`, mimetype: 'application/octet-stream', size: 100 + i }),
    );
  });

  it('refuses a file to send that is gone, with ENGINE_ERROR, and records nothing', async () => {
    const e = await t.folder.ready();
    const file = await fileToSend(10);
    await rm(file);
    await assert.rejects(
      e.sendMedia({ chatId: CHAT, kind: 'image', file, mimetype: 'image/png', filename: 'a.png', size: 10 }),
      (err: unknown) => appError('ENGINE_ERROR')(err) && /file to send is gone/.test((err as Error).message),
    );
    assert.deepEqual(await e.outbox(), []);
  });

  it('records a location and a contact card (by id or vCard)', async () => {
    const e = await t.folder.ready();
    await e.sendLocation({ chatId: CHAT, latitude: 52.52, longitude: 13.405, title: 'Berlin', address: 'Pariser Platz', ref: 'job_loc' });
    await e.sendContact({ chatId: CHAT, contactId: '15550100002' });
    await e.sendContact({ chatId: CHAT, vcard: VCARD, ref: 'job_card' });
    const [location, byId, byCard] = await e.outbox();
    expectEntry(location, { chatId: CHAT, type: 'location', latitude: 52.52, longitude: 13.405, title: 'Berlin', address: 'Pariser Platz', ref: 'job_loc' });
    expectEntry(byId, { chatId: CHAT, type: 'contact', contactId: '15550100002@c.us' });
    expectEntry(byCard, { chatId: CHAT, type: 'contact', vcard: VCARD, ref: 'job_card' });
  });

  it('refuses a contact card with both or neither of contactId and vcard', async () => {
    const e = await t.folder.ready();
    await assert.rejects(e.sendContact({ chatId: CHAT }), appError('VALIDATION_ERROR', ['body.contactId']));
    await assert.rejects(e.sendContact({ chatId: CHAT, contactId: '15550100002', vcard: VCARD }), appError('VALIDATION_ERROR', ['body.contactId']));
    assert.deepEqual(await e.outbox(), []);
  });

  it("reacts in the message's own chat: no id answered, a new id and the target in the outbox", async () => {
    const e = await t.folder.ready();
    const target = 'false_123456789-1612345678@g.us_3EB0C767D26A1D3B6C8F_15550100003@c.us';
    const sent = await e.sendReaction({ messageId: target, reaction: '👍', ref: 'job_r' });
    assert.equal(sent.messageId, null);
    assert.equal(sent.chatId, '123456789-1612345678@g.us');
    const removed = await e.sendReaction({ messageId: 'true_15550100001@c.us_ABCDEF', reaction: '' });
    assert.equal(removed.chatId, CHAT);
    const [first, second] = await e.outbox();
    expectEntry(first, { chatId: '123456789-1612345678@g.us', type: 'reaction', reaction: '👍', targetMessageId: target, ref: 'job_r' });
    assert.match(first?.messageId ?? '', /^true_123456789-1612345678@g\.us_[0-9A-F]{32}$/);
    expectEntry(second, { chatId: CHAT, type: 'reaction', reaction: '', targetMessageId: 'true_15550100001@c.us_ABCDEF' });
  });

  it('refuses a reaction to something that is no message id, naming body.messageId', async () => {
    const e = await t.folder.ready();
    for (const messageId of ['nonsense', 'true_15550100001_ABC', 'maybe_15550100001@c.us_ABC', 'true_15550100001@c.us_']) {
      await assert.rejects(e.sendReaction({ messageId, reaction: '👍' }), appError('VALIDATION_ERROR', ['body.messageId']), messageId);
    }
    assert.deepEqual(await e.outbox(), []);
  });

  it('records marking seen and presence without a message id', async () => {
    const e = await t.folder.ready();
    await e.sendSeen(CHAT);
    await e.setPresence({ chatId: CHAT, state: 'typing' });
    const [seen, presence] = await e.outbox();
    expectEntry(seen, { messageId: null, chatId: CHAT, type: 'seen' });
    expectEntry(presence, { messageId: null, chatId: CHAT, type: 'presence', state: 'typing' });
  });

  it('acks real messages only, not reactions, seen or presence', async () => {
    const e = await t.folder.ready();
    const acks: AckEvent[] = [];
    e.on('ack', (a) => acks.push(a));
    const text = await e.sendText({ chatId: CHAT, content: 'hi' });
    const location = await e.sendLocation({ chatId: CHAT, latitude: 1, longitude: 2 });
    await e.sendReaction({ messageId: text.messageId ?? '', reaction: '👍' });
    await e.sendSeen(CHAT);
    await e.setPresence({ chatId: CHAT, state: 'paused' });
    mock.timers.tick(1500);
    assert.deepEqual(new Set(acks.map((a) => a.messageId)), new Set([text.messageId, location.messageId]));
    assert.equal(acks.length, 6);
    const byType = new Map((await e.outbox()).map((x) => [x.type, x.ack]));
    assert.deepEqual(Object.fromEntries(byType), { text: 3, location: 3, reaction: 0, seen: 0, presence: 0 });
  });

  it('refuses every send before the session is ready, recording nothing', async () => {
    const e = await t.folder.showingQr();
    const file = await fileToSend(5);
    const attempts = [
      e.sendText({ chatId: CHAT, content: 'hi' }),
      e.sendMedia({ chatId: CHAT, kind: 'file', file, mimetype: 'text/plain', filename: 'a.txt', size: 5 }),
      e.sendLocation({ chatId: CHAT, latitude: 1, longitude: 2 }),
      e.sendContact({ chatId: CHAT, vcard: VCARD }),
      e.sendReaction({ messageId: 'true_15550100001@c.us_ABCDEF', reaction: '👍' }),
      e.sendSeen(CHAT),
      e.setPresence({ chatId: CHAT, state: 'typing' }),
    ];
    for (const attempt of attempts) await assert.rejects(attempt, appError('SESSION_NOT_READY'));
    assert.deepEqual(await e.outbox(), []);
  });

  it('keeps the outbox for a new engine on the same folder, filling fields older lines lack with null', async () => {
    // A line as the outbox was written before location, contact, reaction, seen and presence existed.
    const old = { messageId: 'true_15550100001@c.us_AAAA', chatId: CHAT, type: 'image', content: null, caption: 'x', filename: 'a.png', mimetype: 'image/png', size: 3, quotedMessageId: null, timestamp: '2025-01-01T00:00:00.000Z', ack: 0 };
    await mkdir(t.folder.sessionDataDir, { recursive: true });
    await writeFile(path.join(t.folder.sessionDataDir, 'sandbox-outbox.jsonl'), `${JSON.stringify(old)}\n{"cut short by a cra`);
    const e = await t.folder.ready();
    await e.sendLocation({ chatId: CHAT, latitude: 1, longitude: 2, ref: 'job_2' });
    await e.stop();

    const again = await t.folder.restored();
    const [first, second, ...rest] = await again.outbox();
    expectEntry(first, { messageId: old.messageId, chatId: CHAT, type: 'image', caption: 'x', filename: 'a.png', mimetype: 'image/png', size: 3 });
    expectEntry(second, { chatId: CHAT, type: 'location', latitude: 1, longitude: 2, ref: 'job_2' });
    assert.deepEqual(rest, []);
  });

  it('keeps the last 1000 outbox entries on disk', async () => {
    await mkdir(t.folder.sessionDataDir, { recursive: true });
    const lines = Array.from({ length: 1005 }, (_, i) => JSON.stringify({ messageId: `true_${CHAT}_${String(i)}`, chatId: CHAT, type: 'text', content: String(i), timestamp: '2025-01-01T00:00:00.000Z', ack: 0 }));
    const file = path.join(t.folder.sessionDataDir, 'sandbox-outbox.jsonl');
    await writeFile(file, `${lines.join('\n')}\n`);
    const e = await t.folder.ready();
    const outbox = await e.outbox();
    assert.equal(outbox.length, 1000);
    assert.equal(outbox[0]?.content, '5');
    assert.equal((await readFile(file, 'utf8')).trim().split('\n').length, 1000);
  });
});

describe('sandbox engine: findSent', () => {
  const t = useSandboxFolder();

  const since = '2020-01-01T00:00:00.000Z';

  it('finds a send by its ref after a restart, as the send answered it', async () => {
    const e = await t.folder.ready();
    const sent = await e.sendText({ chatId: CHAT, content: 'hi', ref: 'job_A' });
    const reaction = await e.sendReaction({ messageId: sent.messageId ?? '', reaction: '👍', ref: 'job_B' });
    await e.stop();

    const again = t.folder.engine();
    await again.start();
    assert.deepEqual(await again.findSent({ ref: 'job_A', chatId: CHAT, since }), { found: sent });
    assert.deepEqual(await again.findSent({ ref: 'job_B', chatId: CHAT, since }), { found: reaction });
  });

  it('says for certain that a ref never sent was not sent', async () => {
    const e = await t.folder.ready();
    await e.sendText({ chatId: CHAT, content: 'hi', ref: 'job_A' });
    await e.sendText({ chatId: CHAT, content: 'no ref' });
    assert.deepEqual(await e.findSent({ ref: 'job_never', chatId: CHAT, since }), { found: null });
  });

  it('does not know before it has read its outbox, nor when the send may have aged out of it', async () => {
    const unstarted = t.folder.engine();
    assert.ok('unknown' in (await unstarted.findSent({ ref: 'job_A', chatId: CHAT, since })));

    await mkdir(t.folder.sessionDataDir, { recursive: true });
    const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ messageId: `true_${CHAT}_${String(i)}`, chatId: CHAT, type: 'text', content: String(i), timestamp: '2025-06-01T00:00:00.000Z', ack: 0 }));
    await writeFile(path.join(t.folder.sessionDataDir, 'sandbox-outbox.jsonl'), `${lines.join('\n')}\n`);
    const e = t.folder.engine();
    await e.start();
    assert.ok('unknown' in (await e.findSent({ ref: 'job_old', chatId: CHAT, since: '2025-05-01T00:00:00.000Z' })));
    assert.deepEqual(await e.findSent({ ref: 'job_new', chatId: CHAT, since: '2025-07-01T00:00:00.000Z' }), { found: null });
  });
});
