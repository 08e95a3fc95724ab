// lib.js - what the queue, bans, users and incident pages share on top of
// ui.js (el, clear, table, fmtTime, fmtDur): tables with empty rows and
// numeric columns, labelled fields, API calls that fail on a status other
// than "ok", a page's status line, a confirm dialog, routes with
// parameters.
//
// SECURITY: everything the API returns may come from an attacker (sender
// addresses, subjects, user names, reasons). It only ever reaches the page
// as text nodes or attribute values set through the DOM, never as markup:
// nothing here or in the pages uses innerHTML.
import { el, clear, fmtTime, fmtDur, table as uiTable } from "./ui.js";

export { el, clear, fmtTime, fmtDur };

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

// table - ui.js's table of rows (objects as the API gives them) with
// cols: [{key, label (default: the key), fmt(value, row) -> string | Node,
// num: right-aligned}]; an empty list is one row saying `empty`.
export function table(caption, cols, rows, empty = "none") {
	const t = uiTable(rows, cols.map(c => ({ key: c.key, label: c.label ||
	    title(c.key), format: c.fmt })), caption);
	const body = t.tBodies[0];

	for (const tr of [...t.tHead.rows, ...body.rows])
		cols.forEach((c, i) => c.num && tr.cells[i].classList.add("num"));
	if (rows.length === 0)
		body.append(el("tr", { class: "empty" },
		    el("td", { colspan: cols.length }, empty)));
	t.classList.add("data");
	return t;
}

// kvTable - a two-column table of [key, value] pairs ("auth_failures"
// shown as "Auth failures")
export function kvTable(caption, pairs) {
	return el("table", { class: "data kv" },
	    caption ? el("caption", null, caption) : null,
	    el("tbody", null, pairs.map(([k, v]) =>
		el("tr", null, el("th", { scope: "row" }, title(k)),
		    el("td", null, v)))));
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

// call - api.get or api.post; an Error with the answer's message unless
// its status is "ok" (api throws app.js's ApiError on an HTTP error)
export async function call(api, method, op, params) {
	const ans = await api[method](op, params || {});

	if (!ans || ans.status !== "ok")
		throw new Error(ans && ans.message ? ans.message :
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

// route - the href of a page with an argument: app.js's router gives
// render() the ARG of #/NAME/ARG decoded; params (an object) become a
// query string as that ARG, read back by routeParams
export function route(page, params) {
	if (params === undefined)
		return "#/" + page;
	const arg = typeof params === "string" ? params :
	    new URLSearchParams(params).toString();

	return "#/" + page + "/" + encodeURIComponent(arg);
}

// routeParams - the object of a page's ARG made by route()
export function routeParams(arg) {
	return arg ? Object.fromEntries(new URLSearchParams(arg)) : {};
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
