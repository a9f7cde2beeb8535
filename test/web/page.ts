/**
 * Driving the browser demo page from tests: Debian's Chromium, headless through playwright-core, with the flags
 * this closed network needs; the page served by `effnet serve-demo`'s server; an image picked through the file
 * input and the page's result read back from window.effnetResult.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium. */
export const CHROMIUM = '/usr/bin/chromium';

/** A skip reason when Chromium is missing, else false. */
export const chromiumSkip: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (install Debian's chromium package: scripts/setup.sh does)`;

/** What the page leaves on window.effnetResult. */
export interface PageResult {
  top: { label: string; index: number; probability: number }[];
  warnings: string[];
  ms: { total: number; inference: number };
  backend: string;
  file: string;
}

/** Starts headless Chromium with a fresh profile under `dir`. */
export function launchBrowser(dir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Opens the demo page at `url` and waits until its model is loaded; `logs` collects the console. */
export async function openDemoPage(browser: BrowserContext, url: string, logs: string[] = []): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (message) => logs.push(message.text()));
  page.on('pageerror', (error) => logs.push(String(error)));
  await page.goto(url);
  await page.waitForFunction("['ready', 'error'].includes(document.body.dataset.state)", null, { timeout: 60_000 });
  assert.equal(await page.evaluate('document.body.dataset.state'), 'ready', `page did not load the model: ${await page.textContent('#error')} ${logs.join('\n')}`);
  return page;
}

/** Picks `path` through the page's file input and returns the page's classification of it. */
export async function classifyOnPage(page: Page, path: string): Promise<PageResult> {
  await page.setInputFiles('#image-input', path);
  const name = basename(path);
  await page.waitForFunction(`window.effnetResult?.file === ${JSON.stringify(name)} || document.body.dataset.state === 'error'`, null, { timeout: 30_000 });
  assert.notEqual(await page.evaluate('document.body.dataset.state'), 'error', `page error: ${await page.textContent('#error')}`);
  return (await page.evaluate('window.effnetResult')) as PageResult;
}
