import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { appError, next, useSandboxFolder } from '../helpers/sandbox-engine.js';
import type { SandboxEngine } from '../../src/engines/sandbox.js';

const ADA = '15550100001@c.us';
const BOB = '15550100002@c.us';
const CAROL = '15550100003@c.us';
const STRANGER = '4915112345678@c.us';

describe('sandbox engine: contacts and groups', () => {
  const t = useSandboxFolder();

  /** A ready engine and the account it linked as. */
  async function linked(phoneNumber?: string): Promise<{ e: SandboxEngine; id: string }> {
    const e = await t.folder.showingQr();
    const ready = next(e, 'status', (s) => s.status === 'ready');
    const code = phoneNumber === undefined ? undefined : (await e.requestPairingCode(phoneNumber)).code;
    await e.scan(code);
    mock.timers.tick(400);
    return { e, id: (await ready).me?.id ?? '' };
  }

  it('knows the address book 15550100001…15550100009, one of them a business, and no one else', async () => {
    const { e } = await linked();
    for (let n = 1; n <= 9; n += 1) {
      assert.deepEqual(await e.checkNumber(`1555010000${String(n)}`), { exists: true, chatId: `1555010000${String(n)}@c.us` });
    }
    assert.deepEqual(await e.getContact(ADA), { id: ADA, name: 'Sandbox Contact 1', pushname: 'Sandbox Contact 1', isBusiness: false });
    assert.deepEqual(await e.getContact('15550100009@c.us'), { id: '15550100009@c.us', name: 'Sandbox Shop', pushname: 'Sandbox Shop', isBusiness: true });
    assert.deepEqual(await e.checkNumber(STRANGER), { exists: false, chatId: STRANGER });
    assert.deepEqual(await e.checkNumber('15550100010'), { exists: false, chatId: '15550100010@c.us' });
    await assert.rejects(e.getContact(STRANGER), appError('NOT_FOUND'));
  });

  it('knows its own account', async () => {
    const { e, id } = await linked();
    assert.deepEqual(await e.checkNumber(id), { exists: true, chatId: id });
    assert.deepEqual(await e.getContact(id), { id, name: 'Sandbox Phone', pushname: 'Sandbox Phone', isBusiness: false });
  });

  it('knows a number once it wrote to the session, also after a restart', async () => {
    const { e } = await linked();
    assert.equal((await e.checkNumber(STRANGER)).exists, false);
    await e.incoming({ from: STRANGER, content: 'hello' });
    assert.deepEqual(await e.checkNumber(STRANGER), { exists: true, chatId: STRANGER });
    assert.deepEqual(await e.getContact(STRANGER), { id: STRANGER, name: null, pushname: null, isBusiness: false });
    await e.stop();
    const again = await t.folder.restored();
    assert.deepEqual(await again.checkNumber(STRANGER), { exists: true, chatId: STRANGER });
  });

  it('refuses a contact id that is no person, naming params.contactId', async () => {
    const { e } = await linked();
    await assert.rejects(e.checkNumber('123456789-1612345678@g.us'), appError('VALIDATION_ERROR', ['params.contactId']));
    await assert.rejects(e.getContact('bob'), appError('VALIDATION_ERROR', ['params.contactId']));
  });

  it('creates a group named by this account and the time, this account its admin, the others members', async () => {
    const { e, id } = await linked();
    const group = await e.createGroup({ name: ' Team ', participants: [ADA, '15550100002', ADA] });
    assert.match(group.id, new RegExp(`^${id.slice(0, -5)}-\\d{10}@g\\.us$`));
    assert.equal(group.name, 'Team');
    assert.deepEqual(group.participants, [
      { id, isAdmin: true },
      { id: ADA, isAdmin: false },
      { id: BOB, isAdmin: false },
    ]);
    assert.ok(group.createdAt && !Number.isNaN(Date.parse(group.createdAt)));
    const second = await e.createGroup({ name: 'Other', participants: [CAROL] });
    assert.notEqual(second.id, group.id);
    assert.deepEqual(await e.listGroups(), [group, second]);
    assert.deepEqual(await e.getGroup(group.id), group);
  });

  it('creates no group when a participant is not on WhatsApp', async () => {
    const { e } = await linked();
    await assert.rejects(e.createGroup({ name: 'Team', participants: [ADA, STRANGER] }), (err: unknown) =>
      appError('ENGINE_ERROR')(err) && (err as Error).message.includes(`${STRANGER} is not on WhatsApp`),
    );
    assert.deepEqual(await e.listGroups(), []);
  });

  it('refuses a group without a name or without anyone else', async () => {
    const { e, id } = await linked();
    await assert.rejects(e.createGroup({ name: '  ', participants: [ADA] }), appError('VALIDATION_ERROR', ['body.name']));
    await assert.rejects(e.createGroup({ name: 'Solo', participants: [id] }), appError('VALIDATION_ERROR', ['body.participants']));
    await assert.rejects(e.createGroup({ name: 'Bad', participants: [ADA, 'bob'] }), appError('VALIDATION_ERROR', ['body.participants.1']));
    assert.deepEqual(await e.listGroups(), []);
  });

  it('adds and removes participants; adding a member or removing a non-member changes nothing', async () => {
    const { e, id } = await linked();
    const group = await e.createGroup({ name: 'Team', participants: [ADA] });
    const added = await e.changeParticipants({ groupId: group.id, action: 'add', participants: [BOB, ADA] });
    assert.deepEqual(added.participants.map((p) => p.id), [id, ADA, BOB]);
    const removed = await e.changeParticipants({ groupId: group.id, action: 'remove', participants: [ADA, CAROL] });
    assert.deepEqual(removed.participants, [{ id, isAdmin: true }, { id: BOB, isAdmin: false }]);
    assert.deepEqual(await e.getGroup(group.id), removed);
  });

  it('adds nobody when one of them is not on WhatsApp, and never removes this account', async () => {
    const { e, id } = await linked();
    const group = await e.createGroup({ name: 'Team', participants: [ADA] });
    await assert.rejects(e.changeParticipants({ groupId: group.id, action: 'add', participants: [BOB, STRANGER] }), appError('ENGINE_ERROR'));
    await assert.rejects(e.changeParticipants({ groupId: group.id, action: 'remove', participants: [ADA, id] }), appError('VALIDATION_ERROR', ['body.participants.1']));
    assert.deepEqual(await e.getGroup(group.id), group);
  });

  it('gives a stable invite link per group, kept across restarts', async () => {
    const { e } = await linked();
    const group = await e.createGroup({ name: 'Team', participants: [ADA] });
    const other = await e.createGroup({ name: 'Other', participants: [ADA] });
    const invite = await e.groupInviteCode(group.id);
    assert.match(invite.code, /^[A-Za-z0-9]{22}$/);
    assert.equal(invite.url, `https://chat.whatsapp.com/${invite.code}`);
    assert.deepEqual(await e.groupInviteCode(group.id), invite);
    assert.notEqual((await e.groupInviteCode(other.id)).code, invite.code);
    await e.stop();
    const again = await t.folder.restored();
    assert.deepEqual(await again.groupInviteCode(group.id), invite);
    assert.deepEqual(await again.listGroups(), [group, other]);
  });

  it('answers NOT_FOUND for a group that does not exist', async () => {
    const { e } = await linked();
    const missing = '15550100001-1600000000@g.us';
    await assert.rejects(e.getGroup(missing), appError('NOT_FOUND'));
    await assert.rejects(e.changeParticipants({ groupId: missing, action: 'add', participants: [ADA] }), appError('NOT_FOUND'));
    await assert.rejects(e.groupInviteCode(missing), appError('NOT_FOUND'));
  });

  it('lets only an admin change participants or give the invite link', async () => {
    // Linked as one number, the account makes a group with Bob; then Bob's phone links to the t.folder.
    const first = await linked('4930123456');
    const group = await first.e.createGroup({ name: 'Team', participants: [BOB] });
    await first.e.logout();
    await first.e.stop();

    const bob = await linked('15550100002');
    assert.equal(bob.id, BOB);
    assert.deepEqual(await bob.e.listGroups(), [group]);
    await assert.rejects(bob.e.changeParticipants({ groupId: group.id, action: 'add', participants: [ADA] }), (err: unknown) =>
      appError('ENGINE_ERROR')(err) && /only a group admin/.test((err as Error).message),
    );
    await assert.rejects(bob.e.groupInviteCode(group.id), appError('ENGINE_ERROR'));
    assert.deepEqual(await bob.e.getGroup(group.id), group);
    // The account linked before is on the simulated WhatsApp too.
    assert.deepEqual(await bob.e.checkNumber('4930123456'), { exists: true, chatId: '4930123456@c.us' });
  });

  it('sees only the groups its account is in', async () => {
    const first = await linked('4930123456');
    await first.e.createGroup({ name: 'Team', participants: [BOB] });
    await first.e.logout();
    await first.e.stop();
    const carol = await linked('15550100003');
    assert.deepEqual(await carol.e.listGroups(), []);
  });

  it('refuses contacts and groups before the session is ready', async () => {
    const e = await t.folder.showingQr();
    const attempts = [
      e.checkNumber(ADA),
      e.getContact(ADA),
      e.listGroups(),
      e.createGroup({ name: 'Team', participants: [ADA] }),
      e.getGroup('15550100001-1600000000@g.us'),
      e.changeParticipants({ groupId: '15550100001-1600000000@g.us', action: 'add', participants: [ADA] }),
      e.groupInviteCode('15550100001-1600000000@g.us'),
    ];
    for (const attempt of attempts) await assert.rejects(attempt, appError('SESSION_NOT_READY'));
  });
});
