// lib.js - small helpers the console's pages share: building DOM, tables,
// formatting the API's raw values, a confirm dialog and status messages.
//
// SECURITY: everything the API returns may come from an attacker (sender
// addresses, subjects, user names, reasons). It only ever reaches the page
// as text nodes or attribute values set through the DOM, never as markup:
// nothing here or in the pages uses innerHTML.

// el - an element: attributes from attrs (on* keys are listeners, false or
// null values are left out), then children (strings become text nodes).
export function el(tag, attrs, ...children) {
	const e = document.createElement(tag);

	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k.startsWith("on") && typeof v === "function")
			e.addEventListener(k.slice(2), v);
		else if (k === "text")
			e.textContent = String(v);
		else
			e.setAttribute(k, v === true ? "" : String(v));
	}
	append(e, children);
	return e;
}

function append(e, children) {
	for (const c of children) {
		if (c === null || c === undefined || c === false)
			continue;
		if (Array.isArray(c))
			append(e, c);
		else
			e.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
}

// clear - remove every child of e
export function clear(e) {
	while (e.firstChild)
		e.removeChild(e.firstChild);
	return e;
}

function pad(n) {
	return String(n).padStart(2, "0");
}

// fmtTime - unix seconds as local "YYYY-MM-DD HH:MM:SS"; 0 is "-"
export function fmtTime(t) {
	if (!t)
		return "-";
	const d = new Date(t * 1000);

	return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" +
	    pad(d.getDate()) + " " + pad(d.getHours()) + ":" +
	    pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}

// fmtDur - seconds as "3d4h", "12m5s", "7s" (the CLI's form)
export function fmtDur(s) {
	const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
	let out = "", parts = 0;

	s = Math.max(0, Math.floor(s));
	if (s === 0)
		return "0s";
	for (const [u, n] of units) {
		if (s >= n && parts < 2) {
			out += Math.floor(s / n) + u;
			s %= n;
			parts++;
		} else if (parts)
			parts++;
	}
	return out;
}

// fmtAge - how long ago unix time t was, "-" for 0
export function fmtAge(t) {
	return t ? fmtDur(Date.now() / 1000 - t) : "-";
}

// fmtSize - bytes as "512B", "1.5K", "12.0M"
export function fmtSize(b) {
	if (b < 1024)
		return b + "B";
	for (const u of ["K", "M", "G"]) {
		b /= 1024;
		if (b < 1024 || u === "G")
			return b.toFixed(1) + u;
	}
}

// title - "last_error" as "Last error"
function title(key) {
	const s = key.replace(/_/g, " ");

	return s.charAt(0).toUpperCase() + s.slice(1);
}

// table - a <table> of rows (objects as the API gives them). cols:
// [{key, label, fmt(value, row) -> string | Node, num: right-aligned}].
// An empty list is a single row saying `empty`.
export function table(caption, cols, rows, empty = "none") {
	const head = el("tr", null,
	    cols.map(c => el("th", { scope: "col" }, c.label || title(c.key))));
	const body = el("tbody");

	for (const r of rows) {
		body.append(el("tr", null, cols.map(c => {
			const v = c.fmt ? c.fmt(r[c.key], r) : r[c.key];

			return el("td", { class: c.num ? "num" : null }, v);
		})));
	}
	if (rows.length === 0)
		body.append(el("tr", { class: "empty" },
		    el("td", { colspan: cols.length }, empty)));
	return el("table", { class: "data" },
	    caption ? el("caption", null, caption) : null,
	    el("thead", null, head), body);
}

// kvTable - a two-column table of [key, value] pairs
export function kvTable(caption, pairs) {
	return el("table", { class: "data kv" },
	    caption ? el("caption", null, caption) : null,
	    el("tbody", null, pairs.map(([k, v]) =>
		el("tr", null, el("th", { scope: "row" }, k), el("td", null, v)))));
}

let uniq = 0;

// field - a labelled <input> (or <select> when attrs.options, a list of
// [value, text]): {input, wrap} where wrap holds the label and the input.
export function field(label, attrs) {
	const id = "f" + (++uniq);
	const input = el(attrs.options ? "select" : "input",
	    Object.assign({ id }, attrs, { options: null }),
	    attrs.options ? attrs.options.map(([v, t]) =>
		el("option", { value: v }, t)) : null);

	return { input, wrap: el("span", { class: "field" }, el("label", { for: id }, label),
		input) };
}

// ApiError - an answer whose status is not "ok" (its message says why)
export class ApiError extends Error {
}

// call - api.get or api.post, and an ApiError unless the answer is ok
export async function call(api, method, op, params) {
	const ans = await api[method](op, params || {});

	if (!ans || ans.status !== "ok")
		throw new ApiError(ans && ans.message ? ans.message :
		    op + ": no answer");
	return ans;
}

// notice - a live region at the top of a page: say(text), fail(error)
export function notice() {
	const box = el("p", { class: "notice", role: "status",
	    "aria-live": "polite" });

	return {
		node: box,
		say(text) {
			box.className = "notice";
			box.textContent = text;
		},
		fail(err) {
			box.className = "notice error";
			box.textContent = err instanceof Error ? err.message :
			    String(err);
		},
		clear() {
			box.textContent = "";
		},
	};
}

// confirmDialog - a modal asking title/text (a string, or nodes that may
// hold inputs); resolves true on the OK button, false on Cancel or
// Escape. Focus starts on the first input, else on Cancel for destructive
// actions (opts.danger), else on OK; it goes back where it was after.
export function confirmDialog(title, text, opts = {}) {
	const back = document.activeElement;
	const ok = el("button", { type: "submit", class: opts.danger ?
	    "danger" : null, "data-confirm": "ok" }, opts.ok || "OK");
	const cancel = el("button", { type: "button", "data-confirm":
	    "cancel" }, "Cancel");
	const head = el("h2", { id: "dlg-title-" + (++uniq) }, title);
	/* a form, so that Enter in one of its inputs is OK */
	const form = el("form", { method: "dialog" }, head,
	    Array.isArray(text) ? text : el("p", null, text),
	    el("p", { class: "buttons" }, ok, " ", cancel));
	const dlg = el("dialog", { class: "confirm", "aria-labelledby": head.id },
	    form);

	return new Promise(resolve => {
		let answer = false;

		form.addEventListener("submit", () => {
			answer = true;
		});
		cancel.addEventListener("click", () => dlg.close());
		dlg.addEventListener("close", () => {
			dlg.remove();
			if (back && back.isConnected && back.focus)
				back.focus();
			resolve(answer);
		});
		document.body.append(dlg);
		dlg.showModal();
		(dlg.querySelector("input, select, textarea") ||
		    (opts.danger ? cancel : ok)).focus();
	});
}

// hashParams - the query of the route "#/page?k=v&...", as an object
export function hashParams() {
	const h = location.hash, q = h.indexOf("?");

	return q < 0 ? {} : Object.fromEntries(new URLSearchParams(h.slice(q + 1)));
}

// route - the href of a page with parameters
export function route(page, params) {
	const q = new URLSearchParams(params || {}).toString();

	return "#/" + page + (q ? "?" + q : "");
}

// busy - run fn with button b disabled meanwhile; a button that had the
// focus gets it back (disabling it took it away)
export async function busy(b, fn) {
	const had = document.activeElement === b;

	b.disabled = true;
	try {
		return await fn();
	} finally {
		b.disabled = false;
		if (had && b.isConnected && lost())
			b.focus();
	}
}

function lost() {
	const a = document.activeElement;

	return !a || a === document.body || !a.isConnected;
}

// refocus - after a part of the page was built anew: when the focus went
// with the old part, put it on fallback (a heading with tabindex -1)
export function refocus(fallback) {
	if (lost())
		fallback.focus();
}
