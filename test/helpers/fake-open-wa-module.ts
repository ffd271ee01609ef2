import { EventEmitter } from 'node:events';

/**
 * Loaded in place of @open-wa/wa-automate in a real worker process (fake-open-wa-preload.ts).
 * Its create() does what open-wa 4.76.0 does once a login is valid and both addresses of its live
 * patch fail (controllers/patch_manager.js getPatch: the download runs in `new Promise(async …)`):
 * the download's error is a rejection nobody handles, and create() never settles.
 */
export const ev = new EventEmitter();

export const PATCH_URL = 'https://raw.githubusercontent.com/open-wa/wa-automate-nodejs/master/patches.json';

export function create(config: { sessionId: string }): Promise<never> {
  const emit = (namespace: string, data: unknown): void => {
    ev.emit(`${namespace}.${config.sessionId}`, data, config.sessionId, namespace);
  };
  emit('STARTUP', 'Authenticated');
  emit('STARTUP', 'Downloading patches from https://cdn.openwa.dev/patches.json');
  emit('STARTUP', 'Downloading patches. Retrying.');
  setTimeout(() => {
    const err = Object.assign(new Error('getaddrinfo ENOTFOUND raw.githubusercontent.com'), {
      isAxiosError: true,
      code: 'ENOTFOUND',
      config: { url: `${PATCH_URL}?v=${String(Date.now())}` },
    });
    // What the async executor's rejection is: nobody's.
    void Promise.reject(err);
  }, 50);
  return new Promise<never>(() => undefined);
}
