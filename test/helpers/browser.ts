import { execFileSync } from 'node:child_process';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { findBrowser } from '../../src/engines/wa-automate/browser.js';

/**
 * Real-browser tests need Debian's Chromium. On a workstation without it they are skipped with a
 * reason; under CI=true a missing browser is a failure (.ci/run installs it).
 */
export function requireChromium(t: TestContext): string | undefined {
  const found = findBrowser({ executablePath: undefined, useChrome: false });
  if (found.found) return found.path;
  if (process.env.CI) throw new Error(`CI needs Chromium for the real-browser tests: ${found.reason}`);
  t.skip(`no Chromium on this machine (${found.reason})`);
  return undefined;
}

/** Live (not zombie) browser processes whose command line names this profile directory. */
export function browserPids(profileFragment: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, stat, ...args]) => stat !== undefined && !stat.startsWith('Z') && args.join(' ').includes(profileFragment) && /chrom/.test(args[0] ?? ''))
    .map(([pid]) => Number(pid));
}

/** The browser's own (main) process: the one without --type=. */
export function mainBrowserPid(profileFragment: string): number | undefined {
  const out = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  const line = out
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.includes(profileFragment) && !l.includes('--type=') && /chrom/.test(l.split(/\s+/)[2] ?? '') && !/^\d+\s+Z/.test(l));
  return line ? Number(line.split(/\s+/)[0]) : undefined;
}

export async function waitFor<T>(probe: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * An HTTP proxy that accepts every connection and never answers: a browser behind it stays
 * "navigating" for as long as the test needs its processes alive. It records what it was asked.
 */
export async function hangingProxy(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (chunk) => requests.push(chunk.toString('latin1').split('\r\n')[0] ?? ''));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
