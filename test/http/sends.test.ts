import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OutboxEntry } from '../../src/engines/types.js';
import type { MessageResource } from '../../src/sessions/resource.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { dataUrl, MP3, MP4, OGG_OPUS, OGG_VORBIS, PDF, PNG, TEXT, WEBM } from '../helpers/media-fixtures.js';
import { expectError, expectSent, history, outbox, outgoingFiles, readySandbox, type Sent } from '../helpers/send-checks.js';

const ID = 'sender';
const TO = '15550100001@c.us';
const path = (endpoint: string): string => `/api/v1/sessions/${ID}/${endpoint}`;

describe('the send endpoints beyond text, on a ready sandbox session (what each answers, sends and leaves behind)', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startTestServer();
    await readySandbox(srv, ID);
  });
  after(async () => {
    await srv.stop();
  });

  /** Sends, checks the answer, and gives it with the one outbox entry the send added. */
  async function send(endpoint: string, body: Record<string, unknown>, chatId = TO, withId = true): Promise<{ sent: Sent; entry: OutboxEntry }> {
    const before = (await outbox(srv, ID)).length;
    const sent = expectSent(await srv.api<Sent>('POST', path(endpoint), body), chatId, withId);
    const after = await outbox(srv, ID);
    assert.equal(after.length, before + 1, `${endpoint} adds one outbox entry`);
    const entry = after.at(-1)!;
    assert.equal(entry.chatId, chatId);
    if (withId) assert.equal(entry.messageId, sent.messageId, 'the outbox entry is the message answered');
    assert.deepEqual(await outgoingFiles(srv, ID), [], `${endpoint} leaves nothing in outgoing/`);
    return { sent, entry };
  }

  async function inHistory(messageId: string | null): Promise<MessageResource> {
    const found = (await history(srv, ID)).find((m) => m.id === messageId);
    assert.ok(found, `message ${String(messageId)} is in the history`);
    assert.equal(found.fromMe, true);
    return found;
  }

  it('send-image sends a PNG with its caption and quote: an image in the outbox and the history', async () => {
    const text = expectSent(await srv.api<Sent>('POST', path('send-text'), { chatId: TO, content: 'first' }), TO);
    const { sent, entry } = await send('send-image', {
      chatId: '+1 555-010 0001',
      data: dataUrl(PNG, 'image/png'),
      filename: 'dot.png',
      caption: 'look',
      quotedMessageId: text.messageId,
    });
    assert.equal(entry.type, 'image');
    assert.equal(entry.mimetype, 'image/png');
    assert.equal(entry.filename, 'dot.png');
    assert.equal(entry.size, PNG.length);
    assert.equal(entry.caption, 'look');
    assert.equal(entry.quotedMessageId, text.messageId);
    const message = await inHistory(sent.messageId);
    assert.equal(message.type, 'image');
    assert.equal(message.body, 'look');
    assert.equal(message.quotedMessageId, text.messageId);
  });

  it('send-image takes bare base64 too, and its type comes from the bytes whatever the data URL claims', async () => {
    const bare = await send('send-image', { chatId: TO, data: PNG.toString('base64'), filename: 'bare.png' });
    assert.equal(bare.entry.mimetype, 'image/png');
    const claimed = await send('send-image', { chatId: TO, data: dataUrl(PNG, 'image/jpeg'), filename: 'claims-jpeg.jpg' });
    assert.equal(claimed.entry.mimetype, 'image/png');
  });

  it('send-file sends any file as a document, typed by its bytes, else its data URL, else its name', async () => {
    const pdf = await send('send-file', { chatId: TO, data: dataUrl(PDF, 'application/octet-stream'), filename: 'report.pdf', caption: 'the report' });
    assert.equal(pdf.entry.type, 'file');
    assert.equal(pdf.entry.mimetype, 'application/pdf');
    assert.equal(pdf.entry.size, PDF.length);
    assert.equal(pdf.entry.filename, 'report.pdf');
    assert.equal(pdf.entry.caption, 'the report');
    assert.equal((await inHistory(pdf.sent.messageId)).type, 'document');
    const csv = await send('send-file', { chatId: TO, data: dataUrl(TEXT, 'text/csv'), filename: 'table.dat' });
    assert.equal(csv.entry.mimetype, 'text/csv');
    const named = await send('send-file', { chatId: TO, data: TEXT.toString('base64'), filename: 'notes.txt' });
    assert.equal(named.entry.mimetype, 'text/plain');
    const image = await send('send-file', { chatId: TO, data: PNG.toString('base64'), filename: 'as-document.png' });
    assert.equal(image.entry.type, 'file', 'an image sent with send-file stays a document');
  });

  it('send-video sends an MP4 and a WebM as videos', async () => {
    const mp4 = await send('send-video', { chatId: TO, data: dataUrl(MP4, 'video/mp4'), filename: 'clip.mp4', caption: 'watch' });
    assert.equal(mp4.entry.type, 'video');
    assert.equal(mp4.entry.mimetype, 'video/mp4');
    assert.equal(mp4.entry.size, MP4.length);
    assert.equal(mp4.entry.caption, 'watch');
    assert.equal((await inHistory(mp4.sent.messageId)).type, 'video');
    const webm = await send('send-video', { chatId: TO, data: WEBM.toString('base64'), filename: 'clip.webm' });
    assert.equal(webm.entry.type, 'video');
    assert.equal(webm.entry.mimetype, 'video/webm');
  });

  it('send-voice sends Ogg Opus as a voice note (outbox voice, history ptt), MP3 and Ogg Vorbis as audio files', async () => {
    const voice = await send('send-voice', { chatId: TO, data: dataUrl(OGG_OPUS, 'audio/ogg'), filename: 'note.ogg' });
    assert.equal(voice.entry.type, 'voice');
    assert.match(voice.entry.mimetype ?? '', /^audio\/ogg; codecs=opus$/);
    assert.equal(voice.entry.size, OGG_OPUS.length);
    assert.equal((await inHistory(voice.sent.messageId)).type, 'ptt');
    const mp3 = await send('send-voice', { chatId: TO, data: MP3.toString('base64'), filename: 'song.mp3' });
    assert.equal(mp3.entry.type, 'audio');
    assert.equal(mp3.entry.mimetype, 'audio/mpeg');
    assert.equal((await inHistory(mp3.sent.messageId)).type, 'audio');
    const vorbis = await send('send-voice', { chatId: TO, data: OGG_VORBIS.toString('base64'), filename: 'music.ogg' });
    assert.equal(vorbis.entry.type, 'audio', 'Ogg that is not Opus is no voice note');
  });

  it('send-location sends the place with its title and address', async () => {
    const { sent, entry } = await send('send-location', { chatId: TO, latitude: 52.3731, longitude: 4.8926, title: 'Dam Square', address: 'Dam, Amsterdam' });
    assert.equal(entry.type, 'location');
    assert.equal(entry.latitude, 52.3731);
    assert.equal(entry.longitude, 4.8926);
    assert.equal(entry.title, 'Dam Square');
    assert.equal(entry.address, 'Dam, Amsterdam');
    assert.equal((await inHistory(sent.messageId)).type, 'location');
    const edge = await send('send-location', { chatId: TO, latitude: -90, longitude: 180 });
    assert.equal(edge.entry.latitude, -90);
    assert.equal(edge.entry.title, null);
  });

  it('send-contact shares a contact by its number (any notation) or a vCard', async () => {
    const byId = await send('send-contact', { chatId: TO, contactId: '+1 (555) 010-0002' });
    assert.equal(byId.entry.type, 'contact');
    assert.equal(byId.entry.contactId, '15550100002@c.us');
    assert.equal(byId.entry.vcard, null);
    assert.equal((await inHistory(byId.sent.messageId)).type, 'vcard');
    const vcard = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nTEL;TYPE=CELL:+15550100003\r\nEND:VCARD\r\n';
    const byCard = await send('send-contact', { chatId: TO, vcard });
    assert.equal(byCard.entry.vcard, vcard);
    assert.equal(byCard.entry.contactId, null);
  });

  it('send-reaction reacts on a sent or received message in its own chat, answers messageId null, and "" removes it', async () => {
    const target = expectSent(await srv.api<Sent>('POST', path('send-text'), { chatId: TO, content: 'react to me' }), TO);
    const thumbs = await send('send-reaction', { messageId: target.messageId, reaction: '👍' }, TO, false);
    assert.equal(thumbs.entry.type, 'reaction');
    assert.equal(thumbs.entry.reaction, '👍');
    assert.equal(thumbs.entry.targetMessageId, target.messageId);
    for (const emoji of ['👍🏽', '🇳🇱', '👨‍👩‍👧']) {
      const one = await send('send-reaction', { messageId: target.messageId, reaction: emoji }, TO, false);
      assert.equal(one.entry.reaction, emoji, `${emoji} is one emoji`);
    }
    const removed = await send('send-reaction', { messageId: target.messageId, reaction: '' }, TO, false);
    assert.equal(removed.entry.reaction, '');
    assert.equal(removed.entry.targetMessageId, target.messageId);
    const history1 = await history(srv, ID);
    assert.ok(!history1.some((m) => m.type === 'reaction'), 'a reaction is no message of its own in the history');

    const incoming = await srv.api<{ id: string }>('POST', path('sandbox/incoming'), { from: '15550100004', content: 'hello' });
    assert.equal(incoming.status, 200, incoming.text);
    const onIncoming = await send('send-reaction', { messageId: incoming.body.data.id, reaction: '❤️' }, '15550100004@c.us', false);
    assert.equal(onIncoming.entry.targetMessageId, incoming.body.data.id);
  });

  it('send-reaction takes a keycap emoji (1️⃣, #️⃣, *️⃣) as the one emoji it is', async () => {
    const target = expectSent(await srv.api<Sent>('POST', path('send-text'), { chatId: TO, content: 'rate this 1 to 9' }), TO);
    for (const emoji of ['1️⃣', '#️⃣', '*️⃣']) {
      const res = await srv.api<Sent>('POST', path('send-reaction'), { messageId: target.messageId, reaction: emoji });
      assert.equal(res.status, 200, `${emoji}: ${res.text}`);
      assert.equal((await outbox(srv, ID)).at(-1)?.reaction, emoji);
    }
  });

  it('send-contact takes a person\'s @lid chat id as contactId, as the API documents', async () => {
    const { entry } = await send('send-contact', { chatId: TO, contactId: '123456789012345@lid' });
    assert.equal(entry.contactId, '123456789012345@lid');
  });

  it('send-seen marks a chat read, presence shows typing, recording and paused; both answer messageId null', async () => {
    const seen = await send('send-seen', { chatId: '15550100005' }, '15550100005@c.us', false);
    assert.equal(seen.entry.type, 'seen');
    assert.equal(seen.entry.messageId, null);
    for (const state of ['typing', 'recording', 'paused']) {
      const shown = await send('presence', { chatId: TO, state }, TO, false);
      assert.equal(shown.entry.type, 'presence');
      assert.equal(shown.entry.state, state);
      assert.equal(shown.entry.messageId, null);
    }
  });

  it('send-seen takes an Idempotency-Key like every send-*: a malformed one is a 400, a repeated one replays', async () => {
    const body = { chatId: '15550100006' };
    const bad = await srv.api('POST', path('send-seen'), body, { 'Idempotency-Key': 'x'.repeat(256) });
    expectError(bad, 400, 'VALIDATION_ERROR', ['headers.Idempotency-Key']);
    const before = (await outbox(srv, ID)).length;
    const headers = { 'Idempotency-Key': 'seen-once-1' };
    const first = await srv.api<Sent>('POST', path('send-seen'), body, headers);
    expectSent(first, '15550100006@c.us', false);
    const again = await srv.api<Sent>('POST', path('send-seen'), body, headers);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.body.data, first.body.data);
    assert.equal((await outbox(srv, ID)).length, before + 1, 'marked read once');
  });

  it('an Idempotency-Key on send-location sends once; the same request again replays the answer', async () => {
    const body = { chatId: TO, latitude: 48.8584, longitude: 2.2945, title: 'Eiffel Tower' };
    const headers = { 'Idempotency-Key': 'location-once-1' };
    const before = (await outbox(srv, ID)).length;
    const first = await srv.api<Sent>('POST', path('send-location'), body, headers);
    const sent = expectSent(first, TO);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const again = await srv.api<Sent>('POST', path('send-location'), body, headers);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.body.data, sent);
    const after = await outbox(srv, ID);
    assert.equal(after.length, before + 1, 'one location went out');
    assert.equal(after.filter((e) => e.title === 'Eiffel Tower').length, 1);
    const other = await srv.api('POST', path('send-location'), { ...body, title: 'Louvre' }, headers);
    assert.equal(other.status, 409, other.text);
    assert.equal(other.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal((await outbox(srv, ID)).length, before + 1);
  });
});
