// sessions.js - the SMTP sessions open now (moat sessions), polled;
// each can be ended (moat sessions kill ID).
import { el, clear, table, fmtTime, fmtDur, say } from "/ui.js";

const POLL_MS = 2000;

export async function render(root, api) {
	const list = el("div", { id: "sessions-list" });
	const note = el("p", { class: "muted", id: "sessions-count" });
	root.append(el("h1", {}, "Sessions"), note, list);
	let timer = null, stopped = false;

	async function kill(id) {
		try {
			const r = await api.post("session_kill", { id });
			say(r.message || `session ${id} ended`);
		} catch (e) {
			say(`not ended: ${e.message}`);
		}
		refresh();
	}

	async function refresh() {
		clearTimeout(timer);
		let r;
		try {
			r = await api.get("sessions");
		} catch (e) {
			note.textContent = `sessions unavailable: ${e.message}`;
			r = null;
		}
		if (stopped)
			return;
		if (r) {
			const rows = r.sessions || [];
			note.textContent = r.message;
			clear(list);
			if (rows.length === 0)
				list.append(el("p", { class: "empty" },
				    "No session open."));
			else
				list.append(table(rows, [
				    { key: "id", label: "Session" },
				    { key: "listener", label: "Listener" },
				    { key: "client", label: "Client" },
				    { key: "rdns", label: "Reverse DNS" },
				    { key: "helo", label: "HELO" },
				    { key: "user", label: "User" },
				    { key: "tls", label: "TLS" },
				    { key: "state", label: "State" },
				    { key: "started", label: "Started",
				      format: fmtTime },
				    { key: "duration", label: "For",
				      format: fmtDur },
				    { key: "messages", label: "Messages" },
				    { key: "id", label: "Action",
				      format: (id) => el("button", {
				        type: "button", class: "danger",
				        "aria-label": `Kill session ${id}`,
				        dataset: { session: id },
				        onclick: () => kill(id) }, "Kill") },
				], "Open sessions"));
		}
		timer = setTimeout(refresh, POLL_MS);
	}
	await refresh();
	return () => {
		stopped = true;
		clearTimeout(timer);
	};
}
