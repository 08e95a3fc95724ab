// bans.js - the bans page: the list (ban_list), a form to add one
// (ban_add: address or network, duration, reason) and a delete button per
// ban (ban_del, after a confirmation).
//
// SECURITY: reasons and origins may carry attacker text (a ban names the
// account it was for): text nodes only, through lib.js.
import { el, clear, table, field, call, notice, confirmDialog, fmtTime,
    busy, refocus } from "../lib.js";

export async function render(root, api) {
	const note = notice();
	const listBox = el("div");
	const listHead = el("h2", { id: "ban-list-title", tabindex: "-1" },
	    "Bans");
	const cidr = field("Address or network", { name: "cidr", required: true,
	    size: 24, placeholder: "192.0.2.1 or 192.0.2.0/24" });
	const dur = field("Duration", { name: "for", size: 8,
	    placeholder: "7d", pattern: "^([0-9]+[smhdw]?)+$",
	    title: "a duration: 90s, 30m, 12h, 7d, 2w; empty for the default" });
	const reason = field("Reason", { name: "reason", size: 32 });
	const add = el("button", { type: "submit" }, "Add ban");
	const form = el("form", { class: "ban-add", "aria-labelledby":
	    "ban-add-title" }, cidr.wrap, " ", dur.wrap, " ", reason.wrap, " ",
	    add);

	form.addEventListener("submit", async ev => {
		ev.preventDefault();
		const p = { cidr: cidr.input.value.trim() };

		if (dur.input.value.trim())
			p.for = dur.input.value.trim();
		if (reason.input.value.trim())
			p.reason = reason.input.value.trim();
		try {
			const ans = await busy(add, () => call(api, "post",
			    "ban_add", p));

			cidr.input.value = reason.input.value = "";
			dur.input.value = "";
			await load();
			note.say(ans.message || "banned " + p.cidr);
		} catch (e) {
			note.fail(e);
		}
	});

	async function del(button, b) {
		const yes = await confirmDialog("Delete the ban of " + b.cidr + "?",
		    b.reason ? "Reason: " + b.reason : "No reason was given.",
		    { ok: "Delete ban", danger: true });

		if (!yes)
			return;
		try {
			const ans = await busy(button, () => call(api, "post",
			    "ban_del", { cidr: b.cidr }));

			await load();
			note.say(ans.message || "unbanned " + b.cidr);
			refocus(listHead);
		} catch (e) {
			note.fail(e);
		}
	}

	async function load() {
		const ans = await call(api, "get", "ban_list");
		const cols = [
			{ key: "cidr", label: "Address" },
			{ key: "reason" },
			{ key: "origin" },
			{ key: "created", fmt: fmtTime },
			{ key: "expires", fmt: t => t ? fmtTime(t) : "never" },
			{ key: "cidr", label: "Action", fmt: (c, b) =>
			    el("button", { type: "button", class: "danger",
				"aria-label": "Delete ban " + c,
				onclick: ev => del(ev.currentTarget, b) },
				"Delete\u2026") },
		];

		clear(listBox).append(table("Bans in force", cols,
		    ans.bans || [], "no bans"));
	}

	clear(root).append(
	    el("h1", null, "Bans"),
	    note.node,
	    el("section", { "aria-labelledby": "ban-add-title" },
		el("h2", { id: "ban-add-title" }, "Add a ban"), form),
	    el("section", { "aria-labelledby": "ban-list-title" },
		listHead, listBox));
	try {
		await load();
	} catch (e) {
		note.fail(e);
	}
}
