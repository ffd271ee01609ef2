export interface BackoffOptions {
  /** The wait after the first failed attempt (default 2 s); it doubles with each attempt. */
  baseMs: number;
  /** The longest wait (default 5 min). */
  maxMs: number;
  /** ± this fraction of the wait, at random (default 0.2): receivers that failed together do not retry together. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 2_000, maxMs: 5 * 60_000, jitter: 0.2 };

/** How long to wait after `attempts` failed attempts: about 2 s, 4 s, 8 s … never more than the cap. */
export function backoffMs(attempts: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempts - 1);
  // 2^exponent overflows nothing below 2^1023; past ~30 doublings the cap rules anyway.
  const plain = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(exponent, 40));
  const factor = 1 + opts.jitter * (2 * random() - 1);
  return Math.max(0, Math.min(opts.maxMs, Math.round(plain * factor)));
}
