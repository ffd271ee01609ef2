/**
 * The simulated phone's pending steps (a restore, a load, acks, the QR's rotation and timeout).
 * A logout cancels them all; after close() (the engine stopped) none is run and no new one starts.
 * The QR's rotation has a slot of its own, so a scan ends it without touching the rest.
 */
export class SandboxTimers {
  readonly #pending = new Set<NodeJS.Timeout>();
  #qr: NodeJS.Timeout | undefined;
  #closed = false;

  later(ms: number, fn: () => void): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#pending.delete(timer);
      if (!this.#closed) fn();
    }, ms);
    this.#pending.add(timer);
  }

  /** The next QR in `ms`, in place of one still waiting. */
  rotateQr(ms: number, fn: () => void): void {
    this.stopQr();
    if (this.#closed) return;
    this.#qr = setTimeout(() => {
      this.#qr = undefined;
      fn();
    }, ms);
  }

  stopQr(): void {
    if (this.#qr) clearTimeout(this.#qr);
    this.#qr = undefined;
  }

  clear(): void {
    this.stopQr();
    for (const timer of this.#pending) clearTimeout(timer);
    this.#pending.clear();
  }

  close(): void {
    this.#closed = true;
    this.clear();
  }
}
