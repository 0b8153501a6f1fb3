// chromium.mjs - headless Chromium for the tests that open rallo's pages
// (/usr/bin/chromium through playwright-core from tests/html/node_modules):
// withChromium(prefix, check) starts one persistent context in a fresh
// profile directory, blocks every network request but the page being checked
// (check calls allow(file) before it opens one), collects console and page
// errors, runs check({page, allow, errors, blocked}), then exits the process:
// 0 when check returned, 1 (after printing why) when it threw.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(path.join(here, '..', 'html', 'package.json'))('playwright-core');

export async function withChromium(prefix, check) {
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    const context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: '/usr/bin/chromium', headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync'],
        viewport: {width: 1400, height: 1000}, deviceScaleFactor: 1,
    });
    const errors = [], blocked = [];
    let allowed = '';
    await context.route('**/*', route =>
        route.request().url() === allowed ? route.continue() : (blocked.push(route.request().url()), route.abort()));
    const page = context.pages()[0] || await context.newPage();
    page.on('console', m => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', e => errors.push(String(e)));
    const allow = file => (allowed = pathToFileURL(file).href);
    const status = await check({page, allow, errors, blocked}).then(() => 0, e => (console.error(e), 1));
    await context.close();
    fs.rmSync(userDataDir, {recursive: true, force: true});
    process.exit(status);
}
