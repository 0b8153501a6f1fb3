// browser_cli.mjs - opens the timeline page of `rallo report DIR` (argv[2])
// and the diff page of `rallo diff -f html` (argv[3]) in headless Chromium
// (/usr/bin/chromium through playwright-core from tests/html/node_modules)
// with every network request blocked, and checks them against what
// cli_target.c allocated: the chart has one area per series and one point per
// dump; clicking the first point shows the flame graph of that dump (1 MiB in
// stage_one, no stage_two); the leak in the diff is red and the kept site grey.
import assert from 'node:assert/strict';
import path from 'node:path';

import { withChromium } from '../common/chromium.mjs';

const [timelinePage, diffPage] = process.argv.slice(2).map(p => path.resolve(p));
const MiB = 1024 * 1024;

await withChromium('rallo-cli-test-', async ({page, allow, errors, blocked}) => {
    // ---- the timeline ----
    await page.goto(allow(timelinePage));
    await page.waitForFunction(() => window.ralloTimeline && window.ralloTimeline.flame());
    const chart = await page.evaluate(() => {
        const t = window.ralloTimeline, box = t.chart.getBoundingClientRect();
        return {areas: t.chart.querySelectorAll('path.rt-area').length, points: t.chart.querySelectorAll('circle.rt-point').length,
                series: t.series.length, npoints: t.data.points.length, width: box.width, height: box.height,
                selected: t.selected(), labels: t.series.map(s => s.label)};
    });
    console.log('chart:', JSON.stringify(chart));
    assert.equal(chart.npoints, 4, 'four dumps');
    assert.equal(chart.points, 4, 'one marker per dump');
    assert.equal(chart.areas, chart.series, 'one area per series');
    assert.ok(chart.width > 500 && chart.height > 100, 'the chart has a size');
    assert.equal(chart.selected, 3, 'the last dump is shown first');
    // Its pixels: the chart is not blank (an area is filled where stage_three sits).
    const shot = await page.locator('svg.rt-svg').screenshot();
    assert.ok(shot.length > 3000, 'the chart renders to a non-trivial image');

    const flameOf = () => page.evaluate(() => {
        const f = window.ralloTimeline.flame(), tree = f.tree;
        const total = name => f.find(name).reduce((sum, n) => sum + tree.total.live_bytes[n], 0);
        return {root: tree.total.live_bytes[0], one: total('stage_one'), two: total('stage_two'),
                three: total('stage_three'), boxes: f.boxes().filter(b => b.kind === 'node').map(b => b.name)};
    });
    let flame = await flameOf();
    assert.equal(flame.one, 1 * MiB, 'final: stage_one 1 MiB');
    assert.equal(flame.two, 2 * MiB, 'final: stage_two 2 MiB');
    assert.equal(flame.three, 3 * MiB, 'final: stage_three 3 MiB');

    // Choose the first dump by clicking its point on the chart.
    const xy = await page.evaluate(() => window.ralloTimeline.pointXY(0));
    await page.mouse.click(xy.x, xy.y);
    await page.waitForFunction(() => window.ralloTimeline.selected() === 0);
    flame = await flameOf();
    console.log('first dump:', JSON.stringify({root: flame.root, one: flame.one, two: flame.two}));
    assert.equal(flame.one, 1 * MiB, 'dump 1: stage_one 1 MiB');
    assert.equal(flame.two, 0, 'dump 1: nothing of stage_two yet');
    assert.ok(flame.boxes.includes('stage_one') && !flame.boxes.includes('stage_two'), 'dump 1 draws stage_one only');
    const info = await page.locator('.rt-info').textContent();
    assert.match(info, /dump 1/, 'the info line names dump 1');
    // The keyboard moves to the next dump.
    await page.locator('svg.rt-svg').focus();
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => window.ralloTimeline.selected() === 1);
    flame = await flameOf();
    assert.equal(flame.two, 2 * MiB, 'dump 2: stage_two 2 MiB');
    assert.equal(flame.three, 0, 'dump 2: no stage_three');
    await page.screenshot({path: timelinePage.replace(/\.html$/, '.png'), fullPage: true});
    assert.deepEqual(errors, [], 'console errors');
    assert.deepEqual(blocked, [], 'network requests');

    // ---- the diff ----
    await page.goto(allow(diffPage));
    await page.waitForFunction(() => window.ralloDiff && window.ralloDiff.flame);
    const diff = await page.evaluate(() => {
        const d = window.ralloDiff, f = d.flame;
        const leak = f.find('leak_here')[0], kept = f.find('keep_A')[0];
        const boxes = f.boxes().filter(b => b.kind === 'node').map(b => b.name);
        return {leakGrowth: d.growth(leak), leakColor: d.colorFor(leak), keptColor: kept >= 0 ? d.colorFor(kept) : null,
                keptGrowth: kept >= 0 ? d.growth(kept) : null, metric: f.state.metric, boxes,
                rootChange: f.tree.total.change[0]};
    });
    console.log('diff:', JSON.stringify(diff));
    assert.equal(diff.leakGrowth, 37000, 'leak_here grew by 37000 B');
    assert.match(diff.leakColor, /^hsl\(4,/, 'the leak is red');
    assert.equal(diff.keptGrowth, 0, 'keep_A did not change');
    assert.match(diff.keptColor, /^hsl\(30, 6%/, 'keep_A is grey');
    assert.equal(diff.metric, 'change', 'widths: the size of the change');
    assert.equal(diff.rootChange, 37000, 'the only change is the leak');
    assert.ok(diff.boxes.includes('leak_here'), 'leak_here is drawn');
    await page.screenshot({path: diffPage.replace(/\.html$/, '.png'), fullPage: true});
    assert.deepEqual(errors, [], 'console errors');
    assert.deepEqual(blocked, [], 'network requests');
    console.log('browser checks passed');
});
