// incidents.js - the incidents page: what the queue sums up as incidents
// over a period (the incidents op: one row per account or client), each a
// link to its own page (incident.js).
//
// SECURITY: ids carry user names and addresses: text nodes and a URL
// parameter (encoded by URLSearchParams) only.
import { el, clear, table, field, call, notice, fmtTime, route }
    from "../lib.js";

export const PERIODS = [["3600", "the last hour"], ["86400", "the last day"],
    ["604800", "the last 7 days"], ["2592000", "the last 30 days"]];

export async function render(root, api) {
	const note = notice();
	const listBox = el("div");
	const since = field("Period", { name: "since", options: PERIODS });
	const form = el("form", { class: "filters", "aria-label": "Period" },
	    since.wrap, " ", el("button", { type: "submit" }, "Show"));

	since.input.value = PERIODS[2][0];
	form.addEventListener("submit", ev => {
		ev.preventDefault();
		load();
	});

	async function load() {
		note.clear();
		try {
			const ans = await call(api, "get", "incidents",
			    { since: since.input.value });
			const cols = [
				{ key: "id", label: "Incident", fmt: id =>
				    el("a", { href: route("incident", id) }, id) },
				{ key: "kind" },
				{ key: "state" },
				{ key: "first", fmt: fmtTime },
				{ key: "last", fmt: fmtTime },
				{ key: "events", num: true },
				{ key: "held", num: true },
				{ key: "left", label: "Left (delivered)", num: true,
				    fmt: n => n < 0 ? "unknown" : n },
			];

			clear(listBox).append(table("Incidents", cols,
			    ans.incidents || [], "no incident in this period"));
			if (ans.message)
				listBox.append(el("p", null, ans.message));
		} catch (e) {
			note.fail(e);
		}
	}

	clear(root).append(el("h1", null, "Incidents"), note.node, form,
	    listBox);
	await load();
}
