import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { OUTBOX_TYPES, type OutboxEntry, type OutboxType, type SentAnswer, type SentMessage, type SentQuery } from './types.js';

/** What the sandbox session did, one JSON line each in session-data/, the last OUTBOX_KEPT kept. */
export const SANDBOX_OUTBOX_FILE = 'sandbox-outbox.jsonl';
export const OUTBOX_KEPT = 1000;

type KindFields = Omit<OutboxEntry, 'messageId' | 'chatId' | 'type' | 'timestamp' | 'ack'>;

/** Every field that belongs to one kind only: null on the entries of every other kind. */
const NO_KIND_FIELDS: KindFields = {
  content: null,
  caption: null,
  filename: null,
  mimetype: null,
  size: null,
  quotedMessageId: null,
  latitude: null,
  longitude: null,
  title: null,
  address: null,
  contactId: null,
  vcard: null,
  reaction: null,
  targetMessageId: null,
  state: null,
  ref: null,
};
const KIND_FIELD_NAMES = Object.keys(NO_KIND_FIELDS) as (keyof KindFields)[];

/** What a send records: its kind's fields, the others left out (an `undefined` option is left out too). */
export type OutboxRecord = { messageId: string | null; chatId: string; type: OutboxType } & {
  [K in keyof KindFields]?: KindFields[K] | undefined;
};

/** What the send answered: a reaction is no message of its own, so its id is not given out. */
export function answerOf(entry: OutboxEntry): SentMessage {
  return { messageId: entry.type === 'reaction' ? null : entry.messageId, chatId: entry.chatId, timestamp: entry.timestamp };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A stored line as an entry; lines written before a field existed get it as null. */
function fromLine(raw: unknown): OutboxEntry | null {
  if (!isRecord(raw) || typeof raw.chatId !== 'string' || typeof raw.timestamp !== 'string') return null;
  if (!(OUTBOX_TYPES as readonly unknown[]).includes(raw.type)) return null;
  const entry: OutboxEntry = {
    ...NO_KIND_FIELDS,
    messageId: typeof raw.messageId === 'string' ? raw.messageId : null,
    chatId: raw.chatId,
    type: raw.type as OutboxType,
    timestamp: raw.timestamp,
    ack: typeof raw.ack === 'number' ? raw.ack : 0,
  };
  const fields = entry as unknown as Record<string, unknown>;
  for (const name of KIND_FIELD_NAMES) fields[name] = raw[name] ?? null;
  return entry;
}

export class SandboxOutbox {
  readonly #file: string;
  #entries: OutboxEntry[] = [];
  /** The file may end in a line cut short: rewritten from the entries before anything is appended. */
  #damaged = false;

  constructor(sessionDataDir: string) {
    this.#file = path.join(sessionDataDir, SANDBOX_OUTBOX_FILE);
  }

  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch {
      return;
    }
    const entries: OutboxEntry[] = [];
    let damaged = false;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const entry = fromLine(JSON.parse(line));
        if (entry) entries.push(entry);
        else damaged = true;
      } catch {
        // A line cut short by a crash: the ones before it are still good.
        damaged = true;
      }
    }
    this.#entries = entries.slice(-OUTBOX_KEPT);
    // A line cut short must go before anything is appended: the next entry would join it and be lost.
    if (damaged || entries.length > OUTBOX_KEPT || (text.length > 0 && !text.endsWith('\n'))) await this.#rewrite();
  }

  #rewrite(): Promise<void> {
    return writeFileAtomic(this.#file, this.#entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }

  /** Oldest first, copies. */
  list(): OutboxEntry[] {
    return this.#entries.map((entry) => ({ ...entry }));
  }

  /**
   * Writes the entry to disk before it counts as sent: what findSent() finds after a crash is
   * exactly what was answered as sent (a line cut short by the crash was never answered).
   */
  async append(record: OutboxRecord): Promise<OutboxEntry> {
    const entry: OutboxEntry = { ...NO_KIND_FIELDS, messageId: record.messageId, chatId: record.chatId, type: record.type, timestamp: new Date().toISOString(), ack: 0 };
    const fields = entry as unknown as Record<string, unknown>;
    for (const name of KIND_FIELD_NAMES) fields[name] = record[name] ?? null;
    if (this.#damaged) {
      await this.#rewrite();
      this.#damaged = false;
    }
    try {
      await appendFile(this.#file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    } catch (err) {
      // Part of the line may be on disk (a full disk): it goes before the next entry is appended.
      this.#damaged = true;
      throw err;
    }
    this.#entries.push(entry);
    if (this.#entries.length > OUTBOX_KEPT) this.#entries.splice(0, this.#entries.length - OUTBOX_KEPT);
    return entry;
  }

  /**
   * The send that carried this ref. A ref is a queued job's id, unique, so it alone decides; the
   * chat and the start time are not needed. Only when entries old enough to be it may have been
   * dropped (the outbox is full and starts after `since`) is the answer unknown.
   */
  find(query: SentQuery): SentAnswer {
    for (let i = this.#entries.length - 1; i >= 0; i -= 1) {
      const entry = this.#entries[i];
      if (entry?.ref === query.ref) return { found: answerOf(entry) };
    }
    const oldest = this.#entries[0];
    if (this.#entries.length >= OUTBOX_KEPT && oldest && Date.parse(oldest.timestamp) > Date.parse(query.since)) {
      return { unknown: `the sandbox keeps its last ${String(OUTBOX_KEPT)} sends and older ones, from before ${oldest.timestamp}, are gone` };
    }
    return { found: null };
  }
}
