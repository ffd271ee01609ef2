import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { OutboxEntry } from '../../src/engines/types.js';
import type { MessageResource } from '../../src/sessions/resource.js';
import type { ApiResponse, TestServer } from './http.js';

/** What the send endpoints answer. */
export interface Sent {
  messageId: string | null;
  chatId: string;
  timestamp: string;
}

/** A sandbox session whose phone scans the first QR by itself, once it is ready. */
export async function readySandbox(srv: TestServer, id: string): Promise<void> {
  const created = await srv.api('POST', '/api/v1/sessions', { sessionId: id, config: { engine: 'sandbox', sandbox: { autoScan: true } } });
  assert.equal(created.status, 201, created.text);
  await srv.manager.waitFor(id, (s) => s.status === 'ready', 15_000);
}

/** A sandbox session showing its QR code (nobody scans it). */
export async function qrSandbox(srv: TestServer, id: string): Promise<void> {
  const created = await srv.api('POST', '/api/v1/sessions', { sessionId: id, config: { engine: 'sandbox' } });
  assert.equal(created.status, 201, created.text);
  await srv.manager.waitFor(id, (s) => s.status === 'qr_ready', 15_000);
}

export async function outbox(srv: TestServer, id: string): Promise<OutboxEntry[]> {
  const res = await srv.api<OutboxEntry[]>('GET', `/api/v1/sessions/${id}/sandbox/outbox`);
  assert.equal(res.status, 200, res.text);
  return res.body.data;
}

/** The session's history, once every event published so far is stored. */
export async function history(srv: TestServer, id: string): Promise<MessageResource[]> {
  await srv.bus.idle();
  const res = await srv.api<MessageResource[]>('GET', `/api/v1/sessions/${id}/messages?limit=1000`);
  assert.equal(res.status, 200, res.text);
  return res.body.data;
}

/** The files waiting in sessions/<id>/outgoing/ (none when the folder is not there). */
export async function outgoingFiles(srv: TestServer, id: string): Promise<string[]> {
  try {
    return await readdir(path.join(srv.dir, id, 'outgoing'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** An error answer with this status and code; `paths` are the `details` paths it must name (validation errors). */
export function expectError(res: ApiResponse<unknown>, status: number, code: string, paths: string[] = []): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body.success, false, res.text);
  assert.equal(res.body.error.code, code, res.text);
  assert.ok(res.body.error.message.length > 10, `a message a person can act on: ${res.text}`);
  if (paths.length === 0) return;
  const details = res.body.error.details;
  assert.ok(Array.isArray(details), `details is a list: ${res.text}`);
  const named = (details as { path: string }[]).map((d) => d.path);
  for (const p of paths) assert.ok(named.includes(p), `details name ${p}: ${res.text}`);
}

/** A successful send's answer, checked for its shape. */
export function expectSent(res: ApiResponse<Sent>, chatId: string, withId = true): Sent {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.success, true);
  const sent = res.body.data;
  assert.deepEqual(Object.keys(sent).sort(), ['chatId', 'messageId', 'timestamp']);
  assert.equal(sent.chatId, chatId);
  assert.ok(!Number.isNaN(Date.parse(sent.timestamp)), `timestamp is a time: ${sent.timestamp}`);
  if (withId) assert.match(sent.messageId ?? '', new RegExp(`^true_${chatId.replace(/[.]/g, '\\.')}_[0-9A-F]+$`));
  else assert.equal(sent.messageId, null);
  return sent;
}
