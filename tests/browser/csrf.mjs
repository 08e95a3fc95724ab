// csrf.mjs CIDR - a POST without the session's CSRF token is refused
// with 403 and changes nothing, from the console's own origin (a script
// that forgot the header) and from a page of another site (a forged
// form: the cookie is SameSite=Strict and the header missing).
import { run, check, login } from "./lib.mjs";

run(async ({ context, page, url, user, password, rest }) => {
	const cidr = rest[0];
	await login(page, url, user, password);
	const bans = async () => page.evaluate(async () =>
	    (await (await fetch("/api/ban_list")).json()).bans.map((b) => b.cidr));
	check(!(await bans()).includes(cidr), "not banned before");

	// same origin, no token or a wrong one
	for (const token of [null, "A".repeat(43)]) {
		const st = await page.evaluate(async ([c, t]) => {
			const h = t ? { "X-CSRF-Token": t } : {};
			return (await fetch("/api/ban_add", { method: "POST",
			    headers: h, body: new URLSearchParams({ cidr: c }) }))
			    .status;
		}, [cidr, token]);
		check(st === 403, `POST with token ${token}: 403, got ${st}`);
	}

	// another site's page posting a form at the console
	const evil = await context.newPage();
	let answered = null;
	evil.on("response", (r) => {
		if (r.url().includes("/api/ban_add"))
			answered = r.status();
	});
	await evil.setContent(`<form method="post" action="${url}api/ban_add">
	    <input name="cidr" value="${cidr}"></form>`);
	await Promise.all([evil.waitForEvent("response", (r) =>
	    r.url().includes("/api/ban_add")),
	    evil.evaluate(() => document.forms[0].submit())]);
	check(answered === 401 || answered === 403,
	    `the forged form is refused, got ${answered}`);
	await evil.close();

	check(!(await bans()).includes(cidr), "still not banned");
	// the console's own call, with the token, works
	const ok = await page.evaluate(async (c) => {
		const s = await (await fetch("/api/session")).json();
		return (await fetch("/api/ban_add", { method: "POST",
		    headers: { "X-CSRF-Token": s.csrf },
		    body: new URLSearchParams({ cidr: c }) })).status;
	}, cidr);
	check(ok === 200, `with the token: 200, got ${ok}`);
	check((await bans()).includes(cidr), "banned with the token");
});
