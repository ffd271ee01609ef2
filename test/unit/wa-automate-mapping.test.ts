import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ackChatId, fromState, parseMessageId, toAck, toIncoming } from '../../src/engines/wa-automate/mapping.js';
import { describePatchFailure } from '../../src/engines/wa-automate/patches.js';
import { ProgressDeadline } from '../../src/engines/wa-automate/progress.js';

// Shapes as open-wa 4.76.0 hands them over: onMessage gets lib/wapi.js _serializeMessageObj's
// output (ids serialized), onAck gets quickClean of WhatsApp's own model (no chatId, no fromMe).
const THUMBNAIL = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL';

describe('wa-automate mapping', () => {
  it('a chat message keeps its body as text; caption, mimetype and filename are null', () => {
    const m = toIncoming({ id: 'false_15550003333@c.us_3EB0A', from: '15550003333@c.us', to: '15550001111@c.us', chatId: '15550003333@c.us', type: 'chat', body: 'hello', t: 1_700_000_000 });
    assert.equal(m.body, 'hello');
    assert.equal(m.type, 'chat');
    assert.equal(m.caption, null);
    assert.equal(m.mimetype, null);
    assert.equal(m.filename, null);
    assert.equal(m.isGroupMsg, false);
    assert.equal(m.timestamp, '2023-11-14T22:13:20.000Z');
  });

  it('media: the caption is the text, never the base64 thumbnail open-wa puts in body', () => {
    const image = toIncoming({ from: '15550003333@c.us', type: 'image', body: THUMBNAIL, caption: 'the invoice', mimetype: 'image/jpeg', isMedia: true });
    assert.equal(image.body, 'the invoice');
    assert.equal(image.caption, 'the invoice');
    assert.equal(image.mimetype, 'image/jpeg');
    const document = toIncoming({ from: '15550003333@c.us', type: 'document', body: THUMBNAIL, mimetype: 'application/pdf', filename: 'report.pdf' });
    assert.equal(document.body, '', 'no caption: no text');
    assert.equal(document.filename, 'report.pdf');
    const location = toIncoming({ from: '15550003333@c.us', type: 'location', body: THUMBNAIL });
    assert.equal(location.body, '');
    const sticker = toIncoming({ from: '15550003333@c.us', type: 'sticker', body: THUMBNAIL, isMedia: true });
    assert.equal(sticker.body, '');
  });

  it('a group message: the group is the chat, the member who wrote is the author', () => {
    const m = toIncoming({
      id: 'false_120363012345678901@g.us_3EB0B_15550003333@c.us',
      from: '120363012345678901@g.us',
      chatId: '120363012345678901@g.us',
      author: '15550003333@c.us',
      isGroupMsg: true,
      type: 'chat',
      body: 'hi all',
    });
    assert.equal(m.chatId, '120363012345678901@g.us');
    assert.equal(m.author, '15550003333@c.us');
    assert.equal(m.isGroupMsg, true);
    // Without isGroupMsg, the chat id says it.
    assert.equal(toIncoming({ from: '120363012345678901@g.us', type: 'chat', body: 'x' }).isGroupMsg, true);
  });

  it('@lid senders and authors are kept as they are, so they can be answered', () => {
    const m = toIncoming({ id: 'false_123456789012345@lid_3EB0C', from: '123456789012345@lid', chatId: '123456789012345@lid', type: 'chat', body: 'hi' });
    assert.equal(m.from, '123456789012345@lid');
    assert.equal(m.chatId, '123456789012345@lid');
    const g = toIncoming({ from: '120363012345678901@g.us', author: '98765432109876@lid', type: 'chat', body: 'x' });
    assert.equal(g.author, '98765432109876@lid');
    assert.deepEqual(parseMessageId('true_123456789012345@lid_3EB0D'), { fromMe: true, chatId: '123456789012345@lid' });
  });

  it('ids given as WhatsApp Wid objects are read through _serialized', () => {
    const m = toIncoming({ id: { _serialized: 'false_15550003333@c.us_3EB0E' }, from: { _serialized: '15550003333@c.us' }, type: 'chat', body: 'x', quotedMsgObj: { id: { _serialized: 'true_15550003333@c.us_Q' } } });
    assert.equal(m.id, 'false_15550003333@c.us_3EB0E');
    assert.equal(m.from, '15550003333@c.us');
    assert.equal(m.quotedMessageId, 'true_15550003333@c.us_Q');
  });

  it('an ack reads its chat from chatId before to; without chatId, from the message id', () => {
    // An incoming message we read: `to` is this account, the chat is the sender's.
    assert.equal(ackChatId({ id: 'false_15550003333@c.us_3EB0F', to: '15550001111@c.us', chatId: '15550003333@c.us', ack: 3 }), '15550003333@c.us');
    assert.equal(ackChatId({ id: 'false_15550003333@c.us_3EB0F', to: '15550001111@c.us', ack: 3 }), '15550003333@c.us');
    assert.equal(ackChatId({ id: 'true_120363012345678901@g.us_3EB0G', to: '120363012345678901@g.us', ack: 2 }), '120363012345678901@g.us');
    assert.equal(ackChatId({ to: '15550004444@c.us', ack: 1 }), '15550004444@c.us');
    assert.deepEqual(toAck({ id: 'true_15550004444@c.us_3EB0H', ack: 4 }), { messageId: 'true_15550004444@c.us_3EB0H', chatId: '15550004444@c.us', ack: 4, ackName: 'played' });
  });

  it('UNPAIRED and UNPAIRED_IDLE are a logout (stopped, with the reason), not a disconnection', () => {
    for (const state of ['UNPAIRED', 'UNPAIRED_IDLE']) {
      const status = fromState(state);
      assert.equal(status?.status, 'stopped');
      assert.match(status?.error ?? '', /unlinked this device/);
    }
    assert.equal(fromState('CONFLICT')?.status, 'disconnected');
    assert.equal(fromState('OPENING'), null);
  });

  it("recognises open-wa's patch download failing (from either address), and nothing else", () => {
    const axios = (url: string, extra: object = {}): object => Object.assign(new Error('Request failed with status code 503'), { config: { url }, ...extra });
    assert.match(describePatchFailure(axios('https://cdn.openwa.dev/patches.json?wv=2.3000&wav=4.76.0', { response: { status: 503 } })) ?? '', /: HTTP 503 \(open-wa needs them at every login/);
    assert.match(describePatchFailure(axios('https://raw.githubusercontent.com/open-wa/wa-automate-nodejs/master/patches.json?v=1')) ?? '', /Request failed with status code 503/);
    assert.equal(describePatchFailure(axios('https://funcs.openwa.dev/license-check')), null);
    assert.equal(describePatchFailure(new Error('patches.json')), null);
    assert.equal(describePatchFailure('patches.json'), null);
  });

  it('a progress deadline of 0 never fires, but still knows the last step', () => {
    const fired: unknown[] = [];
    const deadline = new ProgressDeadline(0, (last) => fired.push(last));
    deadline.step('Navigating to WA');
    deadline.stop();
    assert.equal(deadline.last, 'Navigating to WA');
    assert.deepEqual(fired, []);
  });
});
