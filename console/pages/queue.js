// queue.js - the queue page: recipients by destination (queue_summary),
// messages by sender (queue_list grouped here), the messages a filter
// selects, and hold, release or delete of exactly that selection. An
// action is first run as a dry run (queue_act with dry_run) whose count
// the admin confirms; the result's count is shown beside it.
//
// SECURITY: addresses, domains and errors are attacker text: they reach
// the page through lib.js (text nodes) only.
import { el, clear, table, field, call, notice, confirmDialog, fmtTime,
    fmtAge, fmtSize, routeParams, busy } from "../lib.js";

// the filter fields: [API parameter, label, input attributes]
const FILTERS = [
	["qid", "Queue ID", { size: 14 }],
	["from", "Sender", { size: 24, placeholder: "a@example.org or <>" }],
	["domain", "Destination domain", { size: 20 }],
	["user", "User", { size: 14 }],
	["client", "Client address", { size: 16, placeholder: "CIDR" }],
	["state", "State", { options: [["", "any"], ["queued", "queued"],
	    ["deferred", "deferred"], ["held", "held"], ["failed", "failed"]] }],
];

// the actions offered on a selection: [action, button text, past tense]
const ACTIONS = [
	["hold", "Hold", "held"],
	["release", "Release", "released"],
	["delete", "Delete", "deleted"],
];

const SENDER_ROWS = 5000;	/* messages read to group by sender */
const MESSAGE_ROWS = 500;	/* messages listed for a filter */

function filterText(f) {
	const parts = FILTERS.filter(([k]) => f[k]).map(([k, l]) =>
	    l.toLowerCase() + " " + f[k]);

	return parts.length ? parts.join(", ") : "every message";
}

function countRcpts(to) {
	return to ? to.split(", ").length : 0;
}

// bySender - queue_list's rows grouped by sender address
function bySender(rows) {
	const m = new Map();

	for (const r of rows) {
		let g = m.get(r.from);

		if (!g) {
			g = { from: r.from, messages: 0, recipients: 0, held: 0,
			    oldest: r.created, users: new Set() };
			m.set(r.from, g);
		}
		g.messages++;
		g.recipients += countRcpts(r.to);
		if (r.state.split(",").includes("held"))
			g.held++;
		if (r.created < g.oldest)
			g.oldest = r.created;
		if (r.user)
			g.users.add(r.user);
	}
	return [...m.values()].sort((a, b) => b.messages - a.messages ||
	    (a.from < b.from ? -1 : 1));
}

