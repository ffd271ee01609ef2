import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { dataUrl, HTML, MP4, OGG_OPUS, PNG, TEXT } from '../helpers/media-fixtures.js';
import { expectError, expectSent, outbox, outgoingFiles, qrSandbox, readySandbox, type Sent } from '../helpers/send-checks.js';

const ID = 'refuser';
const NOT_READY = 'unscanned';
const TO = '15550100001@c.us';
const PNG_DATA = dataUrl(PNG, 'image/png');
const A_MESSAGE_ID = 'true_15550100001@c.us_3EB0C767D26A1D3B6C8F';

/** A good body of every send endpoint: each must be refused only for what the test changes. */
const GOOD: Record<string, Record<string, unknown>> = {
  'send-image': { chatId: TO, data: PNG_DATA, filename: 'a.png' },
  'send-file': { chatId: TO, data: PNG_DATA, filename: 'a.png' },
  'send-video': { chatId: TO, data: dataUrl(MP4, 'video/mp4'), filename: 'a.mp4' },
  'send-voice': { chatId: TO, data: dataUrl(OGG_OPUS, 'audio/ogg'), filename: 'a.ogg' },
  'send-location': { chatId: TO, latitude: 1, longitude: 2 },
  'send-contact': { chatId: TO, contactId: '15550100002' },
  'send-reaction': { messageId: A_MESSAGE_ID, reaction: '👍' },
  'send-seen': { chatId: TO },
  presence: { chatId: TO, state: 'typing' },
};

const without = (body: Record<string, unknown>, key: string): Record<string, unknown> => Object.fromEntries(Object.entries(body).filter(([k]) => k !== key));

/** [endpoint, what is wrong, body, the details paths the 400 names]. */
const BAD: [string, string, Record<string, unknown>, string[]][] = [
  ...(['send-image', 'send-file', 'send-video', 'send-voice'] as const).flatMap((ep): [string, string, Record<string, unknown>, string[]][] => {
    const good = GOOD[ep]!;
    return [
      [ep, 'both data and url', { ...good, url: 'https://example.com/a.png' }, ['body.data']],
      [ep, 'neither data nor url', without(good, 'data'), ['body.data']],
      [ep, 'data without filename', without(good, 'filename'), ['body.filename']],
      [ep, 'data that is not base64', { ...good, data: 'this is not base64!' }, ['body.data']],
      [ep, 'a data URL with no bytes', { ...good, data: 'data:image/png;base64,' }, ['body.data']],
      [ep, 'a url that is not http(s)', { ...without(good, 'data'), url: 'ftp://example.com/a.png' }, ['body.url']],
      [ep, 'a chatId that is no chat', { ...good, chatId: 'nobody' }, ['body.chatId']],
      [ep, 'an unknown key', { ...good, colour: 'blue' }, ['body']],
    ];
  }),
  ['send-voice', 'a caption (a voice note has none)', { ...GOOD['send-voice'], caption: 'hi' }, ['body']],
  ['send-image', 'a caption over 4096 characters', { ...GOOD['send-image'], caption: 'x'.repeat(4097) }, ['body.caption']],
  ['send-location', 'latitude 91', { ...GOOD['send-location'], latitude: 91 }, ['body.latitude']],
  ['send-location', 'latitude -90.5', { ...GOOD['send-location'], latitude: -90.5 }, ['body.latitude']],
  ['send-location', 'longitude 180.5', { ...GOOD['send-location'], longitude: 180.5 }, ['body.longitude']],
  ['send-location', 'latitude as a string', { ...GOOD['send-location'], latitude: '52.1' }, ['body.latitude']],
  ['send-location', 'no longitude', without(GOOD['send-location']!, 'longitude'), ['body.longitude']],
  ['send-location', 'an empty title', { ...GOOD['send-location'], title: '' }, ['body.title']],
  ['send-location', 'an unknown key', { ...GOOD['send-location'], zoom: 3 }, ['body']],
  ['send-contact', 'both contactId and vcard', { ...GOOD['send-contact'], vcard: 'BEGIN:VCARD\nFN:A\nEND:VCARD' }, ['body.contactId']],
  ['send-contact', 'neither contactId nor vcard', { chatId: TO }, ['body.contactId']],
  ['send-contact', 'a vcard that is not a vCard', { chatId: TO, vcard: 'FN:Ada Lovelace' }, ['body.vcard']],
  ['send-contact', 'a group as contactId', { chatId: TO, contactId: '123456789-1612345678@g.us' }, ['body.contactId']],
  ['send-reaction', 'reaction "ab"', { ...GOOD['send-reaction'], reaction: 'ab' }, ['body.reaction']],
  ['send-reaction', 'two emojis', { ...GOOD['send-reaction'], reaction: '👍👍' }, ['body.reaction']],
  ['send-reaction', 'an emoji and a letter', { ...GOOD['send-reaction'], reaction: '👍a' }, ['body.reaction']],
  ['send-reaction', 'no reaction', without(GOOD['send-reaction']!, 'reaction'), ['body.reaction']],
  ['send-reaction', 'a messageId that is no message id', { ...GOOD['send-reaction'], messageId: 'not-a-message' }, ['body.messageId']],
  ['send-reaction', 'a chatId (the chat is the message\'s)', { ...GOOD['send-reaction'], chatId: TO }, ['body']],
  ['send-seen', 'no chatId', {}, ['body.chatId']],
  ['send-seen', 'an unknown key', { chatId: TO, all: true }, ['body']],
  ['presence', 'an unknown state', { chatId: TO, state: 'dancing' }, ['body.state']],
  ['presence', 'no chatId', { state: 'typing' }, ['body.chatId']],
];

