/** A call that did not answer in time: whatever it was doing may still happen. */
export class CallTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${String(ms / 1000)} s`);
    this.name = 'CallTimeout';
  }
}

/**
 * `p`, or a CallTimeout once `ms` have passed (open-wa's page calls have no deadline of their own).
 * `said`: the deadline the error names, when `ms` is what is left of a longer one.
 */
export function within<T>(p: Promise<T>, ms: number, what: string, said = ms): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CallTimeout(what, said)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * One operation's deadline, shared by the open-wa calls it makes one after the other (a group
 * read after a change), so the whole answers well inside the server's request timeout.
 */
export class Budget {
  readonly #ms: number;
  readonly #end: number;

  constructor(ms: number) {
    this.#ms = ms;
    this.#end = Date.now() + ms;
  }

  /** Starts `run` only while time is left, and waits for it no longer than what is left. */
  call<T>(what: string, run: () => Promise<T>): Promise<T> {
    const left = this.#end - Date.now();
    if (left <= 0) return Promise.reject(new CallTimeout(what, this.#ms));
    return within(run(), left, what, this.#ms);
  }
}
