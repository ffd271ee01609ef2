import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionResources } from '../../src/sessions/resource.js';
import { waitForAsync } from '../helpers/env.js';
import { startTestServer, type TestServer } from '../helpers/http.js';

const until = <T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> => waitForAsync(probe, ms, what);

describe("a running session's processes, sampled from /proc", () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const srv of servers) await srv.stop();
  });

  it('shows in the session, in /info and in /metrics, and is null once the session stops', async () => {
    const srv = await startTestServer([], { resourceIntervalMs: 100 });
    servers.push(srv);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'r1', config: { sandbox: { autoScan: true } } });
    await srv.manager.waitFor('r1', (s) => s.status === 'ready', 15_000);
    const resources = await until('a sample', async () => {
      const res = await srv.api<{ resources: SessionResources | null }>('GET', '/api/v1/sessions/r1');
      return res.body.data.resources ?? undefined;
    });
    assert.ok(resources.processes >= 1);
    assert.ok(resources.rssBytes > 10 * 1024 * 1024, 'a Node worker has more than 10 MiB resident');
    assert.ok(resources.pssBytes > 0 && resources.pssBytes <= resources.rssBytes);
    const info = (await (await fetch(`${srv.url}/info`)).json()) as { resources: { total: { sessions: number; pssBytes: number }; sessions: Record<string, SessionResources> } };
    assert.equal(info.resources.total.sessions, 1);
    assert.ok(info.resources.sessions.r1);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(metrics, /^wa_session_memory_bytes\{session="r1",process="worker",kind="pss"\} [1-9]/m);
    await srv.api('POST', '/api/v1/sessions/r1/stop');
    const stopped = await srv.api<{ resources: SessionResources | null }>('GET', '/api/v1/sessions/r1');
    assert.equal(stopped.body.data.resources, null);
  });

  // The restart itself, and that the login survives it, are proven in test/process/memory-cap.test.ts.
  it('--max-memory-mb is every session\'s cap: a session over it for 3 samples in a row is restarted, and says why', async () => {
    const srv = await startTestServer(['--max-memory-mb', '1'], { resourceIntervalMs: 100 });
    servers.push(srv);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'cap', config: { sandbox: { autoScan: true } } });
    const error = await until('the restart for memory', async () => {
      const events = await srv.repos.events.after(undefined, { session: 'cap', limit: 1000 });
      const failed = events.find((e) => e.event === 'session.status' && /maxMemoryMB 1\b/.test(String((e.payload as { error?: string }).error)));
      return failed ? String((failed.payload as { error: string }).error) : undefined;
    });
    assert.match(error, /restarted: its processes used \d+ MiB \(PSS\) for 3 samples in a row, over maxMemoryMB 1/);
    const session = await srv.api<{ restarts: number; status: string }>('GET', '/api/v1/sessions/cap');
    assert.ok(session.body.data.restarts >= 1);
    assert.notEqual(session.body.data.status, 'stopped', 'a memory restart starts it again');
  });
});
