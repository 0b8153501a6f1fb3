// browser_test.mjs - opens the pages test_html_writer wrote (argv[2]) in headless
// Chromium (/usr/bin/chromium, driven by playwright-core) from file:// with every
// network request blocked and recorded, and checks the flame graph against the
// known profile of test_html_writer.c: names, zoom, search, metric switch,
// tooltip; then the 50,000-site page renders with tiny nodes collapsed.
// Screenshots go next to the pages (known.png, known-zoomed.png, large.png).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const dir = path.resolve(process.argv[2] || '.');
const TEMPLATE = 'std::vector<int, std::allocator<int> >::push_back';
const AMP = 'Table<K, V>::insert(K const&, V&&)';
const EVIL = '</script><img src=x onerror="document.title=\'pwned\'">&amp;';
// Per metric: [process_items, insert, libfoo, evil] values; main is their sum.
const KNOWN = {
    live_bytes: [6000, 2000, 1000, 1000],
    live_count: [10, 50, 30, 10],
    alloc_bytes: [10000, 30000, 1000, 9000],
    alloc_count: [400, 50, 25, 25],
};
const CHILDREN = ['process_items', AMP, 'libfoo.so.1+0x2345', EVIL];
const near = (a, b, eps, what) => assert.ok(Math.abs(a - b) <= eps, `${what}: ${a} is not ${b} (±${eps})`);

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rallo-html-test-'));
const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: {width: 1400, height: 900},
    deviceScaleFactor: 1,
});
const requests = [], blocked = [], errors = [];
let allowed = '';
await context.route('**/*', route => {
    const url = route.request().url();
    if (url === allowed) return route.continue();
    blocked.push(url);
    return route.abort();
});
let failed = false;
try {
    const page = context.pages()[0] || await context.newPage();
    page.on('request', r => requests.push(r.url()));
    page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
    page.on('pageerror', e => errors.push(String(e)));

    async function open(file) {
        allowed = pathToFileURL(path.join(dir, file)).href;
        requests.length = 0;
        await page.goto(allowed);
        await page.waitForFunction(() => window.rallo && window.rallo.flame);
        assert.deepEqual(requests, [allowed], 'the page requested something besides itself');
        assert.deepEqual(blocked, [], 'network requests were made');
        assert.deepEqual(errors, [], 'console errors');
    }
    const boxes = () => page.evaluate(() => window.rallo.boxes());
    const byName = (list, name) => list.filter(b => b.name === name && b.kind !== 'small');
    const one = (list, name) => {
        const found = byName(list, name);
        assert.equal(found.length, 1, `one box named ${name}, got ${found.length}`);
        return found[0];
    };

    // ---- the known profile ----
    await open('known.html');
    assert.equal(await page.title(), 'rallo: demo-app (pid 4242)');
    let b = await boxes();
    for (const name of ['all', 'demo-app+0x1040', 'main', 'process_items', TEMPLATE, ...CHILDREN]) one(b, name);
    assert.equal(await page.locator('img').count(), 0, 'the injected name became an element');
    const tableText = await page.locator('.rp-table').innerText();
    for (const name of [TEMPLATE, AMP, EVIL, 'libfoo.so.1+0x2345']) assert.ok(tableText.includes(name), `table lists ${name}`);
    assert.ok((await page.locator('.rp-head').innerText()).includes('9.77 KiB'), 'header shows live bytes');

    // The metric switch: each child of main gets its share of main's width.
    for (const metric of ['live_bytes', 'alloc_bytes', 'alloc_count', 'live_count']) {
        await page.click(`.rp-switch button[data-metric="${metric}"]`);
        assert.equal(await page.evaluate(() => window.rallo.flame.state.metric), metric);
        b = await boxes();
        const main = one(b, 'main'), sum = KNOWN[metric].reduce((x, y) => x + y);
        CHILDREN.forEach((name, k) => near(one(b, name).width / main.width, KNOWN[metric][k] / sum, 1e-9,
                                           `${metric} width of ${name}`));
        // A node's children are ordered largest first, side by side under it.
        const kids = CHILDREN.map(n => one(b, n)).sort((x, y) => x.x - y.x);
        for (let k = 1; k < kids.length; k++) assert.ok(kids[k - 1].width >= kids[k].width - 1e-9, 'largest first');
        near(kids.reduce((s, x) => s + x.width, 0), main.width, 1e-6, 'children fill main');
    }
    await page.click('.rp-switch button[data-metric="live_bytes"]');

    // The tooltip: function, file:line, numbers and share.
    let pt = await page.evaluate(n => window.rallo.flame.boxPoint(window.rallo.find(n)[0]), TEMPLATE);
    await page.mouse.move(pt.x, pt.y);
    let tip = await page.locator('.rf-tip').innerText();
    assert.ok(tip.includes(TEMPLATE), 'tooltip names the function');
    assert.ok(tip.includes('/usr/include/c++/12/bits/stl_vector.h:1287'), 'tooltip has file:line: ' + tip);
    assert.ok(tip.includes('inlined'), 'tooltip says inlined');
    assert.ok(/5\.86 KiB\s+\(60\.0%\)/.test(tip), 'tooltip has the live bytes and share: ' + tip);
    pt = await page.evaluate(() => window.rallo.flame.boxPoint(window.rallo.find('process_items')[0]));
    await page.mouse.move(pt.x, pt.y);
    assert.ok((await page.locator('.rf-tip').innerText()).includes('/src/demo.cc:42'));
    await page.screenshot({path: path.join(dir, 'known.png'), fullPage: true});

    // Click zooms: process_items becomes the full width, its callee too; main
    // and the root stay above as ancestors; the breadcrumb and reset go back.
    const fullWidth = one(await boxes(), 'all').width;
    await page.mouse.click(pt.x, pt.y);
    b = await boxes();
    near(one(b, 'process_items').width, fullWidth, 1e-6, 'zoomed width');
    near(one(b, TEMPLATE).width, fullWidth, 1e-6, 'zoomed callee width');
    assert.equal(one(b, 'main').kind, 'ancestor');
    assert.equal(byName(b, AMP).length, 0, 'a sibling is out of view when zoomed');
    assert.deepEqual(await page.locator('.rf-crumb').allInnerTexts(), ['all', 'demo-app+0x1040', 'main', 'process_items']);
    await page.mouse.move(pt.x, pt.y + 20);
    await page.screenshot({path: path.join(dir, 'known-zoomed.png'), fullPage: true});
    await page.click('.rf-crumb:text-is("main")');
    b = await boxes();
    near(one(b, 'main').width, fullWidth, 1e-6, 'breadcrumb zoom');
    near(one(b, 'process_items').width, fullWidth * 0.6, 1e-6, 'process_items back to its share');
    await page.click('.rf-reset');
    assert.equal(await page.evaluate(() => window.rallo.flame.state.zoom), 0);

    // Search: typed text highlights the matching nodes only, with their share.
    await page.fill('.rf-search', 'push_back');
    await page.waitForFunction(() => window.rallo.flame.state.query === 'push_back');
    b = await boxes();
    assert.deepEqual(b.filter(x => x.matched).map(x => x.name), [TEMPLATE]);
    assert.ok((await page.locator('.rf-match').innerText()).includes('(60.0%)'));
    // ... and the canvas really paints it: the match purple, the rest gray.
    const pixel = box => page.evaluate(bx => {
        const c = document.querySelector('.rf-canvas'), d = c.getContext('2d').getImageData(bx.x + 2, bx.row * 20 + 3, 1, 1).data;
        return [d[0], d[1], d[2]];
    }, box);
    const [pr, pg, pb] = await pixel(one(b, TEMPLATE));
    assert.ok(pr > pg + 60 && pb > pg + 60, `matched box is purple: ${pr},${pg},${pb}`);
    const [mr, mg, mb] = await pixel(one(b, 'main'));
    assert.ok(Math.max(mr, mg, mb) - Math.min(mr, mg, mb) < 20, `unmatched box is gray: ${mr},${mg},${mb}`);
    let r = await page.evaluate(() => window.rallo.search('insert'));
    near(r.share, 0.2, 1e-12, 'insert share');
    assert.deepEqual((await boxes()).filter(x => x.matched).map(x => x.name), [AMP]);
    r = await page.evaluate(() => window.rallo.search('/^(main|process_items)$/'));
    assert.equal(r.count, 2);
    near(r.share, 1, 1e-12, 'nested matches count once');
    await page.evaluate(() => window.rallo.setMetric('alloc_bytes'));
    r = await page.evaluate(() => window.rallo.search('process'));
    near(r.share, 0.2, 1e-12, 'the share follows the metric');
    await page.evaluate(() => { window.rallo.search(''); window.rallo.setMetric('live_bytes'); });

    // Views of the sites: leaks and peak.
    await page.click('.rp-tabs button[data-view="peak"]');
    assert.equal(await page.locator('.rp-table tbody tr').count(), 2, 'two sites held memory at the peak');
    await page.click('.rp-tabs button[data-view="leaks"]');
    assert.equal(await page.locator('.rp-table tbody tr').count(), 4);

    // ---- 50,000 sites ----
    errors.length = 0;
    const t0 = Date.now();
    await open('large.html');
    const loadMs = Date.now() - t0;
    const stats = await page.evaluate(() => {
        const bx = window.rallo.boxes(), t = window.rallo.tree;
        const small = bx.filter(x => x.kind === 'small');
        const tiny = bx.filter(x => x.kind !== 'small' && x.width < 1);
        let t1 = performance.now();
        window.rallo.setMetric('alloc_count');
        const switchMs = performance.now() - t1;
        t1 = performance.now();
        const found = window.rallo.search('work_1000(');
        const searchMs = performance.now() - t1;
        return {nodes: t.n, boxes: bx.length, small: small.length,
                smallMerged: small.reduce((s, x) => s + x.small, 0), tiny: tiny.length,
                renderMs: window.rallo.renderMs, switchMs, searchMs, matches: found.count};
    });
    console.log(`large.html: ${stats.nodes} nodes, ${stats.boxes} boxes drawn, ${stats.small} "…N small" boxes ` +
                `merging ${stats.smallMerged} nodes; page load ${loadMs} ms, parse+render ${stats.renderMs.toFixed(0)} ms, ` +
                `metric switch ${stats.switchMs.toFixed(0)} ms, search ${stats.searchMs.toFixed(0)} ms`);
    assert.ok(stats.nodes > 50000, 'the tree has the sites');
    assert.ok(stats.small > 0, 'tiny nodes are collapsed');
    assert.equal(stats.tiny, 0, 'no drawn node under a pixel');
    assert.ok(stats.boxes < stats.nodes / 4, 'far fewer boxes than nodes');
    assert.ok(stats.matches > 0, 'search finds in the large tree');
    assert.deepEqual(errors, [], 'console errors');
    await page.evaluate(() => { window.rallo.search(''); window.rallo.setMetric('live_bytes'); });
    await page.screenshot({path: path.join(dir, 'large.png')});

    // ---- no allocations ----
    await open('empty.html');
    assert.ok((await page.locator('.rp-empty').innerText()).includes('No allocations'));
    console.log('html.browser: all checks passed; screenshots in ' + dir);
} catch (e) {
    failed = true;
    console.error(e);
} finally {
    await context.close();
    fs.rmSync(userDataDir, {recursive: true, force: true});
}
process.exit(failed ? 1 : 0);
