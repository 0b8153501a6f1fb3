// browser_summary.mjs - opens rallo's single-profile HTML pages (argv[2..])
// in headless Chromium (/usr/bin/chromium through playwright-core from
// tests/html/node_modules), every network request blocked, and prints one JSON
// line per page with what a person sees first: the title, the metric the
// flame graph opened on, the table tab shown, the note about samples, and the
// At peak table's remainder row. test_summary.py judges them. With
// RALLO_SCREENSHOT_DIR set, a screenshot of each page is left there.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'html', 'package.json'));
const { chromium } = require('playwright-core');
const pages = process.argv.slice(2).map(p => path.resolve(p));

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rallo-summary-test-'));
const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    viewport: {width: 1400, height: 1000}, deviceScaleFactor: 1,
});
let allowed = '';
await context.route('**/*', route => route.request().url() === allowed ? route.continue() : route.abort());
let failed = false;
try {
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on('pageerror', e => errors.push(String(e)));
    for (const file of pages) {
        allowed = pathToFileURL(file).href;
        await page.goto(allowed);
        await page.waitForFunction(() => window.rallo && window.rallo.flame);
        const seen = await page.evaluate(() => {
            const tab = document.querySelector('.rp-tabs button[aria-selected="true"]');
            const metric = document.querySelector('.rp-switch button[aria-selected="true"]');
            const note = document.querySelector('.rp-note');
            const remainder = document.querySelector('tr.rp-remainder');
            return {title: document.title, opening: window.rallo.opening, metric: metric && metric.dataset.metric,
                    tab: tab && tab.dataset.view, note: note ? note.textContent : null,
                    remainder: remainder ? remainder.textContent : null, peakRemainder: window.rallo.peakRemainder,
                    sub: document.querySelector('.rp-sub').textContent};
        });
        seen.file = file;
        seen.errors = errors.splice(0);
        if (process.env.RALLO_SCREENSHOT_DIR)
            await page.screenshot({path: path.join(process.env.RALLO_SCREENSHOT_DIR, path.basename(file) + '.png')});
        console.log(JSON.stringify(seen));
    }
} catch (e) {
    console.error(e);
    failed = true;
} finally {
    await context.close();
    fs.rmSync(userDataDir, {recursive: true, force: true});
}
process.exit(failed ? 1 : 0);
