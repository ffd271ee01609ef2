/** Fixed times and ids for the store tests: `n` orders them. */
const EPOCH = Date.UTC(2026, 0, 1);

/** ISO-8601 UTC, `n` seconds after the fixed epoch. */
export function iso(n: number): string {
  return new Date(EPOCH + n * 1000).toISOString();
}

/** An event id that sorts by `n` (`evt_` + 26 characters, as a ULID has). */
export function evt(n: number): string {
  return `evt_${String(n).padStart(26, '0')}`;
}

export function dlv(n: number): string {
  return `dlv_${String(n).padStart(26, '0')}`;
}

export interface TestEnvelope {
  id: string;
  timestamp: string;
  event: string;
  session: string | null;
  engine: string;
  me: null;
  payload: Record<string, unknown>;
}

export function envelope(n: number, session: string | null, event = 'message'): TestEnvelope {
  return { id: evt(n), timestamp: iso(n), event, session, engine: 'sandbox', me: null, payload: { n, text: `héllo ${String(n)} ✓` } };
}
