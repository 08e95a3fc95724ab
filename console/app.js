// app.js - the console's shell: login, navigation, the hash router and
// the API client the pages use.
//
// A page is an ES module /pages/NAME.js exporting
//   render(root, api, arg) -> optional cleanup function
// shown at #/NAME (or #/NAME/ARG). api.get(op, params) and
// api.post(op, params) call /api/OP and resolve to the JSON
// `moat ... --json` prints; a POST carries the session's CSRF token.
import { el, clear, say } from "/ui.js";

// the pages, in the order of the navigation
export const pages = [
	{ name: "overview", label: "Overview" },
	{ name: "sessions", label: "Sessions" },
	{ name: "queue", label: "Queue" },
	{ name: "events", label: "Events" },
	{ name: "bans", label: "Bans" },
	{ name: "users", label: "Users" },
	{ name: "incidents", label: "Incidents" },
];

let csrf = "";
let cleanup = null;

// the answer of an API call; {status, message, TABLE: [...]} or an error
export class ApiError extends Error {
	constructor(status, body) {
		super(body && body.message ? body.message : `HTTP ${status}`);
		this.httpStatus = status;
		this.body = body;
	}
}

async function call(method, op, params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params || {}))
		if (v !== undefined && v !== null && v !== "")
			q.append(k, String(v));
	const opts = { method, credentials: "same-origin", headers: {} };
	let url = `/api/${encodeURIComponent(op)}`;
	if (method === "GET") {
		if ([...q].length)
			url += "?" + q.toString();
	} else {
		opts.body = q;
		opts.headers["X-CSRF-Token"] = csrf;
	}
	const r = await fetch(url, opts);
	let body = null;
	try {
		body = await r.json();
	} catch (e) {
		body = null;
	}
	if (r.status === 401 && op !== "login") {
		showLogin("Your session ended; log in again.");
		throw new ApiError(r.status, body);
	}
	if (!r.ok || body === null)
		throw new ApiError(r.status, body);
	return body;
}

export const api = {
	get: (op, params) => call("GET", op, params),
	post: (op, params) => call("POST", op, params),
};

function main() {
	return document.getElementById("main");
}

function showNav(login) {
	const nav = document.getElementById("nav");
	clear(nav);
	const ul = el("ul", {});
	for (const p of pages)
		ul.append(el("li", {}, el("a", { href: `#/${p.name}`,
		    id: `nav-${p.name}` }, p.label)));
	nav.append(ul);
	nav.hidden = false;
	document.getElementById("who-name").textContent = login;
	document.getElementById("who").hidden = false;
}

function hideNav() {
	document.getElementById("nav").hidden = true;
	document.getElementById("who").hidden = true;
}

function stopPage() {
	if (typeof cleanup === "function")
		cleanup();
	cleanup = null;
}

function showLogin(message) {
	stopPage();
	hideNav();
	csrf = "";
	const root = clear(main());
	const err = el("p", { id: "login-error", class: "error",
	    role: "alert" }, message || "");
	const user = el("input", { id: "login-user", name: "user",
	    autocomplete: "username", required: true });
	const pass = el("input", { id: "login-password", name: "password",
	    type: "password", autocomplete: "current-password",
	    required: true });
	const form = el("form", { id: "login-form" },
	    el("h1", {}, "Log in"),
	    el("p", {}, el("label", { for: "login-user" }, "Login"), user),
	    el("p", {}, el("label", { for: "login-password" }, "Password"),
	    pass),
	    el("p", {}, el("button", { type: "submit" }, "Log in")), err);
	const send = async (body) => {
		try {
			// any token: a cross-site form cannot send a header
			const r = await fetch("/api/login", { method: "POST",
			    credentials: "same-origin", body,
			    headers: { "X-CSRF-Token": "login" } });
			const j = await r.json();
			if (!r.ok) {
				err.textContent = j.message || "login refused";
				return;
			}
			loggedIn(j);
		} catch (e) {
			err.textContent = "the console did not answer";
		}
	};
	form.addEventListener("submit", (ev) => {
		ev.preventDefault();
		err.textContent = "";
		const body = new URLSearchParams({ user: user.value,
		    password: pass.value });
		pass.value = "";
		send(body);
	});
	// over HTTPS a client certificate (console_client_ca) may name the
	// login: no password then
	if (location.protocol === "https:") {
		const cert = el("button", { type: "button", id: "login-cert" },
		    "Log in with my certificate");
		cert.addEventListener("click", () => {
			err.textContent = "";
			send(new URLSearchParams({ certificate: "1" }));
		});
		form.append(el("p", {}, cert));
	}
	root.append(form);
	user.focus();
}

function loggedIn(session) {
	csrf = session.csrf;
	showNav(session.login);
	if (!location.hash || location.hash === "#" ||
	    location.hash === "#main")
		location.hash = "#/overview";
	else
		route();
}

// #/NAME or #/NAME/ARG
function parseHash() {
	const m = /^#\/([a-z][a-z0-9_-]*)(?:\/(.*))?$/.exec(location.hash);
	if (!m)
		return null;
	return { name: m[1], arg: m[2] !== undefined ?
	    decodeURIComponent(m[2]) : undefined };
}

async function route() {
	if (!csrf)
		return;
	const h = parseHash();
	if (!h)
		return;		// the skip link and other in-page anchors
	stopPage();
	const root = clear(main());
	for (const a of document.querySelectorAll("#nav a"))
		if (a.getAttribute("href") === `#/${h.name}`)
			a.setAttribute("aria-current", "page");
		else
			a.removeAttribute("aria-current");
	let mod;
	try {
		mod = await import(`/pages/${h.name}.js`);
	} catch (e) {
		root.append(el("h1", {}, "Not available"),
		    el("p", {}, `There is no page "${h.name}" in this console.`));
		return;
	}
	const label = (pages.find((p) => p.name === h.name) || {}).label;
	document.title = `${label || h.name} - moat console`;
	try {
		cleanup = await mod.render(root, api, h.arg);
	} catch (e) {
		if (!(e instanceof ApiError && e.httpStatus === 401))
			root.append(el("p", { class: "error", role: "alert" },
			    `This page failed: ${e.message}`));
	}
}

async function start() {
	window.addEventListener("hashchange", route);
	document.getElementById("logout").addEventListener("click", async () => {
		try {
			await api.post("logout", {});
		} catch (e) {
			// logged out anyway below
		}
		say("Logged out.");
		showLogin("");
	});
	try {
		const r = await fetch("/api/session", { credentials: "same-origin" });
		if (r.ok) {
			loggedIn(await r.json());
			return;
		}
	} catch (e) {
		// the login form says the rest
	}
	showLogin("");
}

start();
