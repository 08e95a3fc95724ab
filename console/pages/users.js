// users.js - the users page: every account with its state (user_list),
// suspend, hold or restore one (user_state, with a reason), its held mail
// shown (queue_list) and released (queue_act release, previewed by a dry
// run first).
//
// An account key "ip:ADDRESS[/SENDER]" is a relay client the watch held:
// its mail is selected by client address and sender, as the CLI's
// `moat user unsuspend --release` does.
//
// SECURITY: user names, reasons, addresses are attacker text: text nodes
// only, through lib.js.
import { el, clear, table, field, call, notice, confirmDialog, fmtTime,
    route, busy, refocus } from "../lib.js";

// mailFilter - the queue filter that selects an account's mail
export function mailFilter(user) {
	if (!user.startsWith("ip:"))
		return { user };
	const rest = user.slice(3), slash = rest.indexOf("/");

	return slash < 0 ? { client: rest } :
	    { client: rest.slice(0, slash), from: rest.slice(slash + 1) };
}

const STATE_ACTIONS = [
	// [state, button text, shown when the account's state is not ...]
	["held", "Hold", s => s === "active"],
	["suspended", "Suspend", s => s !== "suspended"],
	["active", "Restore", s => s !== "active"],
];

export async function render(root, api) {
	const note = notice();
	const listBox = el("div");
	const listHead = el("h2", { id: "user-list", tabindex: "-1" },
	    "Accounts");
	const heldHead = el("h2", { id: "user-held", tabindex: "-1" },
	    "Held mail");
	const heldBox = el("div", null, el("p", null,
	    "Choose \u201cHeld mail\u201d on an account to see it here."));

	async function setState(button, u, state, text) {
		const reason = field("Reason", { name: "reason", size: 40 });
		const release = field("Release its held mail too", {
		    type: "checkbox", name: "release" });
		const body = [el("p", null, state === "active" ?
		    "The account may send again." : state === "held" ?
		    "Its mail is accepted but held until released." :
		    "It may no longer log in or send."), el("p", null,
		    reason.wrap)];

		if (state === "active")
			body.push(el("p", null, release.wrap));
		if (!await confirmDialog(text + " " + u.user + "?", body,
		    { ok: text, danger: state !== "active" }))
			return;
		try {
			const p = { user: u.user, state };

			if (reason.input.value.trim())
				p.reason = reason.input.value.trim();
			let ans = await busy(button, () => call(api, "post",
			    "user_state", p));
			let msg = ans.message || u.user + ": " + state;

			if (state === "active" && release.input.checked) {
				ans = await call(api, "post", "queue_act",
				    Object.assign({ action: "release" },
				    mailFilter(u.user)));
				msg += "; " + ans.message;
			}
			await load();
			note.say(msg);
			refocus(listHead);
		} catch (e) {
			note.fail(e);
		}
	}

	async function showHeld(u) {
		try {
			const ans = await call(api, "get", "queue_list",
			    Object.assign({ state: "held", limit: 500 },
			    mailFilter(u.user)));

			clear(heldBox).append(
			    table("Held mail of " + u.user, [
				{ key: "qid", label: "Queue ID" },
				{ key: "created", fmt: fmtTime },
				{ key: "from", label: "Sender", fmt: v => v || "<>" },
				{ key: "client" },
				{ key: "to", label: "Recipients" },
			    ], ans.messages || [], "no held mail"),
			    ans.message ? el("p", null, ans.message) : null,
			    el("p", null, el("a", { href: route("queue",
				Object.assign({ state: "held" },
				mailFilter(u.user))) }, "Open in the queue page")));
			heldHead.focus();
		} catch (e) {
			note.fail(e);
		}
	}

	async function releaseHeld(button, u) {
		const f = Object.assign({ action: "release" }, mailFilter(u.user));

		try {
			const dry = await busy(button, () => call(api, "post",
			    "queue_act", Object.assign({ dry_run: 1 }, f)));
			const n = dry.result[0].messages;

			if (n === 0) {
				note.say(u.user + " has no held mail.");
				return;
			}
			if (!await confirmDialog("Release " + n + " message" +
			    (n === 1 ? "" : "s") + " of " + u.user + "?",
			    dry.message, { ok: "Release " + n }))
				return;
			const ans = await busy(button, () => call(api, "post",
			    "queue_act", f));

			await load();
			note.say(ans.message);
			refocus(listHead);
		} catch (e) {
			note.fail(e);
		}
	}

	function actions(u) {
		const out = [];

		for (const [state, text, when] of STATE_ACTIONS)
			if (when(u.state))
				out.push(el("button", { type: "button",
				    class: state === "active" ? null : "danger",
				    "aria-label": text + " " + u.user,
				    onclick: ev => setState(ev.currentTarget, u, state,
					text) }, text + "\u2026"), " ");
		out.push(el("button", { type: "button",
		    "aria-label": "Held mail of " + u.user,
		    onclick: () => showHeld(u) }, "Held mail"), " ",
		    el("button", { type: "button",
		    "aria-label": "Release held mail of " + u.user,
		    onclick: ev => releaseHeld(ev.currentTarget, u) },
		    "Release held mail\u2026"));
		if (u.state !== "active")
			out.push(" ", el("a", { href: route("incident",
			    u.user.startsWith("ip:") ? "client:" +
			    mailFilter(u.user).client : "user:" + u.user),
			    "aria-label": "Incident of " + u.user }, "Incident"));
		return out;
	}

	async function load() {
		const ans = await call(api, "get", "user_list");
		const cols = [
			{ key: "user" },
			{ key: "state", fmt: s => el("span", { class: "state " +
			    s.replace(/[^a-z]/g, "") }, s) },
			{ key: "reason" },
			{ key: "updated", fmt: fmtTime },
			{ key: "in_file", label: "Password", fmt: f =>
			    f ? "yes" : "no" },
			{ key: "queued", num: true },
			{ key: "messages_1h", label: "Messages 1h", num: true },
			{ key: "auth_events_24h", label: "AUTH events 24h",
			    num: true },
			{ key: "events_24h", label: "Events 24h", num: true },
			{ key: "user", label: "Actions", fmt: (_, u) => actions(u) },
		];

		clear(listBox).append(table(null, cols, ans.users || [],
		    "no accounts"));
		if (ans.message)
			listBox.append(el("p", null, ans.message));
	}

	clear(root).append(
	    el("h1", null, "Users"),
	    note.node,
	    el("section", { "aria-labelledby": "user-list" },
		listHead, listBox),
	    el("section", { "aria-labelledby": "user-held" }, heldHead,
		heldBox));
	try {
		await load();
	} catch (e) {
		note.fail(e);
	}
}