export async function render(root, api, arg) {
	const note = notice();
	const destBox = el("div"), senderBox = el("div"), listBox = el("div");
	const fields = {};
	const msgHead = el("h2", { id: "queue-messages", tabindex: "-1" },
	    "Messages");
	const form = el("form", { class: "filters", "aria-label":
	    "Message filter" });
	const actBar = el("p", { class: "actions" });
	const shown = el("p", { class: "selection" });
	let current = null;	/* the filter of the list shown */

	for (const [k, label, attrs] of FILTERS) {
		fields[k] = field(label, Object.assign({ name: k }, attrs));
		form.append(fields[k].wrap, " ");
	}
	form.append(el("button", { type: "submit" }, "Show messages"), " ",
	    el("button", { type: "button", onclick: () => {
		for (const k in fields)
			fields[k].input.value = "";
		list({});
	    } }, "Clear"));
	form.addEventListener("submit", ev => {
		ev.preventDefault();
		const f = {};

		for (const k in fields)
			if (fields[k].input.value.trim())
				f[k] = fields[k].input.value.trim();
		note.clear();
		list(f);
	});
	for (const [action, text, done] of ACTIONS)
		actBar.append(el("button", { type: "button", class: action ===
		    "delete" ? "danger" : null, "data-action": action,
		    onclick: ev => act(ev.currentTarget, action, text, done) },
		    text + "\u2026"), " ");

	// selectFilter - fill the form with f and list what it selects
	function selectFilter(f) {
		for (const k in fields)
			fields[k].input.value = f[k] || "";
		note.clear();
		list(f, true);
	}

	async function summary() {
		const ans = await call(api, "get", "queue_summary");
		const cols = [
			{ key: "domain", label: "Destination", fmt: d =>
			    el("button", { type: "button", class: "link",
				onclick: () => selectFilter({ domain: d }) }, d) },
			{ key: "recipients", num: true },
			{ key: "oldest", fmt: t => fmtAge(t) },
			{ key: "queued", num: true }, { key: "deferred", num: true },
			{ key: "held", num: true }, { key: "failed", num: true },
			{ key: "attempts", num: true },
			{ key: "last_error" },
		];

		clear(destBox).append(
		    el("p", null, ans.message),
		    table("Recipients by destination", cols, ans.summary || [],
			"the queue is empty"));
		if (ans.paused && ans.paused.length)
			destBox.append(table("Paused destinations", [
			    { key: "paused" }, { key: "since", fmt: fmtTime },
			    { key: "waiting", num: true }, { key: "reason" },
			], ans.paused));
	}

	async function senders() {
		const ans = await call(api, "get", "queue_list",
		    { limit: SENDER_ROWS });
		const cols = [
			{ key: "from", label: "Sender", fmt: f =>
			    el("button", { type: "button", class: "link",
				onclick: () => selectFilter({ from: f || "<>" }) },
				f || "<>") },
			{ key: "messages", num: true },
			{ key: "recipients", num: true },
			{ key: "held", num: true },
			{ key: "oldest", fmt: t => fmtAge(t) },
			{ key: "users", fmt: u => [...u].join(", ") },
		];

		clear(senderBox).append(table("Messages by sender", cols,
		    bySender(ans.messages || []), "the queue is empty"));
		if (ans.message)
			senderBox.append(el("p", null, ans.message));
	}

	// list - the messages f selects; focus to their heading when asked
	async function list(f, focus) {
		try {
			const ans = await call(api, "get", "queue_list",
			    Object.assign({ limit: MESSAGE_ROWS }, f));
			const cols = [
				{ key: "qid", label: "Queue ID", fmt: q =>
				    el("button", { type: "button", class: "link",
					onclick: () => selectFilter({ qid: q }) }, q) },
				{ key: "created", fmt: fmtTime },
				{ key: "size", num: true, fmt: fmtSize },
				{ key: "from", label: "Sender", fmt: v => v || "<>" },
				{ key: "user" }, { key: "client" },
				{ key: "to", label: "Recipients" },
				{ key: "state" },
				{ key: "attempts", num: true },
				{ key: "last_error" },
			];

			current = f;
			shown.textContent = "Selection: " + filterText(f) + ".";
			clear(listBox).append(table("Messages", cols,
			    ans.messages || [], "no message matches"));
			if (ans.message)
				listBox.append(el("p", null, ans.message));
			if (focus)
				msgHead.focus();
		} catch (e) {
			note.fail(e);
		}
	}

	// act - preview (dry run), confirm, then the action on the same filter
	async function act(button, action, text, done) {
		if (current === null)
			return;
		const f = Object.assign({ action }, current);

		if (Object.keys(current).length === 0)
			f.all = 1;
		note.clear();
		try {
			const dry = await busy(button, () => call(api, "post",
			    "queue_act", Object.assign({ dry_run: 1 }, f)));
			const r = dry.result[0];

			if (r.messages === 0) {
				note.say("Nothing to " + action + ": no message " +
				    "matches " + filterText(current) + ".");
				return;
			}
			const yes = await confirmDialog(text + " " + r.messages +
			    " message" + (r.messages === 1 ? "" : "s") + "?",
			    [el("p", { class: "preview" }, dry.message),
			     el("p", null, "Selection: " + filterText(current) +
				".")],
			    { ok: text + " " + r.messages, danger:
				action === "delete" });

			if (!yes) {
				note.say(text + " cancelled.");
				return;
			}
			const ans = await busy(button, () => call(api, "post",
			    "queue_act", f));
			const n = ans.result[0].messages;

			/* the line says it once the tables show the result */
			const failed = await refresh();

			note.say(ans.message + (n !== r.messages ? " (the preview "
			    + "counted " + r.messages + ": the queue changed " +
			    "meanwhile)" : "") + (failed ? "; the page could not " +
			    "be refreshed: " + failed.message : ""));
		} catch (e) {
			note.fail(e);
		}
	}

	// refresh - every table again; the first error (shown), or null
	async function refresh() {
		const jobs = [summary(), senders()];
		let failed = null;

		if (current !== null)
			jobs.push(list(current));
		for (const r of await Promise.allSettled(jobs))
			if (r.status === "rejected" && failed === null)
				note.fail(failed = r.reason);
		return failed;
	}

	clear(root).append(
	    el("h1", null, "Queue"),
	    note.node,
	    el("p", null, el("button", { type: "button", onclick: () =>
		refresh() }, "Refresh")),
	    el("section", { "aria-labelledby": "queue-dest" },
		el("h2", { id: "queue-dest" }, "By destination"), destBox),
	    el("section", { "aria-labelledby": "queue-sender" },
		el("h2", { id: "queue-sender" }, "By sender"), senderBox),
	    el("section", { "aria-labelledby": "queue-messages" },
		msgHead, form, shown, actBar, listBox));

	// a route may name a selection: route("queue", {user, state})
	const start = {};
	const p = routeParams(arg);

	for (const [k] of FILTERS)
		if (p[k])
			start[k] = p[k];
	for (const k in fields)
		fields[k].input.value = start[k] || "";
	current = start;
	await refresh();
}
