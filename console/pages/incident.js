// incident.js - one incident's page (the incident op, the tables `moat
// incident show` prints): summary, timeline, mail held and mail that left,
// the bans, and the clients involved. The id comes from the route:
// #/incident/user:NAME or #/incident/client:ADDRESS.
//
// SECURITY: every cell is attacker text (user names, addresses, event
// details): text nodes only, through lib.js.
import { el, clear, table, kvTable, call, notice, fmtTime, route }
    from "../lib.js";
import { mailFilter } from "./users.js";

const MAIL_COLS = [
	{ key: "qid", label: "Queue ID" },
	{ key: "from", label: "Sender", fmt: v => v || "<>" },
	{ key: "to", label: "Recipient" },
	{ key: "time", fmt: fmtTime },
];

// section - an h2 and what follows, labelled by the heading
function section(id, title, ...content) {
	return el("section", { "aria-labelledby": id },
	    el("h2", { id }, title), content);
}

export async function render(root, api, arg) {
	const note = notice();
	const id = arg || "";

	clear(root).append(el("h1", null, "Incident ", id), note.node,
	    el("p", null, el("a", { href: route("incidents") },
		"All incidents")));
	if (!/^(user|client):./.test(id)) {
		note.fail("which incident? (user:NAME or client:ADDRESS)");
		return;
	}
	let ans;

	try {
		ans = await call(api, "get", "incident", { id });
	} catch (e) {
		note.fail(e);
		return;
	}
	const summary = (ans.summary || []).map(r => [r.key, r.value]);
	const links = [];

	if (id.startsWith("user:")) {
		const user = id.slice(5);

		links.push(el("a", { href: route("users") }, "Users page"), " \u00b7 ",
		    el("a", { href: route("queue", Object.assign({ state: "held" },
			mailFilter(user))) }, "Its held mail in the queue"));
	} else
		links.push(el("a", { href: route("queue", { client:
		    id.slice(7) }) }, "Its mail in the queue"), " \u00b7 ",
		    el("a", { href: route("bans") }, "Bans page"));
	root.append(...[
	    section("inc-summary", "Summary", kvTable(null, summary),
		el("p", null, links)),
	    section("inc-timeline", "Timeline", table(null, [
		{ key: "time", fmt: fmtTime },
		{ key: "type" },
		{ key: "client" },
		{ key: "user" },
		{ key: "detail" },
	    ], ans.timeline || [], "no events")),
	    section("inc-held", "Held mail", table(null, MAIL_COLS,
		ans.held || [], "nothing held")),
	    section("inc-left", "Mail that left", table(null, MAIL_COLS,
		ans.left || [], "nothing left")),
	    ans.queued ? section("inc-queued", "Mail still queued", table(null,
		MAIL_COLS, ans.queued, "none")) : null,
	    section("inc-bans", "Bans", table(null, [
		{ key: "cidr", label: "Address" },
		{ key: "until", fmt: t => t ? fmtTime(t) : "never" },
		{ key: "reason" },
	    ], ans.bans || [], "no bans")),
	    section("inc-clients", "Clients", table(null, [
		{ key: "address" },
		{ key: "failures", label: "AUTH failures", num: true },
		{ key: "logins", num: true },
	    ], ans.clients || [], "no clients"))].filter(Boolean));
}
