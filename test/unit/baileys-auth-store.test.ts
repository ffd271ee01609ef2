import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BufferJSON, initAuthCreds, proto, type AuthenticationCreds, type KeyPair } from '@whiskeysockets/baileys';
import { AuthStore, CREDS_FILE, forgetUnfinishedPairing, isLinked, keyFileName } from '../../src/engines/baileys/auth-store.js';
import type { EngineLog } from '../../src/engines/types.js';
import { tempDir } from '../helpers/env.js';

function recorder(): { lines: EngineLog[]; log: (level: EngineLog['level'], message: string) => void } {
  const lines: EngineLog[] = [];
  return { lines, log: (level, message) => lines.push({ level, message }) };
}

const keyPair = (seed: number): KeyPair => ({ public: Buffer.alloc(32, seed), private: Buffer.alloc(32, seed + 1) });

/** A linked device's creds, as Baileys has them after a scan (Utils/validate-connection.js configureSuccessfulPairing). */
function linkedCreds(): AuthenticationCreds {
  const creds = initAuthCreds();
  creds.me = { id: '1234567890:7@s.whatsapp.net', name: 'Alice' };
  creds.account = { details: Buffer.from('details'), accountSignatureKey: Buffer.alloc(32, 3), accountSignature: Buffer.alloc(64, 4), deviceSignature: Buffer.alloc(64, 5) };
  return creds;
}

