import { decodeTime } from 'ulid';
import type { Envelope } from '../events/envelope.js';

/**
 * Where a resumed stream's replay of the event log meets the live bus, without a gap or a
 * duplicate. The stream subscribes to the bus BEFORE it reads the log, and the live envelopes wait
 * here meanwhile. An event stored before the subscription is in the log; one handed out after it is
 * here; one in both (stored while the log was being read) is sent once. Both sources come in id
 * order (the bus stores and hands out one event at a time, in the order of its ids), so a merge
 * keeps the stream in id order too: a `session.log` line (never stored) that came in between two
 * replayed events goes out between them, and the client's Last-Event-ID never moves backwards.
 */
export class ReplaySeam {
  readonly #emit: (envelope: Envelope) => void;
  readonly #maxBytes: number;
  readonly #overflow: (bytes: number) => void;
  #waiting: { envelope: Envelope; bytes: number }[] = [];
  /** The first entry of #waiting not sent yet (shift() would copy the array each time). */
  #head = 0;
  #bytes = 0;
  #live = false;
  #overflowed = false;
  readonly #lateMs: number;
  /** Cluster mode: recent replayed ids, whose live copy may still come after the replay ended. */
  readonly #recent = new Set<string>();

  /**
   * @param emit sends one envelope to the client
   * @param maxBytes how much may wait here (JSON bytes) before `overflow` is called, once: a replay
   *   slower than the live traffic would otherwise hold it all in memory
   */
  constructor(emit: (envelope: Envelope) => void, maxBytes: number, overflow: (bytes: number) => void, lateMs = 0) {
    this.#lateMs = lateMs;
    this.#emit = emit;
    this.#maxBytes = maxBytes;
    this.#overflow = overflow;
  }

  /** An envelope from the bus: sent at once when live, else kept until the replay reaches it. */
  live(envelope: Envelope): void {
    if (this.#live) {
      if (this.#recent.delete(envelope.id)) return;
      this.#emit(envelope);
      return;
    }
    if (this.#overflowed) return;
    const bytes = Buffer.byteLength(JSON.stringify(envelope));
    this.#waiting.push({ envelope, bytes });
    this.#bytes += bytes;
    if (this.#bytes > this.#maxBytes) {
      this.#overflowed = true;
      this.#waiting = [];
      this.#head = 0;
      this.#overflow(this.#bytes);
    }
  }

  /** An envelope read from the log (in id order): live ones before it go first, its live copy never. */
  replayed(envelope: Envelope): void {
    if (this.#lateMs > 0 && isRecent(envelope.id, this.#lateMs)) this.#recent.add(envelope.id);
    this.#sendWaitingBelow(envelope.id);
    this.#emit(envelope);
  }

  /** The replay is done: what waited goes out, and from now on every live envelope at once. */
  goLive(): void {
    this.#sendWaitingBelow(undefined);
    this.#live = true;
  }

  /** How many bytes wait (for tests and the overflow message). */
  get waitingBytes(): number {
    return this.#bytes;
  }

  // Sends the waiting envelopes with an id below `id` (all when undefined) and drops the one equal
  // to it, which the replay is about to send.
  #sendWaitingBelow(id: string | undefined): void {
    while (this.#head < this.#waiting.length) {
      const head = this.#waiting[this.#head];
      if (!head || (id !== undefined && head.envelope.id > id)) break;
      this.#head += 1;
      this.#bytes -= head.bytes;
      if (head.envelope.id !== id) this.#emit(head.envelope);
    }
    if (this.#head === this.#waiting.length) {
      this.#waiting = [];
      this.#head = 0;
    }
  }
}

function isRecent(id: string, withinMs: number): boolean {
  try {
    return decodeTime(id.slice(id.indexOf('_') + 1)) >= Date.now() - withinMs;
  } catch {
    return false;
  }
}
