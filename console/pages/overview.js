// overview.js - the figures of moat stats now, and charts per minute
// (messages in and out, AUTH failures, rejections, queue size) over a
// chosen range, from the queue's time series (the series operation).
import { el, clear, say } from "/ui.js";

const SVGNS = "http://www.w3.org/2000/svg";
const RANGES = [["1h", 3600], ["6h", 21600], ["24h", 86400],
    ["7d", 604800]];
const CHARTS = [
	{ key: "msgs_in", label: "Messages in", sum: true, color: 1 },
	{ key: "msgs_out", label: "Messages out", sum: true, color: 2 },
	{ key: "auth_failures", label: "AUTH failures", sum: true, color: 3 },
	{ key: "rejections", label: "Rejections", sum: true, color: 4 },
	{ key: "queue_size", label: "Queue size", sum: false, color: 5 },
];
const MAX_POINTS = 360;
const REFRESH_MS = 30000;

// the figures shown beside the charts: stats name -> label; a name with
// labels (by listener, by result) is summed, or one label value taken
const FIGURES = [
	{ name: "sessions", label: "Sessions open" },
	{ name: "messages_in_total", label: "Messages in (since start)" },
	{ name: "messages_out_total", label: "Delivered (since start)",
	  labels: 'result="delivered"' },
	{ name: "auth_attempts_total", label: "AUTH failures (since start)",
	  labels: 'result="failed"' },
	{ name: "rejections_total", label: "Rejections (since start)" },
	{ name: "queue_messages", label: "Messages queued" },
	{ name: "deadletter_messages", label: "Dead letters" },
	{ name: "bans", label: "Bans in force" },
	{ name: "uptime_seconds", label: "Uptime, hours",
	  scale: (v) => Math.floor(v / 3600) },
];

function svg(tag, attrs) {
	const e = document.createElementNS(SVGNS, tag);
	for (const [k, v] of Object.entries(attrs || {}))
		e.setAttribute(k, String(v));
	return e;
}

function figure(stats, f) {
	let v = 0, seen = false;
	for (const s of stats)
		if (s.name === f.name && (!f.labels || s.labels.includes(f.labels))) {
			v += s.value;
			seen = true;
		}
	if (!seen)
		return null;
	return f.scale ? f.scale(v) : v;
}

// points [t, v] bucketed so that at most MAX_POINTS remain: summed for
// counts per minute, the largest for a level (queue size)
function bucket(rows, key, from, to, sum) {
	const width = Math.max(60, Math.ceil((to - from) / MAX_POINTS / 60) * 60);
	const m = new Map();
	for (const r of rows) {
		if (r.minute < from || r.minute > to)
			continue;
		const b = Math.floor(r.minute / width) * width;
		const v = Number(r[key]) || 0;
		m.set(b, m.has(b) ? (sum ? m.get(b) + v : Math.max(m.get(b), v)) :
		    v);
	}
	return { width, points: [...m.entries()].sort((a, b) => a[0] - b[0]) };
}

// chart(...) - one SVG line chart; a minute missing from the series is
// a gap in the line for a level, zero for a count
function chart(c, rows, from, to) {
	const W = 400, H = 140, L = 36, B = 16, T = 6, R = 6;
	const { width, points } = bucket(rows, c.key, from, to, c.sum);
	const max = Math.max(1, ...points.map((p) => p[1]));
	const x = (t) => L + (t - from) / (to - from) * (W - L - R);
	const y = (v) => T + (1 - v / max) * (H - T - B);
	const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart",
	    role: "img", "aria-label": `${c.label}: at most ${max} per ` +
	    `${width / 60} min in the range` });
	s.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B,
	    class: "axis" }), svg("line", { x1: L, y1: T, x2: L, y2: H - B,
	    class: "axis" }));
	const top = svg("text", { x: L - 4, y: T + 8, "text-anchor": "end" });
	top.textContent = String(max);
	const zero = svg("text", { x: L - 4, y: H - B, "text-anchor": "end" });
	zero.textContent = "0";
	const left = svg("text", { x: L, y: H - 2 });
	left.textContent = new Date(from * 1000).toLocaleString();
	const right = svg("text", { x: W - R, y: H - 2, "text-anchor": "end" });
	right.textContent = "now";
	s.append(top, zero, left, right);
	let d = "", prev = null;
	for (const [t, v] of points) {
		const gap = prev === null || t - prev > width * 1.5;
		if (gap && c.sum && prev !== null)
			d += ` L${x(prev + width).toFixed(1)},${y(0).toFixed(1)}` +
			    ` L${x(t - width).toFixed(1)},${y(0).toFixed(1)}`;
		d += `${gap && !(c.sum && prev !== null) ? " M" : " L"}` +
		    `${x(t).toFixed(1)},${y(v).toFixed(1)}`;
		prev = t;
	}
	if (d)
		s.append(svg("path", { d: d.trim(), stroke: `var(--chart${c.color})`,
		    "data-points": points.length }));
	return el("figure", { id: `chart-${c.key}` }, el("figcaption", {},
	    c.label), s, points.length ? null : el("p", { class: "empty" },
	    "No data in this range."));
}

export async function render(root, api) {
	const range = el("select", { id: "ov-range" }, RANGES.map(([n]) =>
	    el("option", { value: n, selected: n === "24h" }, n)));
	const figs = el("dl", { class: "figures", id: "ov-figures" });
	const charts = el("div", { class: "charts", id: "ov-charts" });
	const note = el("p", { class: "muted", id: "ov-note" });
	root.append(el("h1", {}, "Overview"), el("h2", {}, "Now"), figs,
	    el("h2", {}, "Per minute"),
	    el("p", {}, el("label", { for: "ov-range" }, "Range"), range),
	    note, charts);
	let timer = null, stopped = false;

	async function loadFigures() {
		try {
			const r = await api.get("stats");
			clear(figs);
			for (const f of FIGURES) {
				const v = figure(r.stats || [], f);
				if (v !== null)
					figs.append(el("div", {}, el("dt", {}, f.label),
					    el("dd", {}, String(v))));
			}
		} catch (e) {
			say(`figures unavailable: ${e.message}`);
		}
	}

	async function loadCharts() {
		const secs = RANGES.find(([n]) => n === range.value)[1];
		const to = Math.floor(Date.now() / 1000), from = to - secs;
		let rows = [];
		try {
			const r = await api.get("series", { since: range.value });
			rows = r.series || [];
			note.textContent = "";
		} catch (e) {
			note.textContent = `No time series: ${e.message}.`;
		}
		if (stopped)
			return;
		clear(charts);
		for (const c of CHARTS)
			charts.append(chart(c, rows, from, to));
	}

	async function refresh() {
		clearTimeout(timer);
		await Promise.all([loadFigures(), loadCharts()]);
		if (!stopped)
			timer = setTimeout(refresh, REFRESH_MS);
	}
	range.addEventListener("change", loadCharts);
	await refresh();
	return () => {
		stopped = true;
		clearTimeout(timer);
	};
}