describe('the baileys login store (session-data/baileys)', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let n = 0;
  const folder = (): string => path.join(tmp.dir, `s${String((n += 1))}`, 'session-data', 'baileys');

  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp.cleanup();
  });

  it('with nothing saved: a new identity that is not linked; its creds written read back byte for byte, files 0600 in a 0700 folder, no temp file left', async () => {
    const dir = folder();
    const first = await AuthStore.open(dir, recorder().log);
    assert.equal(first.linked, false);
    assert.equal(first.creds.me, undefined);
    first.creds.me = { id: '1234567890:7@s.whatsapp.net' };
    first.creds.account = linkedCreds().account;
    await first.store.saveCreds(first.creds);
    await first.store.close();

    const again = await AuthStore.open(dir, recorder().log);
    assert.equal(again.linked, true);
    assert.deepEqual(again.creds.noiseKey, first.creds.noiseKey);
    assert.ok(Buffer.isBuffer(again.creds.signedIdentityKey.private));
    assert.equal(again.creds.registrationId, first.creds.registrationId);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(dir, CREDS_FILE))).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), [CREDS_FILE]);
  });

  it('keys: what is set is got back (an app-state key as the protobuf object Baileys expects), null removes it, a missing one is absent', async () => {
    const { store } = await AuthStore.open(folder(), recorder().log);
    const appKey = { keyData: Buffer.alloc(32, 9), fingerprint: { rawId: 1, currentIndex: 2, deviceIndexes: [0, 1] }, timestamp: 1700000000 };
    await store.keys.set({
      'pre-key': { '1': keyPair(1), '2': keyPair(2) },
      session: { '1234567890.0': Buffer.from('session bytes') },
      'app-state-sync-key': { AAAAAKhN: appKey },
    });
    const preKeys = await store.keys.get('pre-key', ['1', '2', '3']);
    assert.deepEqual(Object.keys(preKeys).sort(), ['1', '2']);
    assert.deepEqual(preKeys['2'], keyPair(2));
    assert.deepEqual((await store.keys.get('session', ['1234567890.0']))['1234567890.0'], Buffer.from('session bytes'));
    const app = (await store.keys.get('app-state-sync-key', ['AAAAAKhN'])).AAAAAKhN;
    assert.ok(app instanceof proto.Message.AppStateSyncKeyData);
    assert.deepEqual(Buffer.from(app.keyData ?? []), appKey.keyData);

    await store.keys.set({ 'pre-key': { '1': null } });
    assert.deepEqual(Object.keys(await store.keys.get('pre-key', ['1', '2'])), ['2']);
    assert.ok(!(await readdir(store.dir)).includes(keyFileName('pre-key', '1')));
  });

  it('writes to one key land in the order they were asked, even unawaited, and a read sees the last write asked before it', async () => {
    const { store } = await AuthStore.open(folder(), recorder().log);
    const values = [Buffer.from('one'), Buffer.from('two'), null, Buffer.from('four')];
    // Not awaited one by one: Baileys fires its writes and moves on.
    const sets = values.map((peer) => Promise.resolve(store.keys.set({ session: { peer } })));
    const read = store.keys.get('session', ['peer']);
    assert.deepEqual((await read).peer, Buffer.from('four'));
    await Promise.all(sets);
    const onDisk = JSON.parse(await readFile(path.join(store.dir, keyFileName('session', 'peer')), 'utf8'), BufferJSON.reviver) as Buffer;
    assert.deepEqual(onDisk, Buffer.from('four'));
    assert.ok((await readdir(store.dir)).every((name) => !name.endsWith('.tmp')), 'no temp file left');
  });

  it('creds saved many times at once end with the latest state written', async () => {
    const { store, creds } = await AuthStore.open(folder(), recorder().log);
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 20; i += 1) {
      creds.nextPreKeyId = i;
      saves.push(store.saveCreds(creds));
    }
    await Promise.all(saves);
    const saved = JSON.parse(await readFile(path.join(store.dir, CREDS_FILE), 'utf8'), BufferJSON.reviver) as AuthenticationCreds;
    assert.equal(saved.nextPreKeyId, 20);
  });

  it('an id naming another folder stays a file inside the login folder', async () => {
    const dir = folder();
    const { store } = await AuthStore.open(dir, recorder().log);
    await store.keys.set({ session: { '../../escape': Buffer.from('x'), '..': Buffer.from('y'), 'a/b': Buffer.from('z') } });
    const names = await readdir(dir);
    assert.equal(names.length, 3);
    assert.ok(names.every((name) => !name.includes('/')));
    assert.deepEqual(await readdir(path.dirname(dir)), ['baileys'], 'nothing was written beside the folder');
    assert.deepEqual((await store.keys.get('session', ['../../escape']))['../../escape'], Buffer.from('x'));
  });

  it('a torn or unreadable key file is taken as absent, said in the log, and never throws', async () => {
    const log = recorder();
    const { store } = await AuthStore.open(folder(), log.log);
    await store.keys.set({ session: { good: Buffer.from('ok') } });
    await writeFile(path.join(store.dir, keyFileName('session', 'torn')), '{"type":"Buffer","da');
    const got = await store.keys.get('session', ['good', 'torn']);
    assert.deepEqual(Object.keys(got), ['good']);
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.message.includes(keyFileName('session', 'torn')) && /unreadable.*taken as absent/.test(l.message)));
  });

  it('unreadable creds.json: a new identity (a new QR scan), said in the log, and the old identity\'s keys removed', async () => {
    const dir = folder();
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, CREDS_FILE), '{"noiseKey":{"private":{"type":"Buf');
    await writeFile(path.join(dir, keyFileName('session', 'old')), JSON.stringify(Buffer.from('old'), BufferJSON.replacer));
    const log = recorder();
    const opened = await AuthStore.open(dir, log.log);
    assert.equal(opened.linked, false);
    assert.ok(Buffer.isBuffer(opened.creds.noiseKey.private), 'a fresh identity');
    assert.ok(log.lines.some((l) => l.level === 'warn' && /creds\.json\) is unreadable .*a new QR scan is needed/.test(l.message)), JSON.stringify(log.lines));
    assert.deepEqual(await readdir(dir), [], "the old identity's files are gone");

    const incomplete = folder();
    await mkdir(incomplete, { recursive: true });
    await writeFile(path.join(incomplete, CREDS_FILE), JSON.stringify({ me: { id: '1@s.whatsapp.net' } }));
    const log2 = recorder();
    assert.equal((await AuthStore.open(incomplete, log2.log)).linked, false);
    assert.ok(log2.lines.some((l) => /incomplete; a new QR scan is needed/.test(l.message)));
  });

  it('a pairing code asked for but never entered is forgotten on open, so the next connection shows a QR code instead of failing as logged out', async () => {
    const creds = initAuthCreds();
    // What Baileys' requestPairingCode leaves (Socket/socket.js): `me` set, the device not linked.
    creds.me = { id: '1234567890@s.whatsapp.net', name: '~' };
    creds.pairingCode = 'ABCD2345';
    assert.equal(isLinked(creds), false);
    const dir = folder();
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, CREDS_FILE), JSON.stringify(creds, BufferJSON.replacer));
    const log = recorder();
    const opened = await AuthStore.open(dir, log.log);
    assert.equal(opened.creds.me, undefined);
    assert.equal(opened.creds.pairingCode, undefined);
    assert.ok(log.lines.some((l) => /pairing code .* never entered/.test(l.message)));

    const linked = linkedCreds();
    assert.equal(forgetUnfinishedPairing(linked), false);
    assert.equal(linked.me?.id, '1234567890:7@s.whatsapp.net', "a linked device's account stays");
  });

  it('close(): the writes asked before it land; nothing asked after it is written', async () => {
    const { store } = await AuthStore.open(folder(), recorder().log);
    const before = store.keys.set({ 'sender-key': { 'group::alice::0': Buffer.from('kept') } });
    await store.close();
    await before;
    await store.keys.set({ 'sender-key': { late: Buffer.from('dropped') } });
    const names = await readdir(store.dir);
    assert.ok(names.includes(keyFileName('sender-key', 'group::alice::0')));
    assert.ok(!names.includes(keyFileName('sender-key', 'late')));
  });
});
