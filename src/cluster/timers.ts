/**
 * The clock and timers of the cluster's loops, injectable so unit tests drive time by hand. `now()`
 * is LOCAL monotonic time (never the wall clock, which can jump): it only measures how long ago this
 * node sent something. Lease expiry itself is always the database's clock.
 */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    // The server's lifetime is decided by its shutdown, not by a renew timer.
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
