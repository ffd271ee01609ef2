import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type ApiResponse, type TestServer } from '../helpers/http.js';
import type { MessageResource } from '../../src/sessions/resource.js';

type Page = ApiResponse<MessageResource[]> & { body: { nextCursor: string | null } };
interface Chat {
  chatId: string;
  lastMessage: MessageResource;
  messageCount: number;
}

const ALICE = '15550000001@c.us';
const BOB = '15550000002@c.us';

/** Newest first: by timestamp, then id, both descending (the history's order). */
function newestFirst(a: MessageResource, b: MessageResource): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

describe('message history over HTTP (sandbox)', () => {
  let srv: TestServer;
  const received: string[] = [];
  let sentId = '';

  before(async () => {
    srv = await startTestServer();
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'hist' })).status, 201);
    assert.equal((await srv.api('POST', '/api/v1/sessions/hist/sandbox/scan')).status, 200);
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'quiet' })).status, 201);
    // Interleaved, many in the same millisecond: the order must hold on (timestamp, id) ties too.
    for (let i = 0; i < 75; i++) {
      const from = i % 3 === 0 ? BOB : ALICE;
      const res = await srv.api<{ id: string }>('POST', '/api/v1/sessions/hist/sandbox/incoming', { from, content: `message ${String(i)}` });
      assert.equal(res.status, 200);
      received.push(res.body.data.id);
    }
    const sent = await srv.api<{ messageId: string }>('POST', '/api/v1/sessions/hist/send-text', { chatId: BOB, content: 'the answer' });
    assert.equal(sent.status, 200);
    sentId = sent.body.data.messageId;
    await srv.bus.idle();
  });
  after(async () => {
    await srv.stop();
  });

  async function page(query: string): Promise<Page> {
    return (await srv.api<MessageResource[]>('GET', `/api/v1/sessions/hist/messages${query}`)) as Page;
  }

  /** Follows nextCursor to the end; bounded by the number of messages there are. */
  async function all(query: string, limit: number): Promise<{ messages: MessageResource[]; pages: number }> {
    const messages: MessageResource[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const sep = query ? '&' : '?';
      const res: Page = await page(`${query}${sep}limit=${String(limit)}${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.body.data.length <= limit);
      messages.push(...res.body.data);
      cursor = res.body.nextCursor;
      pages += 1;
      assert.ok(pages <= 200, 'the cursor chain ends');
    } while (cursor !== null);
    return { messages, pages };
  }

  it('pages newest first with nextCursor beside data, and the cursor chain covers every message exactly once', async () => {
    const first = await page('?limit=7');
    assert.equal(first.status, 200);
    assert.equal(first.body.success, true);
    assert.deepEqual(Object.keys(first.body).sort(), ['data', 'nextCursor', 'success']);
    assert.equal(typeof first.body.nextCursor, 'string');
    const { messages, pages } = await all('', 7);
    const ids = messages.map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, 'no message twice');
    assert.deepEqual([...ids].sort(), [...received, sentId].sort(), 'every message, received and sent');
    assert.equal(pages, Math.ceil(76 / 7));
    assert.deepEqual(ids, [...messages].sort(newestFirst).map((m) => m.id), 'newest first');
    assert.equal(messages[0]?.id, sentId, 'the answer came last');
  });

  it('the default page is 50 and a page as large as the rest ends the chain with a null cursor', async () => {
    const first = await page('');
    assert.equal(first.body.data.length, 50);
    assert.ok(first.body.nextCursor);
    const rest = await page(`?limit=1000&before=${encodeURIComponent(first.body.nextCursor)}`);
    assert.equal(rest.body.data.length, 26);
    assert.equal(rest.body.nextCursor, null);
  });

  it('chatId keeps to one chat (a phone number is read as its chat id), across pages', async () => {
    const { messages } = await all(`?chatId=${encodeURIComponent(BOB)}`, 4);
    assert.equal(messages.length, 26, '25 from Bob and the answer to him');
    assert.ok(messages.every((m) => m.chatId === BOB));
    const byNumber = await page('?chatId=15550000002&limit=1000');
    assert.equal(byNumber.status, 200);
    assert.deepEqual(
      byNumber.body.data.map((m) => m.id),
      messages.map((m) => m.id),
    );
  });

  it('messages are the API message resource, sent ones with their latest ack', async () => {
    const incoming = (await page(`?chatId=${encodeURIComponent(ALICE)}&limit=1`)).body.data[0];
    assert.ok(incoming);
    assert.equal(incoming.fromMe, false);
    assert.equal(incoming.type, 'chat');
    assert.equal(incoming.media, null);
    assert.match(incoming.body, /^message \d+$/);
    // The sandbox acks a send three times; the history keeps the last one it heard.
    const end = Date.now() + 10_000;
    let answer: MessageResource | undefined;
    for (;;) {
      answer = (await page(`?chatId=${encodeURIComponent(BOB)}&limit=1`)).body.data[0];
      if (answer?.ackName === 'read' || Date.now() > end) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(answer?.id, sentId);
    assert.equal(answer?.fromMe, true);
    assert.equal(answer?.body, 'the answer');
    assert.equal(answer?.ack, 3);
    assert.equal(answer?.ackName, 'read');
  });

  it('a session without messages answers an empty page; an unknown session is a 404', async () => {
    const empty = (await srv.api<MessageResource[]>('GET', '/api/v1/sessions/quiet/messages')) as Page;
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body.data, []);
    assert.equal(empty.body.nextCursor, null);
    for (const path of ['/api/v1/sessions/nobody/messages', '/api/v1/sessions/nobody/chats']) {
      const res = await srv.api('GET', path);
      assert.equal(res.status, 404, path);
      assert.equal(res.body.error.code, 'SESSION_NOT_FOUND');
    }
  });

  it('a cursor that does not decode is a 400 naming query.before', async () => {
    const forged = Buffer.from(JSON.stringify({ timestamp: '2026-01-01T00:00:00.000Z' })).toString('base64url');
    const padded = `${Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000Z', 'x'])).toString('base64')}==`;
    for (const before of ['garbage!', '', forged, padded, 'A'.repeat(3000)]) {
      const res = await page(`?before=${encodeURIComponent(before)}`);
      assert.equal(res.status, 400, before);
      assert.equal(res.body.error.code, 'VALIDATION_ERROR');
      assert.deepEqual(
        (res.body.error.details as { path: string }[]).map((d) => d.path),
        ['query.before'],
        before,
      );
    }
  });

  it('limit is 1 to 1000, and unknown or bad query fields are 400s naming them', async () => {
    for (const [query, path] of [
      ['?limit=0', 'query.limit'],
      ['?limit=1001', 'query.limit'],
      ['?limit=ten', 'query.limit'],
      ['?limit=2.5', 'query.limit'],
      ['?chatId=not%20a%20chat', 'query.chatId'],
      ['?after=x', 'query'],
    ] as const) {
      const res = await page(query);
      assert.equal(res.status, 400, query);
      assert.equal((res.body.error.details as { path: string }[])[0]?.path, path, query);
    }
    const chats = await srv.api('GET', '/api/v1/sessions/hist/chats?limit=0');
    assert.equal(chats.status, 400);
  });

  it('chats list each chat once, the most recently active first, with its last message and count', async () => {
    const res = await srv.api<Chat[]>('GET', '/api/v1/sessions/hist/chats');
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.data.map((c) => [c.chatId, c.messageCount]),
      [
        [BOB, 26],
        [ALICE, 50],
      ],
    );
    assert.equal(res.body.data[0]?.lastMessage.id, sentId);
    const aliceNewest = (await page(`?chatId=${encodeURIComponent(ALICE)}&limit=1`)).body.data[0];
    assert.equal(res.body.data[1]?.lastMessage.id, aliceNewest?.id);
    // Alice writes again: her chat moves to the top.
    await srv.api('POST', '/api/v1/sessions/hist/sandbox/incoming', { from: ALICE, content: 'me again' });
    await srv.bus.idle();
    const again = await srv.api<Chat[]>('GET', '/api/v1/sessions/hist/chats?limit=1');
    assert.deepEqual(
      again.body.data.map((c) => [c.chatId, c.messageCount, c.lastMessage.body]),
      [[ALICE, 51, 'me again']],
    );
  });
});
