import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { buildOpenApiDocument } from '../../src/http/openapi.js';
import { operationIdOf, route, type RouteDef } from '../../src/http/route.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { ROOT, tempDir } from '../helpers/env.js';

const KEY = 'openapi-test-key-0123';

interface Operation {
  operationId?: string;
  requestBody?: { required?: boolean; content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<string, { description: string; headers?: Record<string, unknown> }>;
}
interface Doc {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties?: Record<string, Record<string, unknown>>; required?: string[] }> };
}

async function documentOf(srv: TestServer): Promise<Doc> {
  return (await (await fetch(`${srv.url}/api-docs.json`)).json()) as Doc;
}

function operations(doc: Doc): [string, Operation][] {
  return Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${p}`, op]));
}

const REDOCLY = path.join(ROOT, 'node_modules', '.bin', 'redocly');

/** Redocly's `recommended` rules over the document as served; its totals. */
async function redoclyLint(t: TestContext, doc: Doc): Promise<{ errors: number; rules: string[]; output: string } | undefined> {
  try {
    await access(REDOCLY);
  } catch {
    if (process.env.CI) throw new Error(`CI needs ${REDOCLY} (a devDependency: npm ci installs it)`);
    t.skip(`no ${REDOCLY}: run npm install`);
    return undefined;
  }
  const tmp = await tempDir('ms-openapi-');
  try {
    const file = path.join(tmp.dir, 'openapi.json');
    await writeFile(file, JSON.stringify(doc));
    // In the temp folder, so no redocly.yaml of anyone's applies: the default `recommended` set.
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
    const run = await promisify(execFile)(REDOCLY, ['lint', file, '--format=json'], { cwd: tmp.dir, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }).catch(
      (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
    );
    const report = JSON.parse(run.stdout) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] };
    const output = report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`).join('\n');
    return { errors: report.totals.errors, rules: [...new Set(report.problems.map((p) => p.ruleId))], output };
  } finally {
    await tmp.cleanup();
  }
}

