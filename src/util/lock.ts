/** A FIFO mutex: operations queued on one lock run one after another, never interleaved. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(() => fn());
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
