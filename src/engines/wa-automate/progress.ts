/**
 * A start-up deadline that counts from the last sign of progress, not from its start: a large
 * account's first sync may take many minutes, and is never cut while it moves.
 *
 * Progress is what open-wa reports on its `STARTUP.<id>` events (its launch steps) and on
 * `internal_launch_progress.<id>` (WhatsApp Web's own loading bar, `{value, text}`, from the
 * `ProgressBarEvent` it exposes to the page in controllers/browser.js). Only something new
 * counts: a step never seen before (digits ignored, so "trying again... 3" after "... 2" is the
 * same step) or a higher value of the bar. So the deadline can move a bounded number of times,
 * and a loop of the same steps cannot keep a stuck session alive.
 */
export class ProgressDeadline {
  readonly #ms: number;
  readonly #onExpire: (last: string | null) => void;
  readonly #seen = new Set<string>();
  #bar = -1;
  #barText = '';
  #last: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  /** `ms` 0: no deadline (progress is still recorded, for the reason of a later failure). */
  constructor(ms: number, onExpire: (last: string | null) => void) {
    this.#ms = ms;
    this.#onExpire = onExpire;
    this.#arm();
  }

  /** The last step seen, for a failure's reason. */
  get last(): string | null {
    return this.#last;
  }

  step(text: string): void {
    const key = text.replace(/\d+/g, '#').replace(/\s+/g, ' ').trim();
    if (!key || this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#last = text.trim();
    this.#arm();
  }

  /** WhatsApp Web's loading bar: progress when it rises or says something new. */
  bar(value: number | null, text: string): void {
    const rose = value !== null && value > this.#bar;
    if (!rose && text === this.#barText) return;
    if (rose) this.#bar = value;
    this.#barText = text;
    this.#last = `${value === null ? '' : `${String(value)}% `}${text}`.trim();
    this.#arm();
  }

  stop(): void {
    this.#done = true;
    clearTimeout(this.#timer);
  }

  #arm(): void {
    if (this.#done || this.#ms <= 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#done = true;
      this.#onExpire(this.#last);
    }, this.#ms);
  }
}
