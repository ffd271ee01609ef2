import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { ROOT } from '../helpers/env.js';

const run = promisify(execFile);

/** The README's bash blocks that talk to a running server, as a reader would paste them. */
function curlSnippets(): string[][] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks
    .map((block) =>
      block
        .replace(/\\\n\s*/g, ' ')
        .split('\n')
        .map((line) => line.replace(/\s+#.*$/, '').trim())
        .filter((line) => line.startsWith('curl ')),
    )
    .filter((commands) => commands.length > 0);
}

describe('the README, pasted in order', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.stop();
  });

  it('has curl snippets to paste', () => {
    assert.ok(curlSnippets().length > 0);
  });

  it('every curl snippet succeeds against a sandbox server, one block after another', async () => {
    const host = new URL(srv.url).host;
    for (const commands of curlSnippets()) {
      for (const command of commands) {
        const line = command.replace(/localhost:8080/g, host);
        // Asynchronous: the server answering these runs in this very process.
        const { stdout: out } = await run('bash', ['-c', line.replace(/^curl /, 'curl -sS --max-time 30 ')], { encoding: 'utf8' });
        const body = JSON.parse(out) as { success: boolean; error?: { message: string } };
        assert.equal(body.success, true, `${command}\n→ ${out}`);
      }
    }
  });
});
