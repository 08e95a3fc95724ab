// sessions.mjs HELO - the sessions page shows an SMTP session that opens
// while it is on screen (the test opens it with EHLO HELO after READY),
// and its Kill button ends it: the row goes away.
import { run, check, login, say, hear } from "./lib.mjs";

run(async ({ page, url, user, password, rest }) => {
	const helo = rest[0];
	check(helo, "a HELO name to watch for");
	await login(page, url, user, password);
	await page.click("#nav-sessions");
	await page.waitForSelector("#sessions-count");
	check(!(await page.textContent("#sessions-list")).includes(helo),
	    "the session is not there before it opens");
	say("READY");
	await hear();		// the test has opened it
	const row = page.locator("#sessions-list tr", { hasText: helo });
	await row.waitFor();
	const id = await row.locator("td").first().textContent();
	check(/^[0-9a-f]{16}$/.test(id), `a session id: ${id}`);
	say(`SEEN ${id}`);
	await row.getByRole("button", { name: `Kill session ${id}` }).click();
	await row.waitFor({ state: "detached" });
	check(/killed|ended|1 session/i.test(await page.textContent("#status")),
	    `the result is said: ${await page.textContent("#status")}`);
	say("KILLED");
	await hear();		// the test has seen the connection closed
});
