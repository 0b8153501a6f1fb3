/* diff.js - the page of `rallo diff -f html`: a flame graph of both profiles'
 * stacks, each frame red when its live bytes grew from BASE to NEW and blue
 * when they shrank (the stronger, the larger the change against the largest
 * one), grey when unchanged. Widths: by default the size of the change
 * (|growth| of each site, summed up the tree, so leaks and releases both
 * show); "NEW live bytes" sizes frames by what NEW holds. The tooltip gives
 * before, after and the change. window.ralloDiff is the hook tests drive. */
(function () {
    'use strict';
    const F = window.RalloFlame;
    const data = JSON.parse(document.getElementById('rallo-diff').textContent);
    const app = document.getElementById('rallo-app');
    /* The change as a metric of its own: RalloFlame sums it up the tree. */
    if (!F.METRICS.some(m => m.key === 'change'))
        F.METRICS.unshift({key: 'change', label: 'Size of change', unit: 'bytes'});
    const sites = data.tree.sites, before = data.before, n = sites.node.length;
    sites.change = new Array(n);
    for (let k = 0; k < n; k++) sites.change[k] = Math.abs(sites.live_bytes[k] - before.live_bytes[k]);
    const tree = F.buildTree(data.tree);

    /* per node, summed up the tree: BASE's live bytes and blocks, NEW's allocations */
    function sumUp(values) {
        const t = new Float64Array(tree.n);
        for (let k = 0; k < n; k++) if (sites.node[k] >= 0) t[sites.node[k]] += values[k] || 0;
        for (let i = tree.n - 1; i > 0; i--) t[tree.parent[i]] += t[i];
        return t;
    }
    const beforeLive = sumUp(before.live_bytes), beforeCount = sumUp(before.live_count);
    const beforeAlloc = sumUp(before.alloc_bytes);
    const growth = i => tree.total.live_bytes[i] - beforeLive[i];
    let maxChange = 0;
    for (let i = 1; i < tree.n; i++) maxChange = Math.max(maxChange, Math.abs(growth(i)));

    function colorFor(i) {
        if (i === 0) return null;
        const g = growth(i);
        if (g === 0) return 'hsl(30, 6%, 82%)';
        const strength = Math.sqrt(Math.min(1, Math.abs(g) / (maxChange || 1)));
        const light = Math.round(90 - 38 * strength);
        return g > 0 ? 'hsl(4, 82%, ' + light + '%)' : 'hsl(217, 82%, ' + light + '%)';
    }
    const signed = v => (v > 0 ? '+' : v < 0 ? '\u2212' : '') + F.formatBytes(Math.abs(v));
    function tooltipExtra(i) {
        const g = growth(i), c = tree.total.live_count[i] - beforeCount[i];
        return [
            ['live bytes before', F.formatBytes(beforeLive[i]) + '  (' + F.formatCount(beforeCount[i]) + ' blocks)'],
            ['live bytes after', F.formatBytes(tree.total.live_bytes[i]) + '  (' + F.formatCount(tree.total.live_count[i]) + ' blocks)'],
            ['change', signed(g) + '  (' + (c >= 0 ? '+' : '\u2212') + F.formatCount(Math.abs(c)) + ' blocks)'],
            ['allocated', F.formatBytes(beforeAlloc[i]) + ' \u2192 ' + F.formatBytes(tree.total.alloc_bytes[i])],
        ];
    }

    function el(tag, cls, text) {
        const e = document.createElement(tag);
        if (cls) e.className = cls;
        if (text !== undefined && text !== null) e.textContent = text;
        return e;
    }
    const head = el('header', 'rp-head');
    const title = el('div', 'rp-title');
    title.append(el('span', 'rp-logo', 'rallo diff'), el('h1', '', data.new.split('/').pop()));
    const sub = el('div', 'rp-sub');
    sub.append(el('span', '', 'base: ' + data.base), el('span', '', 'new: ' + data.new));
    head.append(title, sub);
    const bt = data.base_totals, nt = data.new_totals, cards = el('div', 'rp-cards');
    const card = (name, big, small) => {
        const c = el('div', 'rp-card');
        c.append(el('div', 'rp-card-title', name), el('div', 'rp-card-big', big), el('div', 'rp-card-small', small));
        return c;
    };
    let grew = 0, shrank = 0;
    for (let k = 0; k < n; k++) {
        const g = sites.live_bytes[k] - before.live_bytes[k];
        if (g > 0) grew += g; else shrank -= g;
    }
    cards.append(
        card('Live bytes change', signed(nt.live_bytes - bt.live_bytes), F.formatBytes(bt.live_bytes) + ' \u2192 ' + F.formatBytes(nt.live_bytes)),
        card('Grew', signed(grew), 'at sites holding more (red)'),
        card('Shrank', signed(-shrank), 'at sites holding less (blue)'),
        card('Allocated', F.formatBytes(bt.alloc_bytes) + ' \u2192 ' + F.formatBytes(nt.alloc_bytes),
             F.formatCount(bt.alloc_count) + ' \u2192 ' + F.formatCount(nt.alloc_count) + ' allocations'));
    head.append(cards);
    app.append(head);
    const controls = el('div', 'rp-controls'), bar = el('div', 'rp-switch');
    const describe = el('p', 'rp-describe');
    controls.append(bar, describe);
    const flameBox = el('section', 'rp-flame');
    app.append(controls, flameBox);
    const MODES = [
        {key: 'change', label: 'Width: size of change', text: 'Frames as wide as the change in their live bytes; red grew, blue shrank.'},
        {key: 'live_bytes', label: 'Width: NEW live bytes', text: 'Frames as wide as what NEW holds; red grew, blue shrank since BASE.'},
    ];
    const flame = F.render(flameBox, tree, {metric: 'change', colorFor, tooltipExtra});
    function setMode(key) {
        flame.setMetric(key);
        for (const b of bar.children) b.setAttribute('aria-selected', String(b.dataset.metric === key));
        describe.textContent = MODES.find(m => m.key === key).text;
    }
    for (const m of MODES) {
        const b = el('button', '', m.label);
        b.dataset.metric = m.key;
        b.addEventListener('click', () => setMode(m.key));
        bar.append(b);
    }
    setMode('change');
    app.append(el('footer', 'rp-foot', 'Sites are matched by their symbolized stacks. Click a frame to zoom. Generated by rallo.'));
    window.ralloDiff = {data, tree, flame, growth, beforeLive, colorFor, setMode};
})();