describe('send endpoints refuse what they cannot send, and send nothing then', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startTestServer();
    await readySandbox(srv, ID);
    await qrSandbox(srv, NOT_READY);
  });
  after(async () => {
    await srv.stop();
  });

  const url = (session: string, endpoint: string): string => `/api/v1/sessions/${session}/${endpoint}`;

  it('every good body used below is sent (so each refusal below comes from what it changes)', async () => {
    for (const [endpoint, body] of Object.entries(GOOD)) {
      const res = await srv.api<Sent>('POST', url(ID, endpoint), body);
      assert.equal(res.status, 200, `${endpoint}: ${res.text}`);
    }
    assert.equal((await outbox(srv, ID)).length, Object.keys(GOOD).length);
  });

  it('a bad body is a 400 naming the field in details, and nothing goes out or stays in outgoing/', async () => {
    const before = (await outbox(srv, ID)).length;
    for (const [endpoint, what, body, paths] of BAD) {
      const res = await srv.api('POST', url(ID, endpoint), body);
      assert.equal(res.status, 400, `${endpoint} with ${what}: ${res.text}`);
      expectError(res, 400, 'VALIDATION_ERROR', paths);
    }
    assert.equal((await outbox(srv, ID)).length, before, 'nothing was sent');
    assert.deepEqual(await outgoingFiles(srv, ID), []);
  });

  it('a file that is not what the endpoint sends is a 415, and its file is removed from outgoing/', async () => {
    const before = (await outbox(srv, ID)).length;
    const refused: [string, Record<string, unknown>][] = [
      ['send-image', { chatId: TO, data: dataUrl(TEXT, 'text/plain'), filename: 'a.txt' }],
      ['send-image', { chatId: TO, data: dataUrl(TEXT, 'image/png'), filename: 'a.png' }],
      ['send-image', { chatId: TO, data: dataUrl(MP4, 'video/mp4'), filename: 'a.mp4' }],
      ['send-video', { chatId: TO, data: dataUrl(TEXT, 'text/plain'), filename: 'a.txt' }],
      ['send-video', { chatId: TO, data: TEXT.toString('base64'), filename: 'a.mp4' }],
      ['send-video', { chatId: TO, data: PNG_DATA, filename: 'a.png' }],
      ['send-voice', { chatId: TO, data: dataUrl(TEXT, 'text/plain'), filename: 'a.txt' }],
      ['send-voice', { chatId: TO, data: TEXT.toString('base64'), filename: 'a.ogg' }],
      ['send-file', { chatId: TO, data: dataUrl(HTML, 'image/png'), filename: 'page.png' }],
      ['send-file', { chatId: TO, data: dataUrl(TEXT, 'application/pdf'), filename: 'report.pdf' }],
      ['send-file', { chatId: TO, data: TEXT.toString('base64'), filename: 'fake.pdf' }],
    ];
    for (const [endpoint, body] of refused) {
      const res = await srv.api('POST', url(ID, endpoint), body);
      assert.equal(res.status, 415, `${endpoint} of ${String(body.filename)}: ${res.text}`);
      expectError(res, 415, 'UNSUPPORTED_MEDIA');
      assert.deepEqual(await outgoingFiles(srv, ID), [], `${endpoint}: the file written for it is gone`);
    }
    assert.equal((await outbox(srv, ID)).length, before, 'nothing was sent');
  });

  it('a session that is not ready is a 409 SESSION_NOT_READY naming its status, on every send endpoint', async () => {
    for (const [endpoint, body] of Object.entries(GOOD)) {
      const res = await srv.api('POST', url(NOT_READY, endpoint), body);
      expectError(res, 409, 'SESSION_NOT_READY');
      assert.deepEqual(res.body.error.details, { status: 'qr_ready' }, `${endpoint}: ${res.text}`);
      assert.match(res.body.error.message, /qr_ready/);
    }
    assert.deepEqual(await outgoingFiles(srv, NOT_READY), [], 'no file was written for a session that cannot send');
  });

  it('an unknown session is a 404 SESSION_NOT_FOUND on every send endpoint', async () => {
    for (const [endpoint, body] of Object.entries(GOOD)) {
      expectError(await srv.api('POST', url('no-such-session', endpoint), body), 404, 'SESSION_NOT_FOUND');
    }
  });

  it('after all these refusals the session still sends', async () => {
    expectSent(await srv.api<Sent>('POST', url(ID, 'send-image'), GOOD['send-image']), TO);
    assert.deepEqual(await outgoingFiles(srv, ID), []);
  });
});
