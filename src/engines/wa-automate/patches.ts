/**
 * open-wa downloads its "live patch" at every login, after the session is valid
 * (controllers/initializer.js: `getPatch` is started whether or not skipPatches is set, and awaited
 * unless it is): first from its package's `patches` URL, then, on any error, from GitHub
 * (controllers/patch_manager.js getPatch). The download runs inside `new Promise(async …)`, so when
 * both fail the error is an unhandled rejection and create() never settles: without this, the
 * worker would die of it, or hang. The worker hands such rejections to the engine, which reports
 * this one as a retryable failure.
 */
export const PATCH_URLS = ['https://cdn.openwa.dev/patches.json', 'https://raw.githubusercontent.com/open-wa/wa-automate-nodejs/master/patches.json'];

interface AxiosLike {
  message?: unknown;
  code?: unknown;
  config?: { url?: unknown };
  response?: { status?: unknown };
}

/** The session's failure reason if `err` is open-wa's patch download failing, else null. */
export function describePatchFailure(err: unknown): string | null {
  if (typeof err !== 'object' || err === null) return null;
  const { message, code, config, response } = err as AxiosLike;
  const url = config?.url;
  if (typeof url !== 'string' || !/\/patches\.json(?:\?|$)/.test(url)) return null;
  const status = typeof response?.status === 'number' ? `HTTP ${String(response.status)}` : null;
  const said = typeof message === 'string' && message ? message : typeof code === 'string' && code ? code : 'no answer';
  const detail = status ?? said;
  return `could not download open-wa's patches from ${PATCH_URLS.join(' or ')}: ${detail} (open-wa needs them at every login: is the machine online, and its proxy reachable?)`;
}
