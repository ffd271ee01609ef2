import { lstat, mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
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

/** The longest path a Unix socket can be bound at: sockaddr_un's sun_path (108 bytes on Linux) less its NUL. */
const SOCKET_PATH_MAX = 107;
/** What Chromium appends to TMPDIR for its singleton socket (process_singleton_posix.cc). */
const SINGLETON_TAIL = '/.org.chromium.Chromium.XXXXXX/SingletonSocket'.length;
/** In session-data: names the short link of the last launch, removed at the next one (or at stop). */
const LINK_NOTE = 'tmp-link';
const LINK_DIR = /^wa-tmp-[A-Za-z0-9]{6}$/;

/** Removes the short link a launch of this session made (named in its note), if any. */
export async function releaseTmpLink(sessionDataDir: string): Promise<void> {
  const note = path.join(sessionDataDir, LINK_NOTE);
  let dir: string;
  try {
    dir = (await readFile(note, 'utf8')).trim();
  } catch {
    return;
  }
  // Only what this code makes: a private folder of the temp dir holding one symbolic link.
  if (path.dirname(dir) === os.tmpdir() && LINK_DIR.test(path.basename(dir))) {
    await unlink(path.join(dir, 't')).catch(() => undefined);
    await rmdir(dir).catch(() => undefined);
  }
  await rm(note, { force: true });
}

/**
 * Removes the short links of sessions whose folder is gone (a worker killed with SIGKILL, then its
 * session deleted: nothing was left to release its link). Only what this code makes, and only
 * links that lead nowhere: a running session's link leads to its folder.
 */
async function sweepDanglingLinks(): Promise<void> {
  let names: string[];
  try {
    names = await readdir(os.tmpdir());
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names.filter((n) => LINK_DIR.test(n))) {
    const dir = path.join(os.tmpdir(), name);
    const link = path.join(dir, 't');
    const ours = await lstat(dir).then((s) => s.isDirectory() && s.uid === uid, () => false);
    const isLink = ours && (await lstat(link).then((s) => s.isSymbolicLink(), () => false));
    if (!isLink) continue;
    const leadsNowhere = await stat(link).then(() => false, (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
    if (!leadsNowhere) continue;
    await unlink(link).catch(() => undefined);
    await rmdir(dir).catch(() => undefined);
  }
}

/**
 * TMPDIR as the browser is given it. Chromium binds its singleton socket in a folder of TMPDIR and
 * aborts ("Socket path too long") when that path passes 107 bytes, which the session's own tmp
 * folder does with a long sessions folder or session id. Then the browser gets a short way to the
 * same folder: a symbolic link in a private folder (mkdtemp) of the system's temp dir. The files
 * stay in the session's folder either way; the link goes at the next launch or at stop.
 */
export async function browserTmpEnv(sessionDataDir: string): Promise<string> {
  await releaseTmpLink(sessionDataDir);
  await sweepDanglingLinks();
  const tmp = browserTmpDir(sessionDataDir);
  if (tmp.length + SINGLETON_TAIL <= SOCKET_PATH_MAX) return tmp;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wa-tmp-'));
  const link = path.join(dir, 't');
  if (link.length + SINGLETON_TAIL > SOCKET_PATH_MAX) {
    await rmdir(dir);
    throw new Error(
      `the browser's temporary folder ${tmp} is too long for its socket (${String(tmp.length + SINGLETON_TAIL)} bytes, at most ${String(SOCKET_PATH_MAX)}), and so is the system's temp dir ${os.tmpdir()}: use a shorter --sessions-dir or TMPDIR`,
    );
  }
  await symlink(tmp, link);
  await writeFile(path.join(sessionDataDir, LINK_NOTE), dir, { mode: 0o600 });
  return link;
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
  return createConfig(ctx, executablePath, relay, { userAgent, tmpDir: await browserTmpEnv(ctx.sessionDataDir), crashDir });
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
