import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import puppeteer, { type Browser } from 'puppeteer';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { requireChromium } from '../helpers/browser.js';

const KEY = 'docs-test-key-4567';

describe('Swagger UI', () => {
  let srv: TestServer;
  let browser: Browser | undefined;
  before(async () => {
    srv = await startTestServer(['--api-key', KEY, '--webhook-host', 'wa.example.com']);
  });
  after(async () => {
    await browser?.close();
    await srv.stop();
  });

  it('"Authorize" takes the API key and "Try it out" then calls the API under the page’s CSP', async (t) => {
    const executablePath = requireChromium(t);
    if (!executablePath) return;
    browser = await puppeteer.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${srv.url}/api-docs`, { waitUntil: 'networkidle0' });
    assert.equal(page.url(), `${srv.url}/api-docs/`);
    await page.click('button.authorize');
    await page.waitForSelector('.modal-ux input');
    await page.type('.modal-ux input', KEY);
    await page.click('.modal-ux button.authorize');
    await page.click('.modal-ux button.close-modal');
    await page.click('#operations-Sessions-listSessions button.opblock-summary-control');
    await page.waitForSelector('.try-out__btn');
    await page.click('.try-out__btn');
    await page.click('.execute');
    await page.waitForSelector('.live-responses-table .response .response-col_status', { timeout: 10_000 });
    // A string: this project's tsconfig has no DOM types.
    const status = (await page.evaluate(`document.querySelector('.live-responses-table .response .response-col_status').textContent`)) as string;
    assert.equal(status.trim(), '200');
    assert.deepEqual(errors, []);
  });
});
