import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'puppeteer';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { requireChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/env.js';
import { clickButton, fill, js, launchBrowser, openPage, PHONE, rowSelector, screenshot, textOf, until, waitForRowStatus, type WatchedPage } from '../helpers/ui.js';

/**
 * The session page's sending in Debian's Chromium (headless), against a real server on the sandbox
 * engine: every kind of send from the form (checked in the sandbox's outbox), linking by phone number
 * (pairing code), and the send queue with its Cancel buttons. Screenshots go to test-output/ui/.
 */

const OPTS = { timeout: 90_000 };
const q = (s: string): string => JSON.stringify(s);

interface OutboxEntry {
  messageId: string | null;
  chatId: string;
  type: string;
  content: string | null;
  caption: string | null;
  filename: string | null;
  mimetype: string | null;
  size: number | null;
  latitude: number | null;
  longitude: number | null;
  title: string | null;
  address: string | null;
  contactId: string | null;
}

interface Job {
  jobId: string;
  status: string;
}

/** A small but real PDF: its bytes say what it is, whatever the browser claims. */
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n', 'latin1');
/** The start of an Ogg stream whose first packet is Opus: what the server sends as a voice note. */
const OGG_OPUS = Buffer.concat([Buffer.from('OggS', 'latin1'), Buffer.alloc(24), Buffer.from('OpusHead', 'latin1'), Buffer.alloc(40)]);

async function waitLive(page: Page, timeout = 15_000): Promise<void> {
  await until(page, `document.querySelector('#conn')?.dataset.state === 'live'`, 'the live indicator', timeout);
}

async function selectSession(page: Page, id: string): Promise<void> {
  await page.click(`${rowSelector(id)} .row-select`);
  await until(page, `document.querySelector('#detail-title')?.textContent === ${q(id)}`, `the details of ${id}`);
}

/** The id of the control labelled `label` under `scope` (tests find fields by the words a person reads). */
async function fieldId(page: Page, scope: string, label: string): Promise<string> {
  const expr = `[...document.querySelectorAll(${q(`${scope} label`)})].find((l) => l.textContent === ${q(label)} && l.getClientRects().length > 0)?.htmlFor ?? ''`;
  await until(page, expr, `a visible field "${label}" under ${scope}`);
  return js<string>(page, expr);
}

async function fillField(page: Page, scope: string, label: string, value: string): Promise<void> {
  await fill(page, `#${await fieldId(page, scope, label)}`, value);
}

const SEND = '#detail .send-card';

async function chooseKind(page: Page, kind: string): Promise<void> {
  await page.select(`#${await fieldId(page, SEND, 'Kind')}`, kind);
}

/** Chooses a local file in the form's file field, as a person does (through the file chooser). */
async function chooseFile(page: Page, file: string): Promise<void> {
  const id = await fieldId(page, SEND, 'File');
  const [chooser] = await Promise.all([page.waitForFileChooser(), page.click(`#${id}`)]);
  await chooser.accept([file]);
}

/** Presses Send and waits for a new result line (each send's differs: its message or job id). */
async function send(page: Page): Promise<string> {
  const before = await textOf(page, `${SEND} .result`);
  await clickButton(page, 'Send', SEND);
  await until(
    page,
    `(() => { const r = document.querySelector(${q(`${SEND} .result`)}); return r && r.dataset.kind !== 'pending' && r.textContent !== '' && r.textContent !== ${q(before)}; })()`,
    'the send result',
    20_000,
  );
  return textOf(page, `${SEND} .result`);
}

/** The job id a queued send's result line shows. */
function jobIdOf(result: string): string {
  const id = /^Queued as job (job_[0-9A-Z]{26})\b/.exec(result)?.[1];
  assert.ok(id, `the job id is shown (${result})`);
  return id;
}

function noPageErrors(w: WatchedPage | undefined): void {
  if (!w) return;
  assert.deepEqual(w.errors, [], 'no page errors and no console errors');
  assert.deepEqual(w.external, [], 'no request leaves the server');
}

describe('web UI: sending every kind, pairing codes and the send queue (sandbox engine)', () => {
  let srv: TestServer;
  let files: { dir: string; cleanup(): Promise<void> };
  let browser: Browser | undefined;
  let w: WatchedPage | undefined;
  let phone: WatchedPage | undefined;

  before(async () => {
    srv = await startTestServer();
    files = await tempDir('ms-ui-send-');
  });
  after(async () => {
    await browser?.close();
    await srv.stop();
    await files.cleanup();
  });

  /** The page, opened once for the whole suite (skips without Chromium, fails without it under CI). */
  async function page(t: TestContext): Promise<Page | undefined> {
    const exe = requireChromium(t);
    if (!exe) return undefined;
    browser ??= await launchBrowser(exe);
    if (!w) {
      w = await openPage(browser, srv.url);
      await w.page.goto(`${srv.url}/`);
      await waitLive(w.page);
    }
    return w.page;
  }

  async function outbox(id: string): Promise<OutboxEntry[]> {
    const res = await srv.api<OutboxEntry[]>('GET', `/api/v1/sessions/${id}/sandbox/outbox`);
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  }

  it('sends a location, a file and a voice note from the form; the sandbox outbox has each with its fields', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'sender', config: { sandbox: { autoScan: true } } })).status, 201);
    await srv.manager.waitFor('sender', (s) => s.status === 'ready', 15_000);
    await p.waitForSelector(rowSelector('sender'));
    await selectSession(p, 'sender');
    await until(p, `(document.querySelector(${q(SEND)})?.getClientRects().length ?? 0) > 0`, 'the send form');
    const kinds = await js<string[]>(p, `[...document.querySelector('#' + ${q(await fieldId(p, SEND, 'Kind'))}).options].map((o) => o.value)`);
    assert.deepEqual(kinds, ['text', 'image', 'file', 'video', 'voice', 'location', 'contact'], 'every kind is offered');

    // A location, first with a latitude the server refuses: its words, next to the field.
    await chooseKind(p, 'location');
    await fillField(p, SEND, 'Chat ID', '+44 20 7946 0001');
    await fillField(p, SEND, 'Latitude', '123');
    await fillField(p, SEND, 'Longitude', '4.8926');
    await fillField(p, SEND, 'Place name', 'Dam Square');
    await fillField(p, SEND, 'Address', 'Dam, 1012 JS Amsterdam');
    const refused = await send(p);
    assert.match(refused, /latitude/i, `the server's message names the field (${refused})`);
    assert.equal(await js<string>(p, `document.querySelector(${q(`${SEND} .result`)}).dataset.kind`), 'error');
    const latId = await fieldId(p, SEND, 'Latitude');
    assert.equal(await js<string | null>(p, `document.querySelector('#${latId}').getAttribute('aria-invalid')`), 'true', 'the field is marked');
    assert.match(await textOf(p, `#${latId}-error`), /90/, 'with the rule it broke');
    assert.equal((await outbox('sender')).length, 0, 'nothing was sent');

    await fillField(p, SEND, 'Latitude', '52.3731');
    const sentLocation = await send(p);
    assert.match(sentLocation, /^Sent to 442079460001@c\.us · id /);
    assert.equal(await js<number>(p, `document.querySelectorAll('#detail [aria-invalid="true"]').length`), 0, 'the mark went with the fix');
    const location = (await outbox('sender')).find((m) => m.type === 'location');
    assert.ok(location, 'the outbox has the location');
    assert.equal(location.chatId, '442079460001@c.us');
    assert.equal(location.latitude, 52.3731);
    assert.equal(location.longitude, 4.8926);
    assert.equal(location.title, 'Dam Square');
    assert.equal(location.address, 'Dam, 1012 JS Amsterdam');

    // A file from this computer (read by the page, sent as a data URL), with a caption.
    const pdf = path.join(files.dir, 'quote-2026.pdf');
    await writeFile(pdf, PDF);
    await chooseKind(p, 'file');
    await chooseFile(p, pdf);
    await fillField(p, SEND, 'Caption', 'The quote we talked about');
    const sentFile = await send(p);
    assert.match(sentFile, /^Sent to 442079460001@c\.us · id /, sentFile);
    const file = (await outbox('sender')).find((m) => m.type === 'file');
    assert.ok(file, 'the outbox has the file');
    assert.equal(file.chatId, '442079460001@c.us');
    assert.equal(file.filename, 'quote-2026.pdf', 'named as the chosen file');
    assert.equal(file.mimetype, 'application/pdf');
    assert.equal(file.size, PDF.length, 'every byte arrived');
    assert.equal(file.caption, 'The quote we talked about');
    await screenshot(p, 'desktop-send-file');

    // An Ogg/Opus file through the voice kind, under another name: a voice note, no caption field.
    const ogg = path.join(files.dir, 'recording.ogg');
    await writeFile(ogg, OGG_OPUS);
    await chooseKind(p, 'voice');
    assert.equal(await js<boolean>(p, `[...document.querySelectorAll(${q(`${SEND} label`)})].some((l) => l.textContent === 'Caption' && l.getClientRects().length > 0)`), false, 'voice notes have no caption');
    await chooseFile(p, ogg);
    await fillField(p, SEND, 'File name', 'Voice memo.ogg');
    assert.match(await send(p), /^Sent to /);
    const voice = (await outbox('sender')).find((m) => m.type === 'voice');
    assert.ok(voice, 'the outbox has a voice note');
    assert.equal(voice.filename, 'Voice memo.ogg', 'the name typed wins over the file’s');
    assert.equal(voice.size, OGG_OPUS.length);

    // A contact card, and a text: the other kinds go too.
    await chooseKind(p, 'contact');
    await fillField(p, SEND, 'Contact', '+1 555 010 0001');
    assert.match(await send(p), /^Sent to /);
    const contact = (await outbox('sender')).find((m) => m.type === 'contact');
    assert.equal(contact?.contactId, '15550100001@c.us');
  });

  it('asks for a pairing code on a qr_ready session and shows it large, also when it comes by the event stream', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    const id = 'pairer';
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: id, config: { qrTimeout: 0 } })).status, 201);
    await p.waitForSelector(rowSelector(id));
    await selectSession(p, id);
    await waitForRowStatus(p, id, 'qr_ready');
    const card = '#detail .qr-card';
    await until(p, `(document.querySelector(${q(`${card} .pair`)})?.getClientRects().length ?? 0) > 0`, 'the "Link with phone number" section');
    assert.match(await textOf(p, `${card} .pair-title`), /Link with phone number/);

    // Asked from the page.
    await fillField(p, card, 'Phone number', '+1 555 010 0001');
    await clickButton(p, 'Get code', card);
    await until(p, `/^[A-Z2-9]{4}-[A-Z2-9]{4}$/.test(document.querySelector(${q(`${card} .pair-code`)})?.textContent ?? '')`, 'the pairing code');
    const shown = await textOf(p, `${card} .pair-code`);
    assert.match(await textOf(p, `${card} .pair-code-box`), /For \+15550100001/, 'says which number it is for');
    const size = await js<number>(p, `parseFloat(getComputedStyle(document.querySelector(${q(`${card} .pair-code`)})).fontSize)`);
    assert.ok(size >= 24, `the code is large enough to read off the screen (${String(size)} px)`);

    // Asked elsewhere (the API): the new code arrives by the event stream.
    const asked = await srv.api<{ code: string }>('POST', `/api/v1/sessions/${id}/auth/request-code`, { phoneNumber: '+44 7700 900123' });
    assert.equal(asked.status, 200, asked.text);
    assert.notEqual(asked.body.data.code, shown, 'a new code');
    await until(p, `document.querySelector(${q(`${card} .pair-code`)})?.textContent === ${q(asked.body.data.code)}`, 'the code from the event stream');
    assert.match(await textOf(p, `${card} .pair-code-box`), /For \+447700900123/);
    await js(p, `document.querySelector(${q(`${card} .pair-code-box`)}).scrollIntoView({ block: 'center' })`);
    await screenshot(p, 'desktop-pairing-code');

    // The sandbox's phone enters the code shown: it must be the last one the session gave.
    await clickButton(p, 'Simulate entering the code', card);
    await waitForRowStatus(p, id, 'ready');
    await until(p, `!document.querySelector('#detail .pair')`, 'the pairing section to go once linked');
    const session = await srv.api<{ me: { id: string } }>('GET', `/api/v1/sessions/${id}`);
    assert.equal(session.body.data.me.id, '447700900123@c.us', 'linked as the number the code was for');
  });

  it('queues sends on a paced session, lists the waiting ones as they come, and cancels them from the page', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    const id = 'pacer';
    // Paced sending, set in the New Session form: a minute between two sends.
    await clickButton(p, 'New Session');
    await p.waitForSelector('#create-dialog[open]', { visible: true });
    await fill(p, '#f-session-id', id);
    await p.select('#f-engine', 'sandbox');
    await p.click('#f-autoscan');
    await p.click('#f-send-queue');
    await fill(p, '#f-sq-min', '60000');
    await fill(p, '#f-sq-max', '60000');
    await screenshot(p, 'desktop-create-paced');
    await clickButton(p, 'Create', '#create-dialog');
    await until(p, `!document.querySelector('#create-dialog').open`, 'the dialog to close');
    await waitForRowStatus(p, id, 'ready');
    await until(p, `document.querySelector('#detail-title')?.textContent === ${q(id)}`, 'the new session to be selected');
    const created = await srv.api<{ config: Record<string, unknown> }>('GET', `/api/v1/sessions/${id}`);
    assert.deepEqual(created.body.data.config.sendQueue, { minDelayMs: 60000, maxDelayMs: 60000 }, 'the form sent what it showed');

    const queue = '#detail .queue-card';
    await until(p, `(document.querySelector(${q(queue)})?.getClientRects().length ?? 0) > 0`, 'the send queue card');
    await until(p, `document.querySelector(${q(`${queue} .queue-empty`)})?.textContent.startsWith('No message is waiting')`, 'the empty queue');

    // The first send goes at once; the second waits a minute for its turn.
    await chooseKind(p, 'text');
    await fillField(p, SEND, 'Chat ID', '+1 555 010 0002');
    await p.click(`${SEND} input[type=checkbox]`);
    await fillField(p, SEND, 'Message', 'first: goes at once');
    const first = jobIdOf(await send(p));
    await fillField(p, SEND, 'Message', 'second: waits its turn');
    const second = jobIdOf(await send(p));
    assert.notEqual(second, first);
    const row = (jobId: string): string => `${queue} .queue-job[data-job-id=${q(jobId)}]`;
    await until(p, `document.querySelector(${q(row(second))})?.dataset.status === 'queued'`, 'the waiting job in the list');

    // A send queued through the API shows up by itself (message.queued on the event stream).
    const third = await srv.api<{ jobId: string }>('POST', `/api/v1/sessions/${id}/send-text`, { chatId: '15550100003', content: 'third: from the API' }, { Prefer: 'respond-async' });
    assert.equal(third.status, 202, third.text);
    await until(p, `Boolean(document.querySelector(${q(row(third.body.data.jobId))}))`, 'the job queued elsewhere');
    assert.match(await textOf(p, row(third.body.data.jobId)), /Text to 15550100003@c\.us/);
    await js(p, `document.querySelector(${q(SEND)}).scrollIntoView()`);
    await screenshot(p, 'desktop-send-queue');

    // Cancel both waiting jobs from the page.
    for (const jobId of [second, third.body.data.jobId]) {
      await clickButton(p, 'Cancel', row(jobId));
      await until(p, `!document.querySelector(${q(row(jobId))})`, `job ${jobId} to leave the list`);
      const job = await srv.api<Job>('GET', `/api/v1/sessions/${id}/queue/${jobId}`);
      assert.equal(job.body.data.status, 'cancelled', 'cancelled on the server');
    }
    const waiting = (await srv.api<Job[]>('GET', `/api/v1/sessions/${id}/queue`)).body.data.map((j) => j.jobId);
    assert.ok(!waiting.includes(second) && !waiting.includes(third.body.data.jobId), 'gone from the queue');
    await until(p, `(() => { const e = document.querySelector(${q(`${queue} .queue-empty`)}); return e && !e.hidden && e.textContent.startsWith('No message is waiting'); })()`, 'the empty queue again', 15_000);
    const contents = (await outbox(id)).map((m) => m.content);
    assert.ok(contents.includes('first: goes at once'), 'the first one went');
    assert.ok(!contents.includes('second: waits its turn') && !contents.includes('third: from the API'), 'the cancelled ones never went');
  });

  it('fits a phone screen (390 px): send form, queue and pairing section', OPTS, async (t) => {
    if (!(await page(t)) || !browser) return;
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'phone-pair', config: { qrTimeout: 0 } })).status, 201);
    phone = await openPage(browser, srv.url, PHONE);
    const p = phone.page;
    await p.goto(`${srv.url}/#phone-pair`);
    await waitLive(p);
    await until(p, `document.querySelector('#detail-title')?.textContent === 'phone-pair'`, 'the session named in the URL');
    await until(p, `(document.querySelector('#detail .pair')?.getClientRects().length ?? 0) > 0`, 'the pairing section', 15_000);
    await fillField(p, '#detail .qr-card', 'Phone number', '+1 555 010 0009');
    await clickButton(p, 'Get code', '#detail .qr-card');
    await until(p, `/^[A-Z2-9]{4}-[A-Z2-9]{4}$/.test(document.querySelector('#detail .pair-code')?.textContent ?? '')`, 'the pairing code');
    await js(p, `document.querySelector('#detail .pair-code-box').scrollIntoView({ block: 'center' })`);
    await screenshot(p, 'phone-pairing-code');
    let overflow = await js<number>(p, 'document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `no horizontal scrolling (${String(overflow)} px too wide)`);

    await selectSession(p, 'sender');
    await until(p, `(document.querySelector(${q(SEND)})?.getClientRects().length ?? 0) > 0`, 'the send form');
    await chooseKind(p, 'location');
    await js(p, `document.querySelector(${q(SEND)}).scrollIntoView()`);
    await screenshot(p, 'phone-send-form');
    overflow = await js<number>(p, 'document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `no horizontal scrolling (${String(overflow)} px too wide)`);
    await p.close();
  });

  it('had no page errors, no console errors and no external requests', OPTS, (t) => {
    if (!requireChromium(t)) return;
    noPageErrors(w);
    noPageErrors(phone);
  });
});
