import { mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { EngineContext } from '../types.js';
import type { Relay } from '../../proxy/relay.js';
import type { NormalizedProxy } from '../../proxy/parse.js';
import { routeNodeTraffic, type AxiosLike, type NodeRoute } from '../../proxy/node-agent.js';
import { createConfig } from './options.js';
import { sessionUserAgent, stopOpenWaUserAgentOverride } from './user-agent.js';

/** sessions/<id>/session-data/tmp: the browser's TMPDIR (its singleton socket, shared memory files). */
export function browserTmpDir(sessionDataDir: string): string {
  return path.join(sessionDataDir, 'tmp');
}

/** Where the browser's crashpad handlers keep their (never uploaded) database: inside tmp. */
export function crashDumpDir(sessionDataDir: string): string {
  return path.join(browserTmpDir(sessionDataDir), 'crash-reports');
}

/**
 * Everything a session's browser launch needs, ready for open-wa's create(): the user agent
 * (the session's, or the launched browser's own without "Headless"), open-wa's own user-agent
 * override switched off, and a fresh temporary folder (crash database included) inside the
 * session's folder. Throws with a sentence if the browser's version cannot be read.
 */
export async function prepareLaunch(ctx: EngineContext, executablePath: string, relay?: Pick<Relay, 'url' | 'login'>): Promise<Record<string, unknown>> {
  const userAgent = await sessionUserAgent(ctx.config, executablePath);
  const tmpDir = browserTmpDir(ctx.sessionDataDir);
  const crashDir = crashDumpDir(ctx.sessionDataDir);
  // What a browser that was killed left there (its singleton socket folder) goes now.
  await rm(tmpDir, { recursive: true, force: true, maxRetries: 3 });
  await mkdir(crashDir, { recursive: true, mode: 0o700 });
  stopOpenWaUserAgentOverride();
  return createConfig(ctx, executablePath, relay, { userAgent, tmpDir, crashDir });
}

/**
 * The axios instances open-wa's Node side uses: its own (patch download, sendFileFromUrl and
 * every other URL it fetches, utils/tools.js getBufferFromUrl) and @open-wa/wa-decrypt's, a
 * separate axios 0.x (media decryption downloads the encrypted file). Resolved from the packages
 * themselves, so each is the copy they load.
 */
export function openWaAxios(): AxiosLike[] {
  // Each package's own require: wa-decrypt as open-wa finds it, axios as each of them finds it.
  const fromOpenWa = createRequire(createRequire(import.meta.url).resolve('@open-wa/wa-automate'));
  const fromDecrypt = createRequire(fromOpenWa.resolve('@open-wa/wa-decrypt'));
  const instances: AxiosLike[] = [];
  for (const load of [fromOpenWa, fromDecrypt]) {
    const axios = load('axios') as AxiosLike & { default?: AxiosLike };
    const instance = axios.default ?? axios;
    if (!instances.includes(instance)) instances.push(instance);
  }
  return instances;
}

/**
 * Sends open-wa's Node-side requests (and any other HTTP(S) of this worker) through the session's
 * upstream proxy, as the browser's go through the relay. Call once the relay runs, before create().
 */
export function routeOpenWaTraffic(upstream: NormalizedProxy): NodeRoute {
  return routeNodeTraffic(upstream, openWaAxios());
}
