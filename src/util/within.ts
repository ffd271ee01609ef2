/**
 * Whether `promise` settles (either way) before `ms` pass and before `signal` aborts, each only
 * when given; the timer and the listener go as soon as one of them happens.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number | undefined, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: () => void = () => undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  const ended = new Promise<boolean>((resolve) => {
    if (ms !== undefined) timer = setTimeout(() => resolve(false), ms);
    onAbort = () => resolve(false);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([settled, ended]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
