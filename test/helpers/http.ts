import { startServer, type RunningServer, type StartOptions } from '../../src/cli/server.js';
import { parseConfig } from '../../src/cli/options.js';
import { captureLogger, tempDir } from './env.js';

export interface TestServer extends RunningServer {
  dir: string;
  logs(): string;
  api<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  stop(): Promise<void>;
}

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: { success: boolean; data: T; message?: string; error: { code: string; message: string; details?: unknown } };
  text: string;
}

/** A real server on 127.0.0.1 and a random port, in a temporary sessions folder. */
export async function startTestServer(args: string[] = [], opts: StartOptions & { dir?: string } = {}): Promise<TestServer> {
  const tmp = opts.dir ? { dir: opts.dir, cleanup: () => Promise.resolve() } : await tempDir();
  const capture = captureLogger();
  // Limits off unless a test sets them: most tests send faster than a person would.
  const defaults = ['--host', '127.0.0.1', '--port', '0', '--engine', 'sandbox', '--sessions-dir', tmp.dir, '--rate-limit', '0', '--send-rate-limit', '0'];
  const config = parseConfig([...defaults, ...args], '0.0.0-test');
  const server = await startServer(config, { logger: capture.logger, ...opts });
  const api = async <T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${server.url}${path}`, init);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    return { status: res.status, headers: res.headers, body: parsed as ApiResponse<T>['body'], text };
  };
  return {
    ...server,
    dir: tmp.dir,
    logs: capture.output,
    api,
    stop: async () => {
      await server.close();
      await tmp.cleanup();
    },
  };
}
