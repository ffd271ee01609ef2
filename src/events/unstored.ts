import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventLog } from '../store/events.js';
import { writeFileAtomicSync } from '../util/atomic-write.js';
import type { EventBus, Journal } from './bus.js';
import { EVENT_ID_PATTERN, type Envelope } from './envelope.js';

/**
 * Events the server accepted but could not store before it stopped (the database could not be
 * written, or was too slow for the shutdown's deadline): written to a file in the sessions folder,
 * one envelope per line, and stored at the next start before anything else, with the ids they
 * had. A cluster node has a file of its own.
 */
export function unstoredFile(sessionsDir: string, nodeId?: string): string {
  const suffix = nodeId === undefined ? '' : `-${nodeId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  return path.join(sessionsDir, `.unstored-events${suffix}.jsonl`);
}

/**
 * Writes `envelopes` to `file` (synchronously: this runs as the process ends, or between two
 * attempts to store), whole or not at all, replacing what it held; no events removes it. Throws
 * when it cannot.
 */
function writeUnstored(file: string, envelopes: readonly Envelope[]): void {
  if (envelopes.length === 0) rmSync(file, { force: true });
  else writeFileAtomicSync(file, lines(envelopes));
}

/**
 * Hands every event the bus holds over to `file`; returns how many. Replaces any earlier file:
 * the events it held that are not stored yet are still on the bus, so in the new one too.
 */
export function keepUnstored(bus: EventBus, file: string, logger: Logger): number {
  const envelopes = bus.keep();
  if (envelopes.length === 0) return 0;
  try {
    writeUnstored(file, envelopes);
    logger.warn(`${String(envelopes.length)} event(s) the database did not take in time kept in ${file}: they are stored at the next start`);
    return envelopes.length;
  } catch (err) {
    logger.error(`${String(envelopes.length)} event(s) the database did not take are lost: they could not be written to ${file} either (${describeError(err)})`);
    return 0;
  }
}

/**
 * The bus's journal (BusOptions.journal): while the database cannot be written, the events that
 * wait are in `file` too, appended as they come (each line flushed to disk), so that a kill -9
 * then loses only the events of the moment it struck; the next start stores them
 * (restoreUnstored). After a write that failed (a full disk may leave half a line), the file is
 * written anew, whole. Says once per outage if even that file cannot be written.
 */
export function unstoredJournal(file: string, logger: Logger): Journal {
  let broken = false;
  let said = false;
  const attempt = (write: () => void): void => {
    try {
      write();
      broken = false;
      said = false;
    } catch (err) {
      broken = true;
      if (!said) logger.error(`the events waiting for the database could not be kept in ${file} too (${describeError(err)}): a kill -9 now would lose them`);
      said = true;
    }
  };
  return {
    append: (fresh, all) =>
      attempt(() => {
        if (broken) writeUnstored(file, all);
        else appendLines(file, fresh);
      }),
    clear: () => attempt(() => rmSync(file, { force: true })),
  };
}

function appendLines(file: string, envelopes: readonly Envelope[]): void {
  const fd = openSync(file, 'a', 0o600);
  try {
    writeFileSync(fd, lines(envelopes));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function lines(envelopes: readonly Envelope[]): string {
  return envelopes.map((e) => `${JSON.stringify(e)}\n`).join('');
}

/**
 * Files of kept events another node id left in the sessions folder (a cluster node whose id, the
 * host name by default, changed; or a server that ran as a cluster node before): named, since only
 * a node with that id stores them.
 */
export function warnOtherUnstored(sessionsDir: string, own: string, logger: Logger): void {
  let names: string[];
  try {
    names = readdirSync(sessionsDir);
  } catch {
    return;
  }
  for (const name of names.filter((n) => /^\.unstored-events(-.+)?\.jsonl$/.test(n) && path.join(sessionsDir, n) !== own)) {
    const node = /^\.unstored-events-(.+)\.jsonl$/.exec(name)?.[1];
    logger.warn(
      `${path.join(sessionsDir, name)} holds events ${node ? `node "${node}"` : 'a server outside a cluster'} could not store: ${node ? `a node started with --node-id ${node}` : 'the server started without --cluster'} stores them; if none will, stop this one and append the file's lines to ${own}`,
    );
  }
}

/** The envelopes a file written by keepUnstored holds, in order; none when there is no file. */
export function readUnstored(file: string, logger: Logger): Envelope[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const envelopes: Envelope[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const e = JSON.parse(line) as Partial<Envelope>;
      if (typeof e.id !== 'string' || !EVENT_ID_PATTERN.test(e.id) || typeof e.event !== 'string' || typeof e.timestamp !== 'string') throw new Error('not an event');
      envelopes.push(e as Envelope);
    } catch {
      bad += 1;
    }
  }
  if (bad > 0) logger.error(`${file}: ${String(bad)} line(s) are not events and are skipped`);
  return envelopes;
}

/**
 * At start, before any new event: stores the events `file` holds (those already stored, from a
 * batch that committed as the server stopped, are skipped). Does not wait for them: if the
 * database cannot be written yet, they wait on the bus like any other event. The bus must have
 * unstoredJournal(file) as its journal: it removes the file once they are stored.
 */
export async function restoreUnstored(opts: {
  bus: EventBus;
  events: EventLog;
  file: string;
  logger: Logger;
  /** Whether the session is still there: a deleted one's events would bring rows of it back (its session.deleted goes). */
  sessionExists: (id: string) => Promise<boolean>;
}): Promise<void> {
  const envelopes = readUnstored(opts.file, opts.logger);
  if (envelopes.length === 0) {
    rmSync(opts.file, { force: true });
    return;
  }
  let stored = new Set<string>();
  try {
    stored = await opts.events.stored(envelopes.map((e) => e.id));
  } catch (err) {
    opts.logger.warn(`could not check which kept events are stored already (${describeError(err)}): storing them all`);
  }
  const gone = new Set<string>();
  for (const session of new Set(envelopes.flatMap((e) => (e.session ? [e.session] : [])))) {
    if (!(await opts.sessionExists(session))) gone.add(session);
  }
  const rest = envelopes.filter((e) => !stored.has(e.id) && !(e.session && gone.has(e.session) && e.event !== 'session.deleted'));
  if (gone.size > 0) opts.logger.info(`kept events of deleted session(s) ${[...gone].join(', ')} are not stored (only their session.deleted)`);
  // Written anew with what is left: a kill -9 may have cut its last line, and the journal appends to it.
  writeUnstored(opts.file, rest);
  if (rest.length === 0) return;
  opts.logger.info(`storing ${String(rest.length)} event(s) kept in ${opts.file} when the server last stopped`);
  // The bus's journal (unstoredJournal, on the same file) removes the file once they are stored,
  // and writes it again if the database cannot be written meanwhile.
  void opts.bus.restore(rest).then((outcomes) => {
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'rejected') opts.logger.error(`the kept event ${rest[i]!.id} (${rest[i]!.event}) could not be stored: ${describeError(outcome.reason)}`);
    });
    const refused = outcomes.filter((o) => o.status === 'rejected').length;
    opts.logger.info(`the event(s) kept in ${opts.file} are stored${refused > 0 ? `, but for ${String(refused)} refused (above)` : ''}`);
  });
}
