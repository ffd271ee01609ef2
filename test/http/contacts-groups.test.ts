import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionResource } from '../../src/sessions/resource.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { expectError, qrSandbox, readySandbox } from '../helpers/send-checks.js';

const ID = 'people';
const base = `/api/v1/sessions/${ID}`;

interface Group {
  id: string;
  name: string;
  participants: { id: string; isAdmin: boolean }[];
  createdAt: string | null;
}

describe('contacts and groups of a ready sandbox session, over HTTP', () => {
  let srv: TestServer;
  let me = '';

  before(async () => {
    srv = await startTestServer();
    await readySandbox(srv, ID);
    await qrSandbox(srv, 'unlinked');
    const session = await srv.api<SessionResource>('GET', base);
    me = session.body.data.me?.id ?? '';
    assert.match(me, /^\d+@c\.us$/);
  });
  after(async () => {
    await srv.stop();
  });

  async function groups(): Promise<Group[]> {
    const res = await srv.api<Group[]>('GET', `${base}/groups`);
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  }

  it('exists: true for a number of the simulated WhatsApp, in any notation, false for another', async () => {
    const yes = await srv.api<{ exists: boolean; chatId: string }>('GET', `${base}/contacts/15550100001/exists`);
    assert.equal(yes.status, 200, yes.text);
    assert.deepEqual(yes.body.data, { exists: true, chatId: '15550100001@c.us' });
    const noted = await srv.api<{ exists: boolean; chatId: string }>('GET', `${base}/contacts/${encodeURIComponent('+1 555 010 0009')}/exists`);
    assert.deepEqual(noted.body.data, { exists: true, chatId: '15550100009@c.us' });
    const no = await srv.api<{ exists: boolean; chatId: string }>('GET', `${base}/contacts/15559999999@c.us/exists`);
    assert.equal(no.status, 200, no.text);
    assert.deepEqual(no.body.data, { exists: false, chatId: '15559999999@c.us' });
  });

  it('a number that wrote to the session is on WhatsApp from then on', async () => {
    const before = await srv.api<{ exists: boolean }>('GET', `${base}/contacts/15557770001/exists`);
    assert.equal(before.body.data.exists, false);
    expectError(await srv.api('GET', `${base}/contacts/15557770001`), 404, 'NOT_FOUND');
    const wrote = await srv.api('POST', `${base}/sandbox/incoming`, { from: '15557770001', content: 'hi there' });
    assert.equal(wrote.status, 200, wrote.text);
    const now = await srv.api<{ exists: boolean; chatId: string }>('GET', `${base}/contacts/15557770001/exists`);
    assert.deepEqual(now.body.data, { exists: true, chatId: '15557770001@c.us' });
    const contact = await srv.api('GET', `${base}/contacts/15557770001@c.us`);
    assert.equal(contact.status, 200, contact.text);
    assert.deepEqual(contact.body.data, { id: '15557770001@c.us', name: null, pushname: null, isBusiness: false });
  });

  it('GET a contact: its name and whether it is a business; 404 NOT_FOUND for a number not on WhatsApp', async () => {
    const one = await srv.api('GET', `${base}/contacts/15550100001`);
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.body.data, { id: '15550100001@c.us', name: 'Sandbox Contact 1', pushname: 'Sandbox Contact 1', isBusiness: false });
    const shop = await srv.api('GET', `${base}/contacts/15550100009@c.us`);
    assert.deepEqual(shop.body.data, { id: '15550100009@c.us', name: 'Sandbox Shop', pushname: 'Sandbox Shop', isBusiness: true });
    expectError(await srv.api('GET', `${base}/contacts/15559999999`), 404, 'NOT_FOUND');
  });

  it('a contact id that is no person is a 400 on params.contactId', async () => {
    for (const bad of ['abc', '123456789-1612345678@g.us', '12']) {
      expectError(await srv.api('GET', `${base}/contacts/${encodeURIComponent(bad)}`), 400, 'VALIDATION_ERROR', ['params.contactId']);
      expectError(await srv.api('GET', `${base}/contacts/${encodeURIComponent(bad)}/exists`), 400, 'VALIDATION_ERROR', ['params.contactId']);
    }
  });

  it('create a group: 201, this account its admin, the others members; listed and got by its id', async () => {
    assert.deepEqual(await groups(), []);
    const res = await srv.api<Group>('POST', `${base}/groups`, { name: '  Team  ', participants: ['15550100001', '+1 555 010 0002', '15550100001@c.us'] });
    assert.equal(res.status, 201, res.text);
    const group = res.body.data;
    assert.match(group.id, new RegExp(`^${me.slice(0, me.indexOf('@'))}-\\d+@g\\.us$`));
    assert.equal(group.name, 'Team');
    assert.deepEqual(group.participants, [
      { id: me, isAdmin: true },
      { id: '15550100001@c.us', isAdmin: false },
      { id: '15550100002@c.us', isAdmin: false },
    ]);
    assert.ok(!Number.isNaN(Date.parse(group.createdAt ?? '')));
    assert.deepEqual(await groups(), [group]);
    const got = await srv.api<Group>('GET', `${base}/groups/${group.id}`);
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.body.data, group);
  });

  it('add and remove participants answer the group after the change; repeating either changes nothing', async () => {
    const [group] = await groups();
    assert.ok(group);
    const added = await srv.api<Group>('POST', `${base}/groups/${group.id}/participants/add`, { participants: ['15550100003', '15550100004@c.us'] });
    assert.equal(added.status, 200, added.text);
    assert.deepEqual(
      added.body.data.participants.map((p) => p.id),
      [me, '15550100001@c.us', '15550100002@c.us', '15550100003@c.us', '15550100004@c.us'],
    );
    const again = await srv.api<Group>('POST', `${base}/groups/${group.id}/participants/add`, { participants: ['15550100003'] });
    assert.deepEqual(again.body.data, added.body.data, 'adding a member again changes nothing');
    const removed = await srv.api<Group>('POST', `${base}/groups/${group.id}/participants/remove`, { participants: ['15550100001'] });
    assert.equal(removed.status, 200, removed.text);
    assert.deepEqual(
      removed.body.data.participants.map((p) => p.id),
      [me, '15550100002@c.us', '15550100003@c.us', '15550100004@c.us'],
    );
    const twice = await srv.api<Group>('POST', `${base}/groups/${group.id}/participants/remove`, { participants: ['15550100001'] });
    assert.deepEqual(twice.body.data, removed.body.data, 'removing a non-member changes nothing');
    assert.deepEqual((await srv.api<Group>('GET', `${base}/groups/${group.id}`)).body.data, removed.body.data);
  });

  it('invite-code gives {code, url}, the same each time', async () => {
    const [group] = await groups();
    assert.ok(group);
    const res = await srv.api<{ code: string; url: string }>('GET', `${base}/groups/${group.id}/invite-code`);
    assert.equal(res.status, 200, res.text);
    assert.match(res.body.data.code, /^[A-Za-z0-9]{22}$/);
    assert.equal(res.body.data.url, `https://chat.whatsapp.com/${res.body.data.code}`);
    const again = await srv.api<{ code: string; url: string }>('GET', `${base}/groups/${group.id}/invite-code`);
    assert.deepEqual(again.body.data, res.body.data);
  });

  it('an unknown group is a 404 NOT_FOUND on get, participants and invite-code', async () => {
    const unknown = '15550100001-1600000000@g.us';
    expectError(await srv.api('GET', `${base}/groups/${unknown}`), 404, 'NOT_FOUND');
    expectError(await srv.api('POST', `${base}/groups/${unknown}/participants/add`, { participants: ['15550100005'] }), 404, 'NOT_FOUND');
    expectError(await srv.api('POST', `${base}/groups/${unknown}/participants/remove`, { participants: ['15550100005'] }), 404, 'NOT_FOUND');
    expectError(await srv.api('GET', `${base}/groups/${unknown}/invite-code`), 404, 'NOT_FOUND');
  });

  it('a malformed group id is a 400 on params.groupId', async () => {
    for (const bad of ['not-a-group', '15550100001@c.us', '123@g.us']) {
      const id = encodeURIComponent(bad);
      expectError(await srv.api('GET', `${base}/groups/${id}`), 400, 'VALIDATION_ERROR', ['params.groupId']);
      expectError(await srv.api('GET', `${base}/groups/${id}/invite-code`), 400, 'VALIDATION_ERROR', ['params.groupId']);
      expectError(await srv.api('POST', `${base}/groups/${id}/participants/add`, { participants: ['15550100005'] }), 400, 'VALIDATION_ERROR', [
        'params.groupId',
      ]);
    }
  });

  it('bad group bodies are 400s naming the field', async () => {
    const [group] = await groups();
    assert.ok(group);
    expectError(await srv.api('POST', `${base}/groups`, { name: 'x', participants: [] }), 400, 'VALIDATION_ERROR', ['body.participants']);
    expectError(await srv.api('POST', `${base}/groups`, { name: '   ', participants: ['15550100001'] }), 400, 'VALIDATION_ERROR', ['body.name']);
    expectError(await srv.api('POST', `${base}/groups`, { name: 'x', participants: ['nobody'] }), 400, 'VALIDATION_ERROR', ['body.participants.0']);
    expectError(await srv.api('POST', `${base}/groups`, { participants: ['15550100001'] }), 400, 'VALIDATION_ERROR', ['body.name']);
    expectError(await srv.api('POST', `${base}/groups`, { name: 'x', participants: ['15550100001'], topic: 'y' }), 400, 'VALIDATION_ERROR', ['body']);
    expectError(await srv.api('POST', `${base}/groups/${group.id}/participants/add`, { participants: [] }), 400, 'VALIDATION_ERROR', ['body.participants']);
    assert.equal((await groups()).length, 1, 'no group was created');
  });

  it('a participant not on WhatsApp is a 502 ENGINE_ERROR naming it, and nothing is created or added', async () => {
    const before = await groups();
    const res = await srv.api('POST', `${base}/groups`, { name: 'Ghosts', participants: ['15550100001', '15559999999'] });
    expectError(res, 502, 'ENGINE_ERROR');
    assert.match(res.body.error.message, /15559999999@c\.us/);
    assert.deepEqual(await groups(), before, 'no group was created');
    const [group] = before;
    assert.ok(group);
    const add = await srv.api('POST', `${base}/groups/${group.id}/participants/add`, { participants: ['15550100005', '15559999998'] });
    expectError(add, 502, 'ENGINE_ERROR');
    assert.match(add.body.error.message, /15559999998@c\.us/);
    assert.deepEqual(await groups(), before, 'nobody was added, not even the one on WhatsApp');
  });

  it('contacts and groups need the session ready (409 SESSION_NOT_READY) and known (404 SESSION_NOT_FOUND)', async () => {
    const group = '15550100001-1600000000@g.us';
    const calls: [string, string, unknown?][] = [
      ['GET', '/contacts/15550100001/exists'],
      ['GET', '/contacts/15550100001'],
      ['GET', '/groups'],
      ['POST', '/groups', { name: 'x', participants: ['15550100001'] }],
      ['GET', `/groups/${group}`],
      ['POST', `/groups/${group}/participants/add`, { participants: ['15550100001'] }],
      ['GET', `/groups/${group}/invite-code`],
    ];
    for (const [method, tail, body] of calls) {
      const res = await srv.api(method, `/api/v1/sessions/unlinked${tail}`, body);
      expectError(res, 409, 'SESSION_NOT_READY');
      assert.deepEqual(res.body.error.details, { status: 'qr_ready' }, `${method} ${tail}`);
      expectError(await srv.api(method, `/api/v1/sessions/nobody-here${tail}`, body), 404, 'SESSION_NOT_FOUND');
    }
  });
});
