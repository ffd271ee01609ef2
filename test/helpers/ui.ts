import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer';

/**
 * Helpers for the web UI tests. The project's tsconfig has no DOM library, so code that runs in
 * the page is passed to puppeteer as strings (see `js`), never as typed callbacks.
 */

export const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '../../test-output/ui');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

export async function launchBrowser(executablePath: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

export interface WatchedPage {
  page: Page;
  /** Page errors and console errors, except API answers the UI shows on purpose (4xx, refused connections). */
  errors: string[];
  /** Every request that left for another origin than the server's. */
  external: string[];
}

/** A new page that records page errors, console errors and requests that leave the server's origin. */
export async function openPage(browser: Browser, baseUrl: string, viewport = DESKTOP): Promise<WatchedPage> {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  const errors: string[] = [];
  const external: string[] = [];
  const origin = new URL(baseUrl).origin;
  page.on('pageerror', (err) => errors.push(`pageerror: ${err instanceof Error ? err.message : String(err)}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const url = msg.location().url ?? '';
    // The browser logs every non-2xx fetch; the UI shows those API answers (that is what is tested).
    if (/^Failed to load resource/.test(text) && /\/(api\/v1\/|info\b)/.test(url)) return;
    errors.push(`console: ${text}${url ? ` (${url})` : ''}`);
  });
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:')) return;
    if (new URL(url).origin !== origin) external.push(url);
  });
  return { page, errors, external };
}

/** Evaluates a JavaScript expression in the page. */
export async function js<T>(page: Page, expression: string): Promise<T> {
  return (await page.evaluate(expression)) as T;
}

/** Waits until a JavaScript expression is truthy in the page. */
export async function until(page: Page, expression: string, what: string, timeout = 10_000): Promise<void> {
  try {
    await page.waitForFunction(expression, { timeout, polling: 'mutation' });
  } catch (err) {
    throw new Error(`timed out after ${String(timeout)} ms waiting for ${what}`, { cause: err });
  }
}

const q = (s: string): string => JSON.stringify(s);

/**
 * The enabled, visible <button> under `scope` whose visible text is exactly `label`; waits for it.
 * Tests click buttons by the words a person reads, which also checks the labels.
 */
export async function button(page: Page, label: string, scope = 'body', timeout = 10_000): Promise<ElementHandle> {
  const expr = `[...document.querySelectorAll(${q(scope)} + ' button')].find((b) => b.textContent.replace(/\\s+/g, ' ').trim() === ${q(label)} && !b.disabled && b.getClientRects().length > 0)`;
  let handle;
  try {
    handle = await page.waitForFunction(expr, { timeout, polling: 'mutation' });
  } catch (err) {
    throw new Error(`no enabled, visible "${label}" button under ${scope} within ${String(timeout)} ms`, { cause: err });
  }
  const el = handle.asElement();
  if (!el) throw new Error(`"${label}" is not an element`);
  return el as ElementHandle;
}

export async function clickButton(page: Page, label: string, scope = 'body'): Promise<void> {
  // A list the page re-renders from the event stream may replace the button between finding and
  // clicking it (a person's click is one step; puppeteer's is several): find it again then.
  for (let attempt = 1; ; attempt++) {
    const el = await button(page, label, scope);
    try {
      await el.click();
      return;
    } catch (err) {
      if (attempt >= 5 || !/detached/i.test(err instanceof Error ? err.message : String(err))) throw err;
    }
  }
}

/** The text of the first element matching the selector ('' when none). */
export function textOf(page: Page, selector: string): Promise<string> {
  return js<string>(page, `document.querySelector(${q(selector)})?.textContent ?? ''`);
}

export function rowSelector(id: string): string {
  return `#session-list li[data-session-id=${q(id)}]`;
}

export async function waitForRowStatus(page: Page, id: string, status: string, timeout = 15_000): Promise<void> {
  await until(page, `document.querySelector(${q(`${rowSelector(id)}[data-status="${status}"]`)})`, `session ${id} to show status ${status}`, timeout);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Fills a text field, replacing what it held. */
export async function fill(page: Page, selector: string, value: string): Promise<void> {
  await page.waitForSelector(selector, { visible: true });
  await page.$eval(selector, (el) => {
    (el as unknown as { value: string }).value = '';
  });
  await page.type(selector, value);
}
