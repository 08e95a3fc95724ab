// events.js - the security events (moat events): filters by type, user,
// client and age; "Follow" polls for the newer ones (after=ID).
import { el, clear, table, fmtTime, say } from "/ui.js";

const POLL_MS = 2000;
const LIMIT = 200;

export async function render(root, api) {
	const f = {
		type: el("input", { id: "ev-type", name: "type", size: 18,
		    list: "ev-types" }),
		user: el("input", { id: "ev-user", name: "user", size: 14 }),
		ip: el("input", { id: "ev-ip", name: "ip", size: 18,
		    placeholder: "192.0.2.0/24" }),
		since: el("select", { id: "ev-since", name: "since" },
		    ["1h", "24h", "7d", "30d"].map((v) => el("option",
		    { value: v, selected: v === "24h" }, v))),
		follow: el("input", { id: "ev-follow", type: "checkbox" }),
	};
	const types = el("datalist", { id: "ev-types" });
	const form = el("form", { class: "filters", id: "ev-filters" },
	    el("div", {}, el("label", { for: "ev-type" }, "Type"), f.type),
	    el("div", {}, el("label", { for: "ev-user" }, "User"), f.user),
	    el("div", {}, el("label", { for: "ev-ip" }, "Client"), f.ip),
	    el("div", {}, el("label", { for: "ev-since" }, "Since"), f.since),
	    el("div", {}, el("button", { type: "submit" }, "Show")),
	    el("div", {}, f.follow, el("label", { for: "ev-follow" },
	    "Follow")), types);
	const note = el("p", { class: "muted", id: "ev-note" });
	const list = el("div", { id: "ev-list" });
	root.append(el("h1", {}, "Events"), form, note, list);

	let rows = [], last = 0, timer = null, stopped = false;

	function filters() {
		return { type: f.type.value.trim(), user: f.user.value.trim(),
		    ip: f.ip.value.trim(), since: f.since.value };
	}

	function show() {
		clear(list);
		note.textContent = `${rows.length} event${rows.length === 1 ?
		    "" : "s"}` + (f.follow.checked ? ", following" : "");
		if (rows.length === 0) {
			list.append(el("p", { class: "empty" }, "No event."));
			return;
		}
		list.append(table(rows, [
		    { key: "time", label: "Time", format: fmtTime },
		    { key: "type", label: "Type" },
		    { key: "client", label: "Client" },
		    { key: "user", label: "User" },
		    { key: "session", label: "Session" },
		    { key: "detail", label: "Detail" },
		], "Events, newest first"));
	}

	async function load() {
		clearTimeout(timer);
		try {
			const r = await api.get("events", { ...filters(),
			    limit: LIMIT });
			rows = (r.events || []).slice().sort((a, b) => b.id - a.id);
			last = rows.reduce((m, e) => Math.max(m, e.id), 0);
		} catch (e) {
			rows = [];
			say(`events unavailable: ${e.message}`);
		}
		if (stopped)
			return;
		show();
		if (f.follow.checked)
			timer = setTimeout(follow, POLL_MS);
	}

	async function follow() {
		if (stopped || !f.follow.checked)
			return;
		try {
			const r = await api.get("events", { ...filters(),
			    after: last, limit: LIMIT });
			const fresh = (r.events || []).filter((e) => e.id > last);
			if (fresh.length) {
				rows = fresh.sort((a, b) => b.id - a.id).concat(rows)
				    .slice(0, 1000);
				last = rows[0].id;
				show();
			}
		} catch (e) {
			say(`events unavailable: ${e.message}`);
		}
		if (!stopped && f.follow.checked)
			timer = setTimeout(follow, POLL_MS);
	}

	form.addEventListener("submit", (ev) => {
		ev.preventDefault();
		load();
	});
	f.follow.addEventListener("change", () => {
		clearTimeout(timer);
		show();
		if (f.follow.checked)
			timer = setTimeout(follow, POLL_MS);
	});
	await load();
	return () => {
		stopped = true;
		clearTimeout(timer);
	};
}
