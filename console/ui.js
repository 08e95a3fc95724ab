// ui.js - small DOM helpers for the console's pages. Everything from
// the daemon is put into the page as text (textContent), never as HTML.

// el("button", {type: "button", onclick: f}, "Kill") - an element;
// attributes starting with "on" become listeners, children are nodes
// or strings (text nodes).
export function el(tag, attrs, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k.startsWith("on") && typeof v === "function")
			e.addEventListener(k.slice(2), v);
		else if (k === "dataset")
			Object.assign(e.dataset, v);
		else
			e.setAttribute(k, v === true ? "" : String(v));
	}
	for (const c of children.flat()) {
		if (c === undefined || c === null || c === false)
			continue;
		e.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return e;
}

// clear(node) - remove every child
export function clear(node) {
	while (node.firstChild)
		node.removeChild(node.firstChild);
	return node;
}

// fmtTime(unix seconds) - local date and time, "" for 0
export function fmtTime(t) {
	if (!t)
		return "";
	const d = new Date(t * 1000);
	const p = (n) => String(n).padStart(2, "0");
	return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
	    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// fmtDur(seconds) - "3d4h", "12m5s", "7s"
export function fmtDur(s) {
	s = Math.max(0, Math.floor(s));
	const parts = [[86400, "d"], [3600, "h"], [60, "m"], [1, "s"]];
	let out = "";
	for (const [n, u] of parts) {
		if (s >= n || (u === "s" && out === "")) {
			out += Math.floor(s / n) + u;
			s %= n;
		}
		if (out.length >= 4)
			break;
	}
	return out;
}

// table(rows, columns, caption) - a <table>; columns: [{key, label,
// format(value, row) -> string|Node}]
export function table(rows, columns, caption) {
	const head = el("tr", {}, columns.map((c) => el("th", {scope: "col"},
	    c.label)));
	const body = rows.map((r) => el("tr", {}, columns.map((c) => {
		const v = c.format ? c.format(r[c.key], r) : r[c.key];
		return el("td", {}, v === undefined ? "" : v);
	})));
	return el("table", {}, caption ? el("caption", {}, caption) : null,
	    el("thead", {}, head), el("tbody", {}, body));
}

// say(text) - a message in the live status region
export function say(text) {
	const s = document.getElementById("status");
	if (s)
		s.textContent = text;
}