describe('the OpenAPI document', () => {
  let plain: TestServer;
  let guarded: TestServer;
  let doc: Doc;
  let guardedDoc: Doc;

  before(async () => {
    plain = await startTestServer(['--webhook-host', 'wa.example.com']);
    guarded = await startTestServer(['--api-key', KEY, '--rate-limit', '1000', '--send-rate-limit', '60']);
    doc = await documentOf(plain);
    guardedDoc = await documentOf(guarded);
  });
  after(async () => {
    await plain.stop();
    await guarded.stop();
  });

  it('passes Redocly’s recommended rules with no error, with and without --api-key and limits', async (t) => {
    for (const d of [doc, guardedDoc]) {
      const lint = await redoclyLint(t, d);
      if (!lint) return;
      assert.equal(lint.errors, 0, lint.output);
      // What is left: routes that cannot answer a 4xx (/health, the docs, /info without a key) say so.
      assert.deepEqual(lint.rules.filter((rule) => rule !== 'operation-4xx-response'), [], lint.output);
    }
  });

  it('writes no `nullable` (an OpenAPI 3.0 word) and lets PATCH send null to remove a key', () => {
    assert.match(doc.openapi, /^3\.1\./);
    assert.doesNotMatch(JSON.stringify(doc), /"nullable"/);
    const proxy = doc.components.schemas.SessionConfigPatch?.properties?.proxyServerCredentials as { anyOf?: unknown[] } | undefined;
    assert.deepEqual(proxy?.anyOf, [{ $ref: '#/components/schemas/ProxyServerCredentials' }, { type: 'null' }]);
  });

  it('gives every operation a unique camelCase operationId', () => {
    const ids = operations(doc).map(([, op]) => op.operationId);
    for (const id of ids) assert.match(String(id), /^[a-z][A-Za-z0-9]*$/);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(doc.paths['/api/v1/sessions/{id}/send-text']?.post?.operationId, 'sendText');
    assert.equal(doc.paths['/api/v1/events']?.get?.operationId, 'streamEvents');
  });

  it('marks a request body required exactly when an empty one is refused', async () => {
    const required = operations(doc)
      .filter(([, op]) => op.requestBody?.required)
      .map(([name]) => name)
      .sort();
    assert.deepEqual(required, [
      'PATCH /api/v1/sessions/{id}',
      'POST /api/v1/proxy/test',
      'POST /api/v1/sessions/{id}/auth/request-code',
      'POST /api/v1/sessions/{id}/groups',
      'POST /api/v1/sessions/{id}/groups/{groupId}/participants/add',
      'POST /api/v1/sessions/{id}/groups/{groupId}/participants/remove',
      'POST /api/v1/sessions/{id}/presence',
      'POST /api/v1/sessions/{id}/sandbox/incoming',
      'POST /api/v1/sessions/{id}/send-contact',
      'POST /api/v1/sessions/{id}/send-file',
      'POST /api/v1/sessions/{id}/send-image',
      'POST /api/v1/sessions/{id}/send-location',
      'POST /api/v1/sessions/{id}/send-reaction',
      'POST /api/v1/sessions/{id}/send-seen',
      'POST /api/v1/sessions/{id}/send-text',
      'POST /api/v1/sessions/{id}/send-video',
      'POST /api/v1/sessions/{id}/send-voice',
    ]);
    // The sandbox's scan takes a pairing code, or nothing.
    assert.equal(doc.paths['/api/v1/sessions/{id}/sandbox/scan']?.post?.requestBody?.required, false);
    // The others take an empty body, as a request without one reads.
    assert.equal(doc.paths['/api/v1/sessions']?.post?.requestBody?.required, false);
    assert.equal((await plain.api('POST', '/api/v1/sessions', undefined)).status, 201);
  });

  it('names the relative server "/", so "Try it out" calls the host the page came from', () => {
    assert.deepEqual(doc.servers.map((s) => s.url), ['/']);
  });

  it('documents 400 on the event streams, which refuse an unknown query', async () => {
    assert.ok(doc.paths['/api/v1/events']?.get?.responses['400']);
    assert.ok(doc.paths['/api/v1/sessions/{id}/events']?.get?.responses['400']);
    const res = await plain.api('GET', '/api/v1/events?nope=1');
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'VALIDATION_ERROR');
  });

  it('documents 429 wherever a limit applies, event streams and /info included, and the headers that come with it', () => {
    for (const [name, op] of operations(guardedDoc)) {
      const limited = name.includes(' /api/v1') || name.endsWith(' /info') || name.endsWith(' /metrics');
      assert.equal(Boolean(op.responses['429']), limited, name);
      if (limited) assert.ok(op.responses['429']?.headers?.['Retry-After'], name);
    }
    // Without limits only the session's own send queue answers 429 (SEND_LIMITED), never RATE_LIMITED.
    for (const [name, op] of operations(doc)) {
      const description = String((op.responses['429'] as { description?: string } | undefined)?.description ?? '');
      assert.doesNotMatch(description, /RATE_LIMITED/, name);
      if (op.responses['429']) assert.match(description, /SEND_LIMITED/, name);
    }
  });

  it('documents 401 exactly where the key is asked for, and only with --api-key', () => {
    for (const [name, op] of operations(guardedDoc)) assert.equal(Boolean(op.responses['401']), name.includes(' /api/v1') || name.endsWith(' /info') || name.endsWith(' /metrics'), name);
    assert.deepEqual(operations(doc).filter(([, op]) => op.responses['401']).map(([name]) => name), [], 'no key, no 401');
  });

  it('documents the WWW-Authenticate header of a 401, and the server sends it', async () => {
    const documented = guardedDoc.paths['/api/v1/sessions']?.get?.responses['401']?.headers?.['WWW-Authenticate'] as { description: string } | undefined;
    assert.match(documented?.description ?? '', /Bearer realm=/);
    for (const path of ['/api/v1/sessions', '/api/v1/events', '/info']) {
      const res = await guarded.api('GET', path, undefined, { 'x-api-key': 'wrong-key-0000' });
      assert.equal(res.status, 401, path);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="[^"]+", ApiKey /, path);
    }
  });

  it('says in the schema what the server enforces: base64 data, a non-empty chatId', async () => {
    const image = doc.components.schemas.SendImageRequest?.properties;
    const pattern = new RegExp(String(image?.data?.pattern));
    assert.ok(pattern.test('data:image/png;base64,iVBORw0KGgo='));
    assert.ok(pattern.test('iVBORw0K\nGgo='));
    assert.ok(!pattern.test('data:text/plain,hello'));
    assert.ok(!pattern.test('not base64!!'));
    assert.equal(doc.components.schemas.SendFileRequest?.properties?.data?.pattern, image?.data?.pattern);
    assert.equal(image?.chatId?.minLength, 1);
    // What the pattern refuses, the server refuses with the same field named.
    const res = await plain.api('POST', '/api/v1/sessions/none/send-file', { chatId: '1234567890@c.us', data: 'data:text/plain,hello', filename: 'a.txt' });
    assert.equal(res.status, 400);
    assert.deepEqual((res.body.error.details as { path: string }[]).map((d) => d.path), ['body.data']);
  });
});

describe('the document from a route table', () => {
  const opts = { title: 't', version: '1', apiKey: false, rateLimited: false, sendRateLimited: false };
  const def = (over: Partial<RouteDef>): RouteDef =>
    route({ method: 'get', path: '/api/v1/things/:id/sub-part', summary: 's', tags: ['T'], success: { status: 200, description: 'ok' }, errors: [], handler: () => ({ data: null }), ...over });

  it('derives a camelCase operationId from method and path unless the route names one', () => {
    assert.equal(operationIdOf(def({})), 'getThingsByIdSubPart');
    assert.equal(operationIdOf(def({ method: 'post', path: '/api-docs.json' })), 'postApiDocsJson');
    assert.equal(operationIdOf(def({ operationId: 'named' })), 'named');
  });

  it('refuses two routes with one operationId', () => {
    assert.throws(() => buildOpenApiDocument([def({}), def({ method: 'post', operationId: 'getThingsByIdSubPart' })], opts), /two routes have the operationId getThingsByIdSubPart/);
  });

  it('documents a route’s other answers, such as a 503 with its own body', () => {
    const doc = buildOpenApiDocument([def({ alsoAnswers: [{ status: 503, description: 'a check failed', schema: z.object({ status: z.literal('error') }) }] })], opts) as unknown as Doc;
    const responses = doc.paths['/api/v1/things/{id}/sub-part']?.get?.responses;
    assert.equal(responses?.['503']?.description, 'a check failed; or DATABASE_UNAVAILABLE', 'with the errors of that status any /api/v1 route can answer');
    const outside = buildOpenApiDocument([def({ path: '/health', alsoAnswers: [{ status: 503, description: 'a check failed', schema: z.object({ status: z.literal('error') }) }] })], opts) as unknown as Doc;
    assert.equal(outside.paths['/health']?.get?.responses?.['503']?.description, 'a check failed');
  });
});
