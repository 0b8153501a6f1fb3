// browser_timeline.mjs - opens the timeline page (argv[2]) of dumps that carry
// lifetimes in headless Chromium (/usr/bin/chromium through playwright-core
// from tests/html/node_modules), every network request blocked, and checks it
// against argv[3], the temporary allocations the last dump counts and argv[4],
// those of the site named argv[5]: one bar per dump under the chart, the bars
// adding up to the last dump's count, and the flame graph's Temporary view
// giving that site its temporaries.
import assert from 'node:assert/strict';
import path from 'node:path';

import { withChromium } from '../common/chromium.mjs';

const pagePath = path.resolve(process.argv[2]);
const [total, siteTemps] = process.argv.slice(3, 5).map(Number);
const site = process.argv[5];

await withChromium('rallo-lt-test-', async ({page, allow, errors, blocked}) => {
    await page.goto(allow(pagePath));
    await page.waitForFunction(() => window.ralloTimeline && window.ralloTimeline.flame());
    const seen = await page.evaluate(name => {
        const t = window.ralloTimeline, f = t.flame();
        f.setMetric('temp_count');
        return {points: t.data.points.length, bars: document.querySelectorAll('svg.rt-strip rect.rt-temp').length,
                sum: t.temporaries.reduce((a, b) => a + b.count, 0),
                metrics: f.tree.metrics.map(m => m.key),
                site: f.find(name).reduce((a, n) => a + f.tree.total.temp_count[n], 0),
                info: document.querySelector('.rt-info').textContent};
    }, site);
    console.log('timeline:', JSON.stringify(seen));
    assert.equal(seen.bars, seen.points, 'one bar per dump');
    assert.equal(seen.sum, total, 'the bars add up to the last dump\'s temporaries');
    assert.ok(seen.metrics.includes('temp_count'), 'the flame graph has a Temporary view');
    assert.equal(seen.site, siteTemps, `${site}'s temporaries in the flame graph`);
    assert.match(seen.info, /temporary [\d,]+ .* in this interval/, 'the info line gives the interval\'s temporaries');
    const shot = await page.locator('svg.rt-strip').screenshot();
    assert.ok(shot.length > 1000, 'the strip renders');
    assert.deepEqual(errors, [], 'console errors');
    assert.deepEqual(blocked, [], 'network requests');
    console.log('browser checks passed');
});
