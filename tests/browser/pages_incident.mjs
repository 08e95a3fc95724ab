// pages_incident.mjs URL USER PASS WANT - the incident list and one
// incident's page after the guessing attack test_console_pages.py ran.
// WANT (JSON): {"id": "user:alice", "banned": ["127.0.0.121/32", ...],
// "held": N}. The incident is reached by keyboard from the list.
import { run, login } from "./lib.mjs";
import { check, tabTo, focusVisible } from "./pages_lib.mjs";

await run(async ({ page, url, user, password, rest }) => {
	const want = JSON.parse(rest[0]);
	const section = name => page.locator("main section", {
	    has: page.getByRole("heading", { name, exact: true }) });

	await login(page, url, user, password);
	await page.goto(url + "#/incidents");
	const link = page.getByRole("link", { name: want.id });
	await link.waitFor();
	const row = page.locator("main table tbody tr", { has: link });
	check(/login_after_guessing|held|guess/.test(await row.textContent()),
	    "the incident's kind", await row.textContent());

	await tabTo(page, want.id);
	check(await focusVisible(page), "the focused link shows its focus");
	await page.keyboard.press("Enter");
	await page.getByRole("heading", { name: "Timeline" }).waitFor();
	check(decodeURIComponent(new URL(page.url()).hash).includes(want.id),
	    "the incident's own page", page.url());

	const timeline = await section("Timeline").locator("tbody tr")
	    .allTextContents();
	const has = t => timeline.some(r => r.includes(t));
	check(has("auth_fail") && has("login_after_guessing") &&
	    has("guess_ban"), "the timeline: failures, login, bans",
	    timeline);
	const bans = await section("Bans").locator("tbody tr td:first-child")
	    .allTextContents();
	for (const b of want.banned)
		check(bans.includes(b), "banned " + b, bans);
	const held = section("Held mail").locator("tbody tr:not(.empty)");
	check(await held.count() === want.held, "held messages",
	    await held.count());
	const summary = await section("Summary").textContent();
	check(summary.length > 0, "a summary");
});
