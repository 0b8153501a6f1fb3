/* flamegraph.js - RalloFlame: the reusable part of rallo's HTML pages.
 *
 *   const tree = RalloFlame.buildTree(data);          // data: html_tree.c's JSON
 *   const flame = RalloFlame.render(container, tree, {metric: 'live_bytes'});
 *   flame.setMetric('alloc_bytes'); flame.search('vector'); flame.zoomTo(node); flame.reset();
 *
 * The tree is flat typed arrays (node 0 is the root, a parent's index is below
 * its children's), so 50,000 sites cost a few arrays, not objects. The graph is
 * drawn on one canvas, root at the top; only nodes at least a pixel wide are
 * laid out, the rest of a node's children merge into one "…N small" box.
 * Options a page may pass to render(): metric, colorFor(node, tree) -> CSS
 * color or null (a diff view colors growth/shrink), tooltipExtra(node, tree)
 * -> [[label, text], ...], onChange(flame) after every zoom/search/metric. */
(function () {
    'use strict';

    const METRICS = [
        {key: 'live_bytes', label: 'Live bytes', unit: 'bytes'},
        {key: 'live_count', label: 'Live blocks', unit: 'count'},
        {key: 'alloc_bytes', label: 'Allocated bytes', unit: 'bytes'},
        {key: 'alloc_count', label: 'Allocations', unit: 'count'},
        {key: 'peak_live_bytes', label: 'At peak', unit: 'bytes'},
        {key: 'temp_count', label: 'Temporary', unit: 'count'},
        {key: 'temp_bytes', label: 'Temporary bytes', unit: 'bytes'},
    ];
    /* Shown only when the profile has them: the peak copy, temporaries. */
    const OPTIONAL_METRICS = ['peak_live_bytes', 'temp_count', 'temp_bytes'];
    const FLAG_MIXED_LINES = 1, FLAG_INLINED = 2, FLAG_UNSYMBOLIZED = 4;
    const ROW = 20;           /* px per stack level */
    const MIN_WIDTH = 1;      /* narrower nodes merge into "…N small" */
    const KIND_NODE = 0, KIND_ANCESTOR = 1, KIND_SMALL = 2;

    /* ---- numbers ---- */
    function formatBytes(v) {
        const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
        let i = 0;
        while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
        if (i === 0) return Math.round(v) + ' B';
        return (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ' + units[i];
    }
    function formatCount(v) { return Math.round(v).toLocaleString('en-US'); }
    function formatValue(v, unit) { return unit === 'bytes' ? formatBytes(v) : formatCount(v); }
    function formatShare(part, whole) {
        if (!(whole > 0)) return '–';
        const p = 100 * part / whole;
        return (p >= 10 || p === 0 ? p.toFixed(1) : p >= 0.1 ? p.toFixed(2) : '<0.1') + '%';
    }
    function metricInfo(key) { return METRICS.find(m => m.key === key) || METRICS[0]; }

    /* ---- the tree ---- */
    function buildTree(data) {
        const nodes = data.nodes, sites = data.sites, n = nodes.parent.length;
        const parent = Int32Array.from(nodes.parent);
        const childStart = new Int32Array(n + 1);
        for (let i = 1; i < n; i++) childStart[parent[i] + 1]++;
        for (let i = 0; i < n; i++) childStart[i + 1] += childStart[i];
        const fill = childStart.slice(0, n), childList = new Int32Array(Math.max(n - 1, 0));
        for (let i = 1; i < n; i++) childList[fill[parent[i]]++] = i;
        const self = {}, total = {};
        for (const m of METRICS) {
            const s = new Float64Array(n), values = sites[m.key] || [];
            for (let k = 0; k < sites.node.length; k++) if (sites.node[k] >= 0) s[sites.node[k]] += values[k] || 0;
            const t = Float64Array.from(s);
            for (let i = n - 1; i > 0; i--) t[parent[i]] += t[i];
            self[m.key] = s;
            total[m.key] = t;
        }
        const strings = data.strings;
        return {
            n, parent, childStart, childList, strings, self, total, meta: data.meta, sites,
            nameId: Int32Array.from(nodes.name), file: Int32Array.from(nodes.file),
            line: Int32Array.from(nodes.line), module: Int32Array.from(nodes.module),
            flags: Uint8Array.from(nodes.flags),
            name(i) { return strings[this.nameId[i]]; },
            fileLine(i) {
                if (this.file[i] < 0) return '';
                return strings[this.file[i]] + (this.line[i] > 0 ? ':' + this.line[i] : '');
            },
            ancestors(i) { const a = []; for (let p = parent[i]; p >= 0; p = parent[p]) a.push(p); return a.reverse(); },
            metrics: METRICS.filter(m => !OPTIONAL_METRICS.includes(m.key) || total[m.key][0] > 0),
        };
    }

    /* ---- colors: warm hues by name, so a function keeps its color across views ---- */
    function hashString(s) {
        let h = 2166136261;
        for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
        return h >>> 0;
    }
    function baseColor(tree, i) {
        const f = tree.flags[i], h = hashString(tree.name(i));
        if (i === 0) return 'hsl(30, 8%, 72%)';
        if (f & FLAG_UNSYMBOLIZED) return 'hsl(220, 8%, ' + (68 + h % 10) + '%)';
        const hue = (f & FLAG_INLINED) ? 38 + h % 14 : 8 + h % 38;
        return 'hsl(' + hue + ', ' + (70 + (h >>> 8) % 20) + '%, ' + (58 + (h >>> 16) % 12) + '%)';
    }

    /* ---- the renderer ---- */
    function el(tag, cls, text) {
        const e = document.createElement(tag);
        if (cls) e.className = cls;
        if (text !== undefined) e.textContent = text;
        return e;
    }

    function render(container, tree, options) {
        options = options || {};
        const state = {metric: options.metric || 'live_bytes', zoom: 0, query: '', match: null, below: null,
                       matchCount: 0, matchValue: 0};
        const root = el('div', 'rf');
        const bar = el('div', 'rf-bar');
        const crumbs = el('nav', 'rf-crumbs');
        crumbs.setAttribute('aria-label', 'zoom path');
        const searchBox = el('input', 'rf-search');
        searchBox.type = 'search';
        searchBox.placeholder = 'Search functions (text or /regex/)';
        searchBox.setAttribute('aria-label', 'search functions');
        const matchInfo = el('span', 'rf-match');
        const resetButton = el('button', 'rf-reset', 'Reset zoom');
        bar.append(crumbs, searchBox, matchInfo, resetButton);
        const stage = el('div', 'rf-stage');
        const canvas = el('canvas', 'rf-canvas');
        const tip = el('div', 'rf-tip');
        tip.hidden = true;
        stage.append(canvas, tip);
        root.append(bar, stage);
        container.append(root);
        const ctx = canvas.getContext('2d');
        let hover = -1;             /* the box under the pointer, outlined */
        const hatch = (() => {      /* collapsed boxes: hatched, so they read as "more here" */
            const c = document.createElement('canvas');
            c.width = c.height = 6;
            const g = c.getContext('2d');
            g.fillStyle = 'hsl(30, 8%, 88%)';
            g.fillRect(0, 0, 6, 6);
            g.strokeStyle = 'hsl(30, 8%, 70%)';
            g.beginPath(); g.moveTo(0, 6); g.lineTo(6, 0); g.stroke();
            return ctx.createPattern(c, 'repeat');
        })();

        /* laid-out boxes, as parallel arrays */
        let count = 0, bx = new Float64Array(1024), bw = new Float64Array(1024);
        let brow = new Int32Array(1024), bnode = new Int32Array(1024), bkind = new Uint8Array(1024);
        let bsmall = new Int32Array(1024), bvalue = new Float64Array(1024);
        let rows = [], width = 0, layoutMs = 0;
        const sortedCache = new Map();

        function push(node, x, w, row, kind, small, value) {
            if (count === bx.length) {
                const grow = (a, T) => { const b = new T(a.length * 2); b.set(a); return b; };
                bx = grow(bx, Float64Array); bw = grow(bw, Float64Array); brow = grow(brow, Int32Array);
                bnode = grow(bnode, Int32Array); bkind = grow(bkind, Uint8Array); bsmall = grow(bsmall, Int32Array);
                bvalue = grow(bvalue, Float64Array);
            }
            bx[count] = x; bw[count] = w; brow[count] = row; bnode[count] = node; bkind[count] = kind;
            bsmall[count] = small; bvalue[count] = value;
            return count++;
        }

        /* A node's children with a value under the metric, largest first. */
        function sortedChildren(node, value) {
            let kids = sortedCache.get(node);
            if (!kids) {
                kids = [];
                for (let k = tree.childStart[node]; k < tree.childStart[node + 1]; k++)
                    if (value[tree.childList[k]] > 0) kids.push(tree.childList[k]);
                kids.sort((a, b) => value[b] - value[a] || (tree.name(a) < tree.name(b) ? -1 : 1));
                sortedCache.set(node, kids);
            }
            return kids;
        }

        function layout() {
            const t0 = performance.now();
            width = Math.max(stage.clientWidth, 200);
            const value = tree.total[state.metric];
            count = 0;
            let row = 0;
            for (const a of tree.ancestors(state.zoom)) push(a, 0, width, row++, KIND_ANCESTOR, 0, value[a]);
            const stack = [state.zoom, 0, width, row];
            while (stack.length) {
                const r = stack.pop(), w = stack.pop(), x = stack.pop(), node = stack.pop();
                push(node, x, w, r, KIND_NODE, 0, value[node]);
                if (!(value[node] > 0)) continue;
                const kids = sortedChildren(node, value), scale = w / value[node];
                let cx = x, k = 0;
                for (; k < kids.length; k++) {
                    const cw = value[kids[k]] * scale;
                    if (cw < MIN_WIDTH) break;
                    stack.push(kids[k], cx, cw, r + 1);
                    cx += cw;
                }
                if (k < kids.length) {
                    let rest = 0;
                    for (let j = k; j < kids.length; j++) rest += value[kids[j]];
                    push(node, cx, rest * scale, r + 1, KIND_SMALL, kids.length - k, rest);
                }
            }
            rows = [];
            for (let i = 0; i < count; i++) (rows[brow[i]] || (rows[brow[i]] = [])).push(i);
            for (const r of rows) if (r) r.sort((a, b) => bx[a] - bx[b]);
            layoutMs = performance.now() - t0;
        }

        function boxColor(i) {
            const node = bnode[i], kind = bkind[i];
            if (state.match) {
                if (kind === KIND_SMALL) return state.below[node] ? 'hsl(292, 60%, 78%)' : 'hsl(30, 6%, 86%)';
                if (state.match[node]) return 'hsl(292, 75%, 58%)';
                return kind === KIND_ANCESTOR ? 'hsl(30, 6%, 80%)' : 'hsl(30, 6%, 86%)';
            }
            if (kind === KIND_SMALL) return hatch;
            const custom = options.colorFor ? options.colorFor(node, tree) : null;
            if (custom) return custom;
            if (kind === KIND_ANCESTOR) return 'hsl(30, 12%, 80%)';
            return baseColor(tree, node);
        }

        function label(i) {
            return bkind[i] === KIND_SMALL ? '…' + bsmall[i] + ' small' : tree.name(bnode[i]);
        }

        /* The label cut to `fit` characters; a collapsed box drops to "…N". */
        function fitLabel(i, fit) {
            const text = label(i);
            if (text.length <= fit) return text;
            if (bkind[i] === KIND_SMALL) return fit >= String(bsmall[i]).length + 1 ? '…' + bsmall[i] : '';
            return text.slice(0, Math.max(fit - 1, 1)) + '…';
        }

        function draw() {
            const dpr = window.devicePixelRatio || 1;
            const height = Math.max(rows.length, 1) * ROW;
            canvas.style.width = width + 'px';
            canvas.style.height = height + 'px';
            canvas.width = Math.round(width * dpr);
            canvas.height = Math.round(height * dpr);
            ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
            ctx.clearRect(0, 0, width, height);
            ctx.font = '12px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace';
            ctx.textBaseline = 'middle';
            const charWidth = ctx.measureText('abcdefghij').width / 10;
            for (let i = 0; i < count; i++) {
                const x = bx[i], w = bw[i], y = brow[i] * ROW;
                ctx.fillStyle = boxColor(i);
                ctx.fillRect(x, y, w > 2 ? w - 1 : w, ROW - 1);
                if (w < 4 * charWidth) continue;
                ctx.fillStyle = state.match && !state.match[bnode[i]] && bkind[i] !== KIND_SMALL ? '#6b6661' : '#1c1917';
                ctx.fillText(fitLabel(i, Math.floor((w - 8) / charWidth)), x + 4, y + ROW / 2);
            }
            if (hover >= 0 && hover < count) {
                ctx.strokeStyle = '#1c1917';
                ctx.lineWidth = 1.5;
                ctx.strokeRect(bx[hover] + 0.75, brow[hover] * ROW + 0.75, Math.max(bw[hover] - 2.5, 1), ROW - 2.5);
            }
            root.dataset.metric = state.metric;
            root.dataset.zoom = String(state.zoom);
            root.dataset.boxes = String(count);
        }

        function updateBar() {
            crumbs.replaceChildren();
            const path = tree.ancestors(state.zoom).concat([state.zoom]);
            path.forEach((node, k) => {
                if (k) crumbs.append(el('span', 'rf-sep', '›'));
                const b = el('button', 'rf-crumb' + (node === state.zoom ? ' rf-current' : ''), tree.name(node));
                b.title = tree.name(node);
                b.addEventListener('click', () => controller.zoomTo(node));
                crumbs.append(b);
            });
            resetButton.disabled = state.zoom === 0;
            if (state.match) {
                const info = metricInfo(state.metric), all = tree.total[state.metric][0];
                matchInfo.textContent = state.matchCount + (state.matchCount === 1 ? ' match: ' : ' matches: ') +
                    formatValue(state.matchValue, info.unit) + ' (' + formatShare(state.matchValue, all) + ')';
            } else {
                matchInfo.textContent = '';
            }
            if (options.onChange) options.onChange(controller);
        }

        function refresh() { hover = -1; layout(); draw(); updateBar(); }

        /* Matched value under the metric: a match inside a match counts once. */
        function measureMatches() {
            if (!state.match) return;
            const value = tree.total[state.metric], covered = new Uint8Array(tree.n);
            let sum = 0;
            for (let i = 0; i < tree.n; i++) {
                const up = i > 0 && covered[tree.parent[i]];
                if (state.match[i] && !up) sum += value[i];
                covered[i] = up || state.match[i] ? 1 : 0;
            }
            state.matchValue = sum;
        }

        function search(query) {
            state.query = query = (query || '').trim();
            if (searchBox.value.trim() !== query) searchBox.value = query;
            if (!query) {
                state.match = state.below = null;
                state.matchCount = state.matchValue = 0;
                draw(); updateBar();
                return controller.searchResult();
            }
            let test;
            const rx = /^\/(.+)\/([a-z]*)$/.exec(query);
            try {
                if (rx) { const re = new RegExp(rx[1], rx[2].includes('i') ? 'i' : ''); test = s => re.test(s); }
            } catch (e) { test = null; }
            if (!test) { const q = query.toLowerCase(); test = s => s.toLowerCase().includes(q); }
            const strMatch = new Uint8Array(tree.strings.length);
            for (let k = 0; k < tree.strings.length; k++) strMatch[k] = test(tree.strings[k]) ? 1 : 0;
            const match = new Uint8Array(tree.n), below = new Uint8Array(tree.n);
            let n = 0;
            for (let i = 1; i < tree.n; i++) if (strMatch[tree.nameId[i]]) { match[i] = 1; n++; }
            for (let i = tree.n - 1; i > 0; i--) if (match[i] || below[i]) below[tree.parent[i]] = 1;
            state.match = match; state.below = below; state.matchCount = n;
            measureMatches();
            draw(); updateBar();
            return controller.searchResult();
        }

        /* ---- pointer ---- */
        function boxAt(x, y) {
            const r = rows[Math.floor(y / ROW)];
            if (!r) return -1;
            let lo = 0, hi = r.length - 1;
            while (lo <= hi) {
                const mid = (lo + hi) >> 1, i = r[mid];
                if (x < bx[i]) hi = mid - 1;
                else if (x >= bx[i] + bw[i]) lo = mid + 1;
                else return i;
            }
            return -1;
        }

        function tipRow(table, name, value, strong) {
            const tr = el('tr', strong ? 'rf-strong' : '');
            tr.append(el('th', '', name), el('td', '', value));
            table.append(tr);
        }

        function fillTip(i) {
            tip.replaceChildren();
            const node = bnode[i], info = metricInfo(state.metric), value = tree.total[state.metric];
            if (bkind[i] === KIND_SMALL) {
                tip.append(el('div', 'rf-tip-name', '…' + bsmall[i] + ' small'));
                tip.append(el('div', 'rf-tip-where', 'callees of ' + tree.name(node) + ', each under a pixel wide'));
                const t = el('table');
                tipRow(t, info.label, formatValue(bvalue[i], info.unit) + '  (' + formatShare(bvalue[i], value[0]) + ')', true);
                tip.append(t, el('div', 'rf-tip-hint', 'Zoom into a caller or search to see them.'));
                return;
            }
            tip.append(el('div', 'rf-tip-name', tree.name(node)));
            let where = tree.fileLine(node);
            if (where && (tree.flags[node] & FLAG_MIXED_LINES)) where += ' and other lines';
            const mod = tree.module[node] >= 0 ? tree.strings[tree.module[node]] : '';
            if (where || mod) tip.append(el('div', 'rf-tip-where', [where, mod && 'in ' + mod].filter(Boolean).join('  ')));
            const tags = [];
            if (tree.flags[node] & FLAG_INLINED) tags.push('inlined');
            if (tree.flags[node] & FLAG_UNSYMBOLIZED) tags.push('no symbols');
            if (tags.length) tip.append(el('div', 'rf-tip-tags', tags.join(' · ')));
            const t = el('table');
            for (const m of tree.metrics) {
                const v = tree.total[m.key][node];
                tipRow(t, m.label, formatValue(v, m.unit) + '  (' + formatShare(v, tree.total[m.key][0]) + ')', m.key === state.metric);
            }
            const own = tree.self[state.metric][node];
            if (own > 0 && own !== value[node]) tipRow(t, 'allocated here', formatValue(own, info.unit), false);
            if (state.zoom !== 0 && node !== state.zoom)
                tipRow(t, 'of ' + tree.name(state.zoom), formatShare(value[node], value[state.zoom]), false);
            tip.append(t);
            if (options.tooltipExtra) {
                const extra = options.tooltipExtra(node, tree);
                if (extra && extra.length) { const t2 = el('table'); for (const [k, v] of extra) tipRow(t2, k, v, false); tip.append(t2); }
            }
        }

        function showTip(i, ev) {
            fillTip(i);
            tip.hidden = false;
            const s = stage.getBoundingClientRect();
            let x = ev.clientX - s.left + 14, y = ev.clientY - s.top + 16;
            if (x + tip.offsetWidth > s.width) x = Math.max(0, ev.clientX - s.left - tip.offsetWidth - 14);
            if (y + tip.offsetHeight > s.height && y > tip.offsetHeight + 30) y = ev.clientY - s.top - tip.offsetHeight - 12;
            tip.style.left = x + 'px';
            tip.style.top = y + 'px';
        }

        canvas.addEventListener('mousemove', ev => {
            const r = canvas.getBoundingClientRect(), i = boxAt(ev.clientX - r.left, ev.clientY - r.top);
            canvas.style.cursor = i >= 0 && bkind[i] !== KIND_SMALL ? 'pointer' : 'default';
            if (i < 0) tip.hidden = true; else showTip(i, ev);
            if (i !== hover) { hover = i; draw(); }
        });
        canvas.addEventListener('mouseleave', () => { tip.hidden = true; if (hover >= 0) { hover = -1; draw(); } });
        canvas.addEventListener('click', ev => {
            const r = canvas.getBoundingClientRect(), i = boxAt(ev.clientX - r.left, ev.clientY - r.top);
            if (i >= 0 && bkind[i] !== KIND_SMALL) controller.zoomTo(bnode[i]);
        });
        resetButton.addEventListener('click', () => controller.reset());
        let searchTimer = 0;
        searchBox.addEventListener('input', () => {
            clearTimeout(searchTimer);
            searchTimer = setTimeout(() => search(searchBox.value), 120);
        });
        searchBox.addEventListener('keydown', ev => { if (ev.key === 'Escape') search(''); });
        let lastWidth = 0;
        new ResizeObserver(() => {
            if (stage.clientWidth !== lastWidth) { lastWidth = stage.clientWidth; refresh(); }
        }).observe(stage);

        const controller = {
            tree, element: root, state,
            setMetric(key) {
                if (!tree.total[key]) throw new Error('unknown metric ' + key);
                state.metric = key;
                sortedCache.clear();
                measureMatches();
                refresh();
            },
            zoomTo(node) {
                if (typeof node === 'string') node = controller.find(node)[0];
                if (!(node >= 0 && node < tree.n)) return;
                state.zoom = node;
                tip.hidden = true;
                refresh();
            },
            reset() { controller.zoomTo(0); },
            search,
            searchResult() {
                return {query: state.query, count: state.matchCount, value: state.matchValue,
                        share: state.match ? state.matchValue / (tree.total[state.metric][0] || 1) : 0};
            },
            /* Nodes named exactly `name`, heaviest first under the metric. */
            find(name) {
                const value = tree.total[state.metric], out = [];
                for (let i = 0; i < tree.n; i++) if (tree.name(i) === name) out.push(i);
                return out.sort((a, b) => value[b] - value[a]);
            },
            /* What is drawn: one object per box (for tests and other pages). */
            boxes() {
                const out = [];
                for (let i = 0; i < count; i++)
                    out.push({node: bnode[i], name: label(i), x: bx[i], width: bw[i], row: brow[i], value: bvalue[i],
                              kind: ['node', 'ancestor', 'small'][bkind[i]], small: bsmall[i],
                              matched: !!(state.match && (bkind[i] === KIND_SMALL ? state.below[bnode[i]] : state.match[bnode[i]]))});
                return out;
            },
            /* Client coordinates of a box's middle, for a simulated pointer. */
            boxPoint(node) {
                for (let i = 0; i < count; i++) if (bnode[i] === node && bkind[i] !== KIND_SMALL) {
                    const r = canvas.getBoundingClientRect();
                    return {x: r.left + bx[i] + bw[i] / 2, y: r.top + brow[i] * ROW + ROW / 2};
                }
                return null;
            },
            layoutMs() { return layoutMs; },
            redraw: refresh,
        };
        lastWidth = stage.clientWidth;
        refresh();
        return controller;
    }

    window.RalloFlame = {METRICS, buildTree, render, formatBytes, formatCount, formatValue, formatShare, metricInfo};
})();
