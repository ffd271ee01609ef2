import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SandboxEngine } from '../../src/engines/sandbox.js';
import type { EngineContext, NumberStatus } from '../../src/engines/types.js';
import { resolveConfig } from '../../src/sessions/config.js';
import { WorkerRuntime } from '../../src/worker/runtime.js';
import type { WorkerMessage } from '../../src/worker/protocol.js';
import { tempDir } from '../helpers/env.js';

/** A sandbox engine whose checkNumber answers only when the test lets it (or never). */
class GatedEngine extends SandboxEngine {
  release: (() => void) | undefined;
  override checkNumber(contactId: string): Promise<NumberStatus> {
    return new Promise((resolve) => {
      this.release = () => resolve({ chatId: contactId, exists: true });
    });
  }
}

describe('the worker runtime', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(() => tmp.cleanup());

  function runtime(settleMs: number): { rt: WorkerRuntime; answers: string[]; engine: () => GatedEngine } {
    const answers: string[] = [];
    let made: GatedEngine | undefined;
    const rt = new WorkerRuntime({
      settleMs,
      send: (m: WorkerMessage) => {
        if (m.kind === 'response') answers.push(`${String(m.id)}:${m.ok ? 'ok' : m.error.code}`);
      },
      createEngine: (_name, ctx: EngineContext) => {
        made = new GatedEngine(ctx);
        return Promise.resolve(made);
      },
    });
    return {
      rt,
      answers,
      engine: () => {
        assert.ok(made);
        return made;
      },
    };
  }

  async function started(rt: WorkerRuntime): Promise<void> {
    await rt.handle({
      kind: 'request',
      id: 1,
      op: 'start',
      params: {
        sessionId: 'w1',
        engine: 'sandbox',
        config: resolveConfig('sandbox', {}, { engine: 'sandbox', useChrome: false, executablePath: undefined }),
        sessionDataDir: path.join(tmp.dir, 'session-data'),
        mediaDir: path.join(tmp.dir, 'media'),
      },
    });
  }

  it('answers a stop only after the operations still running have answered', async () => {
    const { rt, answers, engine } = runtime(10_000);
    await started(rt);
    const check = rt.handle({ kind: 'request', id: 2, op: 'checkNumber', params: { contactId: '15550001111@c.us' } });
    const stop = rt.handle({ kind: 'request', id: 3, op: 'stop', params: null });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(answers, ['1:ok'], 'the stop waits for the check');
    engine().release?.();
    await Promise.all([check, stop]);
    assert.deepEqual(answers, ['1:ok', '2:ok', '3:ok']);
  });

  it('answers a stop after settleMs even if an operation never answers', async () => {
    const { rt, answers } = runtime(100);
    await started(rt);
    void rt.handle({ kind: 'request', id: 2, op: 'checkNumber', params: { contactId: '15550001111@c.us' } });
    await rt.handle({ kind: 'request', id: 3, op: 'stop', params: null });
    assert.deepEqual(answers, ['1:ok', '3:ok']);
  });
});
