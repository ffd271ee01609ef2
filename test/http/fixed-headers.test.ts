import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import { fixedHeaders, UI_CSP } from '../../src/http/security.js';

/** The server's own helmet configurations (src/http/security.ts), built afresh here. */
const CONFIGS: Record<string, Parameters<typeof helmet>[0]> = {
  api: { contentSecurityPolicy: { useDefaults: false, directives: UI_CSP }, crossOriginResourcePolicy: { policy: 'same-site' } },
  docs: { contentSecurityPolicy: { useDefaults: false, directives: { ...UI_CSP, styleSrc: ["'self'", "'unsafe-inline'"] } } },
};

function headersOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (name !== 'date') out[name] = value;
  });
  return out;
}

describe('security headers worked out once (fixedHeaders)', () => {
  let server: Server;
  let base: string;

  before(async () => {
    const app = express();
    app.set('x-powered-by', true);
    for (const [name, config] of Object.entries(CONFIGS)) {
      const live = helmet(config);
      const fixed = fixedHeaders(live);
      const answer: RequestHandler = (_req, res) => void res.json({ ok: true });
      app.get(`/${name}/helmet`, live, answer);
      app.get(`/${name}/fixed`, fixed, answer);
    }
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  for (const name of Object.keys(CONFIGS)) {
    it(`gives exactly helmet's headers for the ${name} configuration, request after request`, async () => {
      const live = headersOf(await fetch(`${base}/${name}/helmet`));
      assert.match(live['content-security-policy'] ?? '', /script-src 'self'/);
      assert.equal(live['x-powered-by'], undefined, 'helmet removes X-Powered-By');
      for (let i = 0; i < 3; i++) assert.deepEqual(headersOf(await fetch(`${base}/${name}/fixed`)), live);
    });
  }

  it('is a replay, not helmet itself, for the server configurations', () => {
    for (const config of Object.values(CONFIGS)) {
      const live = helmet(config);
      assert.notEqual(fixedHeaders(live), live);
    }
  });

  it('keeps a middleware as it is when its headers depend on the request or response', () => {
    const perRequest = helmet({ contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'self'"], scriptSrc: ["'self'", (_req, res) => `'nonce-${String((res as unknown as { locals: { nonce: string } }).locals.nonce)}'`] } } });
    assert.equal(fixedHeaders(perRequest), perRequest);
    const readsRequest: RequestHandler = (req, res, next) => {
      res.setHeader('X-Path', req.path);
      next();
    };
    assert.equal(fixedHeaders(readsRequest), readsRequest);
    const later: RequestHandler = (_req, res, next) => {
      setImmediate(() => {
        res.setHeader('X-Later', '1');
        next();
      });
    };
    assert.equal(fixedHeaders(later), later);
    const refuses: RequestHandler = (_req, _res, next) => next(new Error('no'));
    assert.equal(fixedHeaders(refuses), refuses);
  });
});
