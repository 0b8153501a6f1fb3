/* timeline.js - the page of `rallo report DIR`: live bytes over time from a
 * process's periodic dumps, the top sites stacked (the rest as "other"), and
 * below it the flame graph (RalloFlame) of the dump chosen on the chart. The
 * data (#rallo-timeline, written by report/cli/timeline.c) holds one call tree
 * for the union of all dumps' sites and, per dump, the values of its sites;
 * choosing a dump rebuilds the tree's values from those. Dumps that carry
 * lifetimes (RALLO_LIFETIMES) add, under the chart, the temporary allocations
 * made between one dump and the next, and their per-site temporaries to the
 * flame graph. Every name goes in through textContent. window.ralloTimeline
 * is the hook tests drive it by. */
(function () {
    'use strict';
    const F = window.RalloFlame;
    const data = JSON.parse(document.getElementById('rallo-timeline').textContent);
    const base = data.tree, points = data.points, nsites = base.sites.node.length;
    const app = document.getElementById('rallo-app');
    const SVG = 'http://www.w3.org/2000/svg';
    const VALUE_KEYS = ['live_bytes', 'live_count', 'alloc_bytes', 'alloc_count', 'free_count', 'free_bytes',
                        'peak_live_bytes'];
    const PALETTE = ['#ea580c', '#2563eb', '#16a34a', '#9333ea', '#dc2626', '#0891b2', '#ca8a04', '#db2777',
                     '#4f46e5', '#65a30d'];
    const OTHER_COLOR = '#a8a29e';

    function el(tag, cls, text) {
        const e = document.createElement(tag);
        if (cls) e.className = cls;
        if (text !== undefined && text !== null) e.textContent = text;
        return e;
    }
    function svg(tag, attrs) {
        const e = document.createElementNS(SVG, tag);
        for (const k in attrs) e.setAttribute(k, attrs[k]);
        return e;
    }

    /* ---- the stacked series: per point, the top sites' live bytes, then the rest ---- */
    const series = data.series.map((s, k) => ({site: s.site, label: s.label, color: PALETTE[k % PALETTE.length]}));
    series.push({site: -1, label: 'other sites', color: OTHER_COLOR});
    const seriesIndex = new Map(data.series.map((s, k) => [s.site, k]));
    const layers = points.map(p => {
        const row = new Float64Array(series.length), v = p.values;
        let all = 0;
        for (let k = 0; k < v.length; k += 8) {
            all += v[k + 1];
            const s = seriesIndex.get(v[k]);
            if (s !== undefined) row[s] = v[k + 1];
        }
        let top = 0;
        for (let s = 0; s < series.length - 1; s++) top += row[s];
        row[series.length - 1] = Math.max(0, all - top);
        return row;
    });
    const stackTop = layers.map(row => row.reduce((a, b) => a + b, 0));

    /* x: seconds since the first dump; the dumps' order when times are missing */
    const t0 = points.length ? points[0].time_unix_ms : 0;
    const byTime = points.length > 1 && points.every((p, i) => p.time_unix_ms > 0 && (i === 0 || p.time_unix_ms >= points[i - 1].time_unix_ms)) &&
        points[points.length - 1].time_unix_ms > t0;
    const xValue = i => byTime ? (points[i].time_unix_ms - t0) / 1000 : i;
    const xMax = points.length > 1 ? xValue(points.length - 1) : 1;
    const yMax = Math.max(1, ...stackTop);

    /* ---- one point's tree ---- */
    function pointData(i) {
        const p = points[i], arrays = {};
        for (const key of VALUE_KEYS) arrays[key] = new Float64Array(nsites);
        const v = p.values;
        for (let k = 0; k < v.length; k += 8)
            for (let m = 0; m < VALUE_KEYS.length; m++) arrays[VALUE_KEYS[m]][v[k]] = v[k + 1 + m];
        const sites = {node: base.sites.node, file: base.sites.file, line: base.sites.line};
        for (const key of VALUE_KEYS) sites[key] = arrays[key];
        if (p.temps) {
            sites.temp_count = new Float64Array(nsites);
            sites.temp_bytes = new Float64Array(nsites);
            for (let k = 0; k < p.temps.length; k += 3) {
                sites.temp_count[p.temps[k]] = p.temps[k + 1];
                sites.temp_bytes[p.temps[k]] = p.temps[k + 2];
            }
        }
        return {version: 1, strings: base.strings, nodes: base.nodes, sites,
                meta: {pid: data.pid, program: data.program, time_unix_ms: p.time_unix_ms,
                       sample_interval: data.sample_interval, totals: p.totals, untracked: base.meta.untracked}};
    }

    function pointName(i) {
        const p = points[i];
        return (p.seq === 'final' ? 'final dump' : 'dump ' + p.seq) +
            (byTime ? ' at +' + xValue(i).toFixed(xMax < 10 ? 2 : 1) + ' s' : '');
    }

    /* ---- header ---- */
    const program = data.program || 'process';
    const head = el('header', 'rp-head');
    const title = el('div', 'rp-title');
    title.append(el('span', 'rp-logo', 'rallo'), el('h1', '', program.split('/').filter(Boolean).pop() || program));
    const sub = el('div', 'rp-sub');
    const span = byTime ? ' over ' + xMax.toFixed(1) + ' s' : '';
    for (const part of ['pid ' + data.pid, program, points.length + ' dumps' + span, data.dir,
                        data.sample_interval > 1 ? 'sampled, one per ~' + F.formatBytes(data.sample_interval) +
                            ' allocated (numbers are estimates)' : 'every allocation tracked'])
        sub.append(el('span', '', part));
    head.append(title, sub);
    app.append(head);

    /* ---- the chart ---- */
    const W = 1000, H = 260, PAD_L = 70, PAD_R = 12, PAD_T = 10, PAD_B = 28;
    const chartBox = el('section', 'rt-chart');
    const chart = svg('svg', {viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'live bytes over time'});
    chart.classList.add('rt-svg');
    const px = x => PAD_L + (W - PAD_L - PAD_R) * (xMax > 0 ? x / xMax : 0);
    const py = y => PAD_T + (H - PAD_T - PAD_B) * (1 - y / yMax);
    for (let g = 0; g <= 4; g++) {
        const y = yMax * g / 4;
        chart.append(svg('line', {x1: PAD_L, x2: W - PAD_R, y1: py(y), y2: py(y), class: 'rt-grid'}));
        const t = svg('text', {x: PAD_L - 6, y: py(y) + 4, class: 'rt-axis', 'text-anchor': 'end'});
        t.textContent = F.formatBytes(y);
        chart.append(t);
    }
    const xLabel = svg('text', {x: W - PAD_R, y: H - 6, class: 'rt-axis', 'text-anchor': 'end'});
    xLabel.textContent = byTime ? xMax.toFixed(1) + ' s' : 'dump ' + points.length;
    const xStart = svg('text', {x: PAD_L, y: H - 6, class: 'rt-axis'});
    xStart.textContent = byTime ? '0 s' : 'dump 1';
    chart.append(xLabel, xStart);
    const below = new Float64Array(points.length);
    series.forEach((s, k) => {
        if (!points.length) return;
        let up = '', down = '';
        for (let i = 0; i < points.length; i++) up += (i ? 'L' : 'M') + px(xValue(i)).toFixed(1) + ',' + py(below[i] + layers[i][k]).toFixed(1);
        for (let i = points.length - 1; i >= 0; i--) down += 'L' + px(xValue(i)).toFixed(1) + ',' + py(below[i]).toFixed(1);
        for (let i = 0; i < points.length; i++) below[i] += layers[i][k];
        const area = svg('path', {d: up + down + 'Z', fill: s.color, class: 'rt-area'});
        area.dataset.series = String(k);
        const tip = svg('title', {});
        tip.textContent = s.label;
        area.append(tip);
        chart.append(area);
    });
    const cursor = svg('line', {y1: PAD_T, y2: H - PAD_B, class: 'rt-cursor'});
    chart.append(cursor);
    const markers = points.map((p, i) => {
        const c = svg('circle', {cx: px(xValue(i)), cy: py(stackTop[i]), r: 4, class: 'rt-point'});
        c.dataset.index = String(i);
        const tip = svg('title', {});
        tip.textContent = pointName(i) + ': ' + F.formatBytes(stackTop[i]) + ' live';
        c.append(tip);
        chart.append(c);
        return c;
    });
    chart.addEventListener('click', ev => {
        const r = chart.getBoundingClientRect();
        const x = (ev.clientX - r.left) * W / r.width;
        let best = 0;
        for (let i = 1; i < points.length; i++)
            if (Math.abs(px(xValue(i)) - x) < Math.abs(px(xValue(best)) - x)) best = i;
        select(best);
    });
    chart.tabIndex = 0;
    chart.addEventListener('keydown', ev => {
        if (ev.key === 'ArrowLeft' && selected > 0) { select(selected - 1); ev.preventDefault(); }
        if (ev.key === 'ArrowRight' && selected < points.length - 1) { select(selected + 1); ev.preventDefault(); }
    });
    chartBox.append(el('h2', 'rt-h2', 'Live bytes over time, top sites stacked'), chart);
    const legend = el('ol', 'rt-legend');
    const legendValues = series.map((s, k) => {
        const li = el('li');
        const sw = el('span', 'rt-swatch');
        sw.style.background = s.color;
        const value = el('span', 'rt-value');
        li.append(sw, value, el('span', 'rt-label', s.label));
        li.dataset.series = String(k);
        legend.append(li);
        return value;
    });
    chartBox.append(legend);

    /* ---- temporary allocations per interval (dumps with lifetimes) ---- */
    const withTemps = points.some(p => p.temporary);
    const temporaries = points.map((p, i) => {
        const now = p.temporary || {count: 0, bytes: 0}, before = i > 0 && points[i - 1].temporary;
        return {count: Math.max(0, now.count - (before ? before.count : 0)),
                bytes: Math.max(0, now.bytes - (before ? before.bytes : 0))};
    });
    if (withTemps) {
        const TH = 110, tMax = Math.max(1, ...temporaries.map(t => t.count));
        const strip = svg('svg', {viewBox: '0 0 ' + W + ' ' + TH, role: 'img',
                                  'aria-label': 'temporary allocations per interval'});
        strip.classList.add('rt-strip');
        const ty = y => PAD_T + (TH - PAD_T - PAD_B) * (1 - y / tMax);
        for (const y of [0, tMax]) {
            strip.append(svg('line', {x1: PAD_L, x2: W - PAD_R, y1: ty(y), y2: ty(y), class: 'rt-grid'}));
            const t = svg('text', {x: PAD_L - 6, y: ty(y) + 4, class: 'rt-axis', 'text-anchor': 'end'});
            t.textContent = F.formatCount(y);
            strip.append(t);
        }
        temporaries.forEach((t, i) => {
            const right = px(xValue(i)), left = i > 0 ? px(xValue(i - 1)) : right - 6;
            const bar = svg('rect', {x: left + 1, width: Math.max(2, right - left - 2), y: ty(t.count),
                                     height: ty(0) - ty(t.count), class: 'rt-temp'});
            bar.dataset.index = String(i);
            const tip = svg('title', {});
            tip.textContent = pointName(i) + ': ' + F.formatCount(t.count) + ' temporary allocations (' +
                F.formatBytes(t.bytes) + ') since ' + (i > 0 ? 'the dump before' : 'tracking began');
            bar.append(tip);
            strip.append(bar);
        });
        chartBox.append(el('h2', 'rt-h2', 'Temporary allocations per interval (freed by the allocating thread ' +
            'before it allocated anything else)'), strip);
    }
    chartBox.append(el('p', 'rt-hint', 'Click the chart (or use \u2190 \u2192 on it) to choose a dump; its flame graph is below.'));
    app.append(chartBox);

    /* ---- the chosen dump ---- */
    const info = el('div', 'rt-info');
    const controls = el('div', 'rp-controls');
    const flameBox = el('section', 'rp-flame');
    app.append(info, controls, flameBox);
    const metricBar = el('div', 'rp-switch');
    controls.append(metricBar);
    let selected = -1, flame = null, metric = 'live_bytes';

    function syncMetrics(tree) {
        metricBar.replaceChildren();
        for (const m of tree.metrics) {
            const b = el('button', '', m.label);
            b.dataset.metric = m.key;
            b.setAttribute('aria-selected', String(m.key === metric));
            b.addEventListener('click', () => { metric = m.key; flame.setMetric(m.key); syncMetrics(tree); });
            metricBar.append(b);
        }
    }

    function select(i) {
        if (!(i >= 0 && i < points.length)) return;
        selected = i;
        const p = points[i], t = p.totals;
        const x = px(xValue(i));
        cursor.setAttribute('x1', x);
        cursor.setAttribute('x2', x);
        markers.forEach((m, k) => m.classList.toggle('rt-selected', k === i));
        legendValues.forEach((v, k) => { v.textContent = F.formatBytes(layers[i][k]); });
        info.replaceChildren(el('strong', '', pointName(i)), el('span', '', p.file),
            el('span', '', 'live ' + F.formatBytes(t.live_bytes) + ' in ' + F.formatCount(t.live_count) + ' blocks'),
            el('span', '', 'allocated ' + F.formatBytes(t.alloc_bytes) + ' in ' + F.formatCount(t.alloc_count)),
            el('span', '', 'peak so far ' + F.formatBytes(t.peak_live_bytes)));
        if (withTemps)
            info.append(el('span', '', 'temporary ' + F.formatCount(temporaries[i].count) + ' (' +
                F.formatBytes(temporaries[i].bytes) + ') in this interval'));
        const tree = F.buildTree(pointData(i));
        if (!tree.metrics.some(m => m.key === metric)) metric = 'live_bytes';
        flameBox.replaceChildren();
        flame = F.render(flameBox, tree, {metric});
        flameBox.dataset.point = String(i);
        syncMetrics(tree);
    }

    app.append(el('footer', 'rp-foot', 'Each point is one dump of the process; the stacked areas are the ' +
        (series.length - 1) + ' sites that held the most live bytes at any point, and all others. ' +
        'Click a frame to zoom. Generated by rallo.'));
    if (points.length) select(points.length - 1);

    window.ralloTimeline = {
        data, series, layers, chart, temporaries: withTemps ? temporaries : null,
        select,
        selected: () => selected,
        flame: () => flame,
        /* client coordinates of a point on the chart, for a simulated click */
        pointXY(i) {
            const r = chart.getBoundingClientRect();
            return {x: r.left + px(xValue(i)) * r.width / W, y: r.top + (py(stackTop[i]) + 2) * r.height / H};
        },
    };
})();
