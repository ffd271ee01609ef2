import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { EventBus } from '../../src/events/bus.js';
import { newEventId, type Envelope } from '../../src/events/envelope.js';
import { readUnstored, restoreUnstored, unstoredFile, unstoredJournal, warnOtherUnstored } from '../../src/events/unstored.js';
import type { EventLog } from '../../src/store/events.js';
import { captureLogger, tempDir } from '../helpers/env.js';

function envelope(n: number): Envelope {
  return { id: newEventId(), timestamp: new Date().toISOString(), event: 'message', session: 's1', engine: 'sandbox', me: null, payload: { n } };
}

const nOf = (e: Envelope): number => (e.payload as { n: number }).n;

describe('events kept in the sessions folder for the next start', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('ms-unstored-')));
  after(() => cleanup());

  it('names a file per cluster node, and only safe characters in it', () => {
    assert.equal(unstoredFile('/s'), '/s/.unstored-events.jsonl');
    assert.equal(unstoredFile('/s', 'node a/../b'), '/s/.unstored-events-node_a_.._b.jsonl');
  });

  it('the journal appends what is new, flushed; after a failed write it writes the file whole; clear removes it', async () => {
    const file = path.join(dir, 'journal.jsonl');
    const capture = captureLogger('info');
    const journal = unstoredJournal(file, capture.logger);
    const [a, b, c] = [envelope(1), envelope(2), envelope(3)];
    journal.append([a], [a]);
    journal.append([b], [a, b]);
    assert.deepEqual(readUnstored(file, capture.logger).map(nOf), [1, 2]);

    // A write that fails (here: the file is a folder for a moment) is said once; the next one writes all.
    const blocked = path.join(dir, 'blocked.jsonl');
    const broken = unstoredJournal(blocked, capture.logger);
    await mkdir(blocked);
    broken.append([a], [a]);
    broken.append([b], [a, b]);
    assert.equal(capture.output().match(/could not be kept in .*blocked\.jsonl too/g)?.length, 1, 'said once');
    await rmdir(blocked);
    broken.append([c], [a, b, c]);
    assert.deepEqual(readUnstored(blocked, capture.logger).map(nOf), [1, 2, 3], 'written whole after the failure');

    journal.clear();
    assert.equal(existsSync(file), false);
  });

  it('reads past a line a kill -9 cut short, and the start writes the file anew without it, leaving out what is stored already', async () => {
    const file = path.join(dir, '.unstored-events.jsonl');
    const [a, b, c] = [envelope(1), envelope(2), envelope(3)];
    await writeFile(file, [a, b, c].map((e) => `${JSON.stringify(e)}\n`).join(''));
    await appendFile(file, '{"id":"evt_01M8DFJ9NT62MM8V6X');
    const capture = captureLogger('info');
    assert.deepEqual(readUnstored(file, capture.logger).map(nOf), [1, 2, 3]);
    assert.match(capture.output(), /1 line\(s\) are not events and are skipped/);

    const storedOnes: number[] = [];
    const bus = new EventBus(
      (envelopes) => {
        storedOnes.push(...envelopes.map(nOf));
        return new Promise(() => undefined); // the database does not answer yet
      },
      capture.logger,
    );
    const events = { stored: (ids: readonly string[]) => Promise.resolve(new Set(ids.filter((id) => id === a.id))) } as unknown as EventLog;
    await restoreUnstored({ bus, events, file, logger: capture.logger, sessionExists: () => Promise.resolve(true) });
    assert.deepEqual(readUnstored(file, capture.logger).map(nOf), [2, 3], 'anew: no cut line, nothing stored already');
    assert.equal((await readFile(file, 'utf8')).endsWith('\n'), true);
    assert.match(capture.output(), /storing 2 event\(s\) kept in .* when the server last stopped/);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(storedOnes, [2, 3], 'handed to the store with their ids, in order');
  });

  it('leaves out the kept events of a session deleted since, all but its session.deleted', async () => {
    const file = path.join(dir, 'deleted.jsonl');
    const gone = (n: number, event: Envelope['event'] = 'message'): Envelope => ({ ...envelope(n), session: 'gone', event });
    await writeFile(file, [envelope(1), gone(2), gone(3, 'session.deleted'), envelope(4)].map((e) => `${JSON.stringify(e)}\n`).join(''));
    const capture = captureLogger('info');
    const storedOnes: number[] = [];
    const bus = new EventBus((envelopes) => {
      storedOnes.push(...envelopes.map(nOf));
      return Promise.resolve();
    }, capture.logger);
    const events = { stored: () => Promise.resolve(new Set<string>()) } as unknown as EventLog;
    await restoreUnstored({ bus, events, file, logger: capture.logger, sessionExists: (id) => Promise.resolve(id !== 'gone') });
    await bus.idle();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(storedOnes, [1, 3, 4]);
    assert.match(capture.output(), /kept events of deleted session\(s\) gone are not stored \(only their session\.deleted\)/);
  });

  it('names files of kept events another node id left', async () => {
    await writeFile(path.join(dir, '.unstored-events-old-host.jsonl'), `${JSON.stringify(envelope(1))}\n`);
    await writeFile(path.join(dir, '.unstored-events.jsonl'), `${JSON.stringify(envelope(2))}\n`);
    await writeFile(path.join(dir, '.unstored-events-new-host.jsonl'), `${JSON.stringify(envelope(3))}\n`);
    const capture = captureLogger('info');
    warnOtherUnstored(dir, unstoredFile(dir, 'new-host'), capture.logger);
    assert.match(capture.output(), /\.unstored-events-old-host\.jsonl holds events node "old-host" could not store: a node started with --node-id old-host stores them/);
    assert.match(capture.output(), /\.unstored-events\.jsonl holds events a server outside a cluster could not store/);
    assert.doesNotMatch(capture.output(), /new-host\.jsonl holds/, 'not its own file');
  });
});
