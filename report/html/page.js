/* page.js - the single-profile report: header with the totals, the metric
 * switch, the flame graph (RalloFlame) and the site tables (top sites, leaks,
 * peak consumers), from the JSON in #rallo-data. Every name goes in through
 * textContent. window.rallo is the hook tests and curious users drive it by. */
(function () {
    'use strict';
    const F = window.RalloFlame;
    const data = JSON.parse(document.getElementById('rallo-data').textContent);
    const t0 = performance.now();
    const tree = F.buildTree(data);
    const meta = data.meta, totals = meta.totals, app = document.getElementById('rallo-app');
    const DESCRIBE = {
        live_bytes: 'Memory still allocated when this report was taken, by the stack that allocated it (in an exit dump: what leaked).',
        live_count: 'Blocks still allocated when this report was taken, by the stack that allocated them.',
        alloc_bytes: 'All bytes ever allocated, freed or not: where the allocation traffic comes from.',
        alloc_count: 'How many allocations each stack made, freed or not.',
        peak_live_bytes: 'What each stack held when the process\u2019s live memory peaked (a copy of the counters taken ' +
            'each time live memory grows 1% past the last one: it can trail the peak by up to ~1%, shown as its own row ' +
            'in the At peak table).',
        temp_count: 'Temporary allocations: blocks freed by the thread that allocated them before it allocated ' +
            'anything else (heaptrack\u2019s definition): churn a reused buffer would remove.',
        temp_bytes: 'Bytes of temporary allocations (blocks freed by their thread before it allocated anything else).',
    };

    function el(tag, cls, text) {
        const e = document.createElement(tag);
        if (cls) e.className = cls;
        if (text !== undefined && text !== null) e.textContent = text;
        return e;
    }

    /* ---- header ---- */
    /* "2026-01-01 00:00:00 UTC+01:00": local time, unambiguous. */
    function formatTime(d) {
        const two = n => String(n).padStart(2, '0'), off = -d.getTimezoneOffset();
        return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()) + ' ' + two(d.getHours()) + ':' +
            two(d.getMinutes()) + ':' + two(d.getSeconds()) + ' UTC' + (off < 0 ? '-' : '+') +
            two(Math.floor(Math.abs(off) / 60)) + ':' + two(Math.abs(off) % 60);
    }

    function card(title, big, small, hint) {
        const c = el('div', 'rp-card');
        c.append(el('div', 'rp-card-title', title), el('div', 'rp-card-big', big));
        if (small) c.append(el('div', 'rp-card-small', small));
        if (hint) c.title = hint;
        return c;
    }

    function header() {
        const h = el('header', 'rp-head');
        const program = meta.program || 'process';
        const base = program.split('/').filter(Boolean).pop() || program;
        const title = el('div', 'rp-title');
        title.append(el('span', 'rp-logo', 'rallo'), el('h1', '', base));
        const when = meta.time_unix_ms ? formatTime(new Date(meta.time_unix_ms)) : 'unknown time';
        const samples = meta.samples || {live: 0, allocated: 0};
        const sampling = meta.sample_interval > 1
            ? 'sampled, one per ~' + F.formatBytes(meta.sample_interval) + ' allocated: numbers are estimates from at most ' +
              F.formatCount(samples.allocated) + ' samples, ' + F.formatCount(samples.live) + ' of them live'
            : 'every allocation tracked';
        const sub = el('div', 'rp-sub');
        for (const part of ['pid ' + meta.pid, meta.command || program, when, sampling]) sub.append(el('span', '', part));
        h.append(title, sub);
        /* A sampled profile with few live samples says so: an empty or thin
         * graph is then the sampling, not the program. */
        if (meta.sample_interval > 1 && samples.live < 100) {
            const root = Math.sqrt(Math.max(samples.live, 1));
            h.append(el('p', 'rp-note', samples.live === 0
                ? 'This profile holds no live samples: with one sample per ~' + F.formatBytes(meta.sample_interval) +
                  ' allocated, the memory live when it was taken (' + F.formatBytes(totals.live_bytes) + ') drew none, so ' +
                  'the live view is empty. A smaller RALLO_SAMPLE (rallo run --sample) would show more.'
                : 'This profile holds at most ' + F.formatCount(samples.live) + ' live samples: its live figures are good to ' +
                  'about \u00b1' + Math.round(100 / root) + '% and sites holding less than ~' +
                  F.formatBytes(meta.sample_interval) + ' are mostly missing. A smaller RALLO_SAMPLE (rallo run --sample) ' +
                  'would show more.'));
        }
        const cards = el('div', 'rp-cards');
        cards.append(
            card('Live', F.formatBytes(totals.live_bytes), F.formatCount(totals.live_count) + ' blocks'),
            card('Peak live', F.formatBytes(totals.peak_live_bytes), totals.live_bytes && totals.peak_live_bytes
                ? 'now ' + F.formatShare(totals.live_bytes, totals.peak_live_bytes) + ' of peak' : ''),
            card('Allocated', F.formatBytes(totals.alloc_bytes), F.formatCount(totals.alloc_count) + ' allocations'),
            card('Freed', F.formatBytes(totals.free_bytes), F.formatCount(totals.free_count) + ' frees'),
            card('Call sites', F.formatCount(data.sites.node.length), F.formatCount(tree.n - 1) + ' frames in the tree'));
        const u = meta.untracked, reasons = Object.keys(u).filter(k => u[k] > 0)
            .map(k => k.replace(/_/g, ' ') + ': ' + F.formatCount(u[k]));
        const untracked = card('Untracked', F.formatCount(totals.untracked_count || 0),
            reasons.length ? reasons.join(', ') : 'allocations served without accounting',
            'Allocations made while tracking was on but served untracked (not in the graph).');
        if (totals.untracked_count > 0) untracked.classList.add('rp-warn');
        cards.append(untracked);
        h.append(cards);
        return h;
    }

    /* ---- metric switch ---- */
    function metricSwitch(flame, describe) {
        const s = el('div', 'rp-switch');
        s.setAttribute('role', 'tablist');
        for (const m of tree.metrics) {
            const b = el('button', '', m.label);
            b.dataset.metric = m.key;
            b.setAttribute('role', 'tab');
            b.addEventListener('click', () => page.setMetric(m.key));
            s.append(b);
        }
        const sync = () => {
            for (const b of s.children) b.setAttribute('aria-selected', String(b.dataset.metric === flame.state.metric));
            describe.textContent = DESCRIBE[flame.state.metric] || '';
        };
        return {element: s, sync};
    }

    /* ---- site tables ---- */
    const VIEWS = [
        {key: 'top', label: 'Top sites', sort: () => flame.state.metric, filter: () => true,
         summary: () => 'Sites by ' + F.metricInfo(flame.state.metric).label.toLowerCase() + ' (the graph\u2019s metric).'},
        {key: 'leaks', label: 'Leaks', sort: () => 'live_bytes', filter: k => data.sites.live_count[k] > 0,
         summary: n => n + ' sites still held ' + F.formatBytes(totals.live_bytes) + ' in ' +
             F.formatCount(totals.live_count) + ' blocks when this report was taken (in an exit dump: leaked).'},
        {key: 'peak', label: 'At peak', sort: () => 'peak_live_bytes', filter: k => data.sites.peak_live_bytes[k] > 0,
         summary: n => n + ' sites held memory when live memory peaked at ' + F.formatBytes(totals.peak_live_bytes) + '.' +
             (peakRemainder > 0 ? ' ' + F.formatBytes(peakRemainder) + ' of it is in no site (last row): the per-site ' +
              'figures are a copy taken each time live memory grew 1% past the last one, up to ~1% short of the peak.' : '')},
    ].filter(v => v.key !== 'peak' || tree.total.peak_live_bytes[0] > 0);

    /* The peak's bytes the per-site copy does not account for. */
    let peakAttributed = 0;
    for (const v of data.sites.peak_live_bytes) peakAttributed += v;
    const peakRemainder = peakAttributed > 0 ? Math.max(0, totals.peak_live_bytes - peakAttributed) : 0;

    function siteStack(k) {
        const names = [];
        for (let p = tree.parent[data.sites.node[k]]; p > 0 && names.length < 4; p = tree.parent[p]) names.push(tree.name(p));
        return names;
    }

    /* A site's log2 histogram as a line of bars, the counts in its title:
     * sizes asked for, and lifetimes of the freed blocks. */
    const BARS = '\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588';
    function bucketLabel(k, unit) {
        if (unit === 'B') return F.formatBytes(k ? Math.pow(2, k) : 0) + '\u2013' + F.formatBytes(Math.pow(2, k + 1) - 1);
        const ns = Math.pow(2, k);
        return ns < 1e3 ? ns + ' ns' : ns < 1e6 ? (ns / 1e3).toPrecision(3) + ' \u00b5s' :
            ns < 1e9 ? (ns / 1e6).toPrecision(3) + ' ms' : (ns / 1e9).toPrecision(3) + ' s';
    }
    function histogram(label, counts, unit) {
        if (!counts || !counts.length) return null;
        let first = 0, max = 0;
        while (first < counts.length && counts[first] === 0) first++;
        for (const c of counts) max = Math.max(max, c);
        if (max === 0) return null;
        const bars = counts.slice(first).map(c => c === 0 ? '\u00a0' : BARS[Math.min(7, Math.floor(8 * c / max - 1e-9))]).join('');
        const line = el('div', 'rp-hist', label + ' ' + bucketLabel(first, unit) + ' ' + bars + ' ' +
            bucketLabel(counts.length - 1, unit));
        line.title = counts.map((c, k) => c ? bucketLabel(k, unit) + ': ' + F.formatCount(c) : '').filter(x => x).join('\n');
        return line;
    }

    function tables() {
        const section = el('section', 'rp-tables');
        const tabs = el('div', 'rp-tabs');
        const summary = el('p', 'rp-summary');
        const table = el('table', 'rp-table');
        const more = el('button', 'rp-more', 'Show more');
        section.append(tabs, summary, table, more);
        let view = VIEWS[0], shown = 50;
        const columns = tree.metrics.map(m => ({key: m.key, label: m.label, unit: m.unit}));

        function draw() {
            for (const b of tabs.children) b.setAttribute('aria-selected', String(b.dataset.view === view.key));
            const key = view.sort(), values = data.sites[key], sites = [];
            for (let k = 0; k < values.length; k++) if (view.filter(k) && values[k] > 0) sites.push(k);
            sites.sort((a, b) => values[b] - values[a]);
            summary.textContent = view.summary(sites.length);
            const whole = tree.total[key][0];
            table.replaceChildren();
            const head = el('tr');
            head.append(el('th', 'rp-rank', '#'), el('th', 'rp-where', 'Allocated at'));
            for (const c of columns) head.append(el('th', 'rp-num' + (c.key === key ? ' rp-sorted' : ''), c.label));
            const thead = el('thead');
            thead.append(head);
            const body = el('tbody');
            sites.slice(0, shown).forEach((k, rank) => {
                const node = data.sites.node[k], tr = el('tr');
                tr.dataset.node = String(node);
                const where = el('td', 'rp-where');
                const fn = el('div', 'rp-fn', node >= 0 ? tree.name(node) : '?');
                const file = data.sites.file[k] >= 0 ? tree.strings[data.sites.file[k]] +
                    (data.sites.line[k] ? ':' + data.sites.line[k] : '') : '';
                where.append(fn);
                if (file) where.append(el('div', 'rp-file', file));
                const callers = siteStack(k);
                if (callers.length) where.append(el('div', 'rp-callers', '\u2190 ' + callers.join(' \u2190 ')));
                for (const h of [histogram('sizes', data.sites.size_log2 && data.sites.size_log2[k], 'B'),
                                 histogram('lifetimes', data.sites.lifetime_log2_ns && data.sites.lifetime_log2_ns[k], 'ns')])
                    if (h) where.append(h);
                const bar = el('div', 'rp-bar');
                bar.style.width = (whole > 0 ? Math.max(0.5, 100 * values[k] / whole) : 0).toFixed(2) + '%';
                where.append(bar);
                tr.append(el('td', 'rp-rank', String(rank + 1)), where);
                for (const c of columns) {
                    const v = data.sites[c.key][k];
                    const td = el('td', 'rp-num' + (c.key === key ? ' rp-sorted' : ''), F.formatValue(v, c.unit));
                    if (c.key === key) td.append(el('span', 'rp-share', F.formatShare(v, whole)));
                    tr.append(td);
                }
                tr.addEventListener('click', () => {
                    flame.zoomTo(node);
                    flameBox.scrollIntoView({behavior: 'smooth', block: 'start'});
                });
                tr.title = 'Click to show this stack in the flame graph';
                body.append(tr);
            });
            if (view.key === 'peak' && peakRemainder > 0 && sites.length <= shown) {
                const tr = el('tr', 'rp-remainder'), where = el('td', 'rp-where');
                where.append(el('div', 'rp-fn', '(in no site: the copy trails the peak)'));
                tr.append(el('td', 'rp-rank', ''), where);
                for (const c of columns) {
                    const td = el('td', 'rp-num' + (c.key === key ? ' rp-sorted' : ''),
                        c.key === key ? F.formatValue(peakRemainder, c.unit) : '');
                    if (c.key === key) td.append(el('span', 'rp-share', F.formatShare(peakRemainder, totals.peak_live_bytes)));
                    tr.append(td);
                }
                body.append(tr);
            }
            table.append(thead, body);
            more.hidden = sites.length <= shown;
            more.textContent = 'Show ' + Math.min(100, sites.length - shown) + ' more of ' + (sites.length - shown);
        }
        for (const v of VIEWS) {
            const b = el('button', '', v.label);
            b.dataset.view = v.key;
            b.addEventListener('click', () => { view = v; shown = 50; draw(); });
            tabs.append(b);
        }
        more.addEventListener('click', () => { shown += 100; draw(); });
        return {element: section, draw, show(key) { view = VIEWS.find(v => v.key === key) || view; draw(); }};
    }

    /* ---- assemble ---- */
    app.append(header());
    const controls = el('div', 'rp-controls');
    const describe = el('p', 'rp-describe');
    const flameBox = el('section', 'rp-flame');
    app.append(controls, flameBox);
    let flame;
    if (tree.n <= 1 || tree.total.alloc_count[0] === 0) {
        flameBox.append(el('p', 'rp-empty', 'No allocations were tracked in this profile.'));
    }
    /* Open on what tells most: who held the peak when what is live now is
     * under half of it (a program that ran to completion and freed); what is
     * live when it is most of the peak (a dump mid-run); else the traffic. */
    const peakFirst = tree.total.peak_live_bytes[0] > 0 && totals.live_bytes < totals.peak_live_bytes / 2;
    const opening = peakFirst ? 'peak_live_bytes' : tree.total.live_bytes[0] > 0 ? 'live_bytes' : 'alloc_bytes';
    flame = F.render(flameBox, tree, {metric: opening});
    const sw = metricSwitch(flame, describe);
    controls.append(sw.element, describe);
    const siteTables = tables();
    app.append(siteTables.element);
    const footer = el('footer', 'rp-foot',
        'Click a frame to zoom, a breadcrumb or Reset (Esc) to zoom out; search takes text or /regex/. ' +
        'Frames narrower than a pixel are merged into \u201c\u2026N small\u201d. Generated by rallo.');
    app.append(footer);

    const page = {
        setMetric(key) { flame.setMetric(key); sw.sync(); siteTables.draw(); },
    };
    sw.sync();
    if (peakFirst) siteTables.show('peak');
    else siteTables.draw();
    document.addEventListener('keydown', ev => {
        if (ev.key === 'Escape' && document.activeElement.tagName !== 'INPUT') flame.reset();
        if (ev.key === '/' && document.activeElement.tagName !== 'INPUT') {
            ev.preventDefault();
            flame.element.querySelector('.rf-search').focus();
        }
    });
    const renderMs = performance.now() - t0;

    window.rallo = {
        data, tree, flame,
        setMetric: page.setMetric,
        search: q => flame.search(q),
        zoomTo: node => flame.zoomTo(node),
        reset: () => flame.reset(),
        find: name => flame.find(name),
        boxes: () => flame.boxes(),
        showTable: key => siteTables.show(key),
        opening, peakRemainder,
        renderMs,
    };
})();
