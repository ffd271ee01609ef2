import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baileysLogger } from '../../src/engines/baileys/logger.js';
import type { EngineLog } from '../../src/engines/types.js';

function capture(verbose: boolean): { lines: EngineLog[]; logger: ReturnType<typeof baileysLogger> } {
  const lines: EngineLog[] = [];
  return { lines, logger: baileysLogger((level, message) => lines.push({ level, message }), verbose) };
}

describe("Baileys' logger into the session's log (logger.ts)", () => {
  it('quiet by default: its info and debug lines are dropped, its warnings kept at debug, its errors at warn with the error said', () => {
    const { lines, logger } = capture(false);
    logger.info({ node: { tag: 'iq' } }, 'connected to WA');
    logger.debug('frame');
    logger.trace({ xml: '<iq/>' }, 'xml send');
    logger.warn('keep alive called when WS not open');
    logger.error({ err: new Error('Connection Closed') }, "unexpected error in 'init queries'");
    assert.deepEqual(lines, [
      { level: 'debug', message: 'baileys: keep alive called when WS not open' },
      { level: 'warn', message: "baileys: unexpected error in 'init queries': Connection Closed" },
    ]);
    assert.equal(logger.level, 'warn', 'Baileys builds no XML dumps for a logger that is not at trace or debug');
    assert.equal(logger.child({ class: 'x' }), logger);
  });

  it('never writes out the objects Baileys logs (message nodes, keys, the account): only its message and an error\'s first line', () => {
    const { lines, logger } = capture(true);
    logger.info({ me: { id: '1234567890:7@s.whatsapp.net' }, creds: { noiseKey: 'SECRET-KEY' } }, 'pairing configured successfully');
    logger.error({ trace: 'Error: Stream Errored (conflict)\n    at end (socket.js:1:1)', node: { attrs: { secret: 'SECRET-NODE' } } }, 'stream errored out');
    logger.info({ unhandled: true });
    assert.deepEqual(lines, [
      { level: 'debug', message: 'baileys: pairing configured successfully' },
      { level: 'warn', message: 'baileys: stream errored out: Error: Stream Errored (conflict)' },
    ]);
    assert.ok(lines.every((l) => !/SECRET|1234567890/.test(l.message)));
  });
});
