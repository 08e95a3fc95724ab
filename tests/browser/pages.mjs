// pages.mjs URL USER PASS - the users, queue, bans and incident pages
// against a daemon driven by test_console_pages.py (steps between browser
// actions): alice held from the users page by keyboard, her mail seen held
// on the queue page, a dry-run preview's count before delete, the rest
// released and alice restored, a ban added and deleted, attacker text
// shown as text; then a guessing attack on alice is an incident in the
// list, and its page shows the timeline and the banned addresses.
import { run, login } from "./lib.mjs";
import { step, check, tabTo, focusVisible, notice } from "./pages_lib.mjs";

await run(async ({ page, url, user, password }) => {
	const cell = (table, row, col) => page.locator(table +
	    " tbody tr").filter({ hasText: row }).locator("td").nth(col);

	// a script run by the data would be an alert or a global
	const alerts = [];

	page.on("dialog", d => {
		alerts.push(d.message());
		d.dismiss();
	});
	await login(page, url, user, password);

	// users: hold alice, by keyboard only
	await page.goto(url + "#/users");
	await page.getByRole("button", { name: "Hold alice" }).waitFor();
	await tabTo(page, "Hold alice");
	check(await focusVisible(page), "the focused button shows its focus");
	await page.keyboard.press("Enter");
	const dlg = page.getByRole("dialog", { name: "Hold alice?" });
	await dlg.waitFor();
	check(await page.evaluate(() => document.activeElement.name) ===
	    "reason", "the dialog's reason field has the focus");
	await page.keyboard.type("console test");
	await page.keyboard.press("Enter");
	await notice(page, /alice/);
	check(await cell("main table", "alice", 1).textContent() === "held",
	    "alice shown held", await cell("main table", "alice", 1).textContent());
	await step("held");	/* the driver submits 3 + 2 messages of alice */

	// queue: by destination and by sender, then delete d1.example's
	await page.goto(url + "#/queue");
	await page.getByRole("button", { name: "d1.example" }).waitFor();
	const dest = page.locator("table", { has: page.locator("caption",
	    { hasText: "Recipients by destination" }) });
	const held = async (t, row) => (await t.locator("tbody tr").filter(
	    { hasText: row }).locator("td").nth(5).textContent()).trim();
	check(await held(dest, "d1.example") === "3", "d1.example: 3 held",
	    await held(dest, "d1.example"));
	check(await held(dest, "d2.example") === "2", "d2.example: 2 held");
	const senders = page.locator("table", { has: page.locator("caption",
	    { hasText: "Messages by sender" }) });
	const srow = senders.locator("tbody tr").filter(
	    { hasText: "alice@example.org" }).locator("td");
	check(await srow.nth(1).textContent() === "5" &&
	    await srow.nth(3).textContent() === "5",
	    "alice@example.org: 5 messages, 5 held",
	    await srow.allTextContents());

	await page.getByRole("button", { name: "d1.example" }).click();
	const msgs = page.locator("table", { has: page.locator("caption",
	    { hasText: /^Messages$/ }) }).locator("tbody tr");
	await page.getByText("Selection: destination domain d1.example.")
	    .waitFor();
	check(await msgs.count() === 3, "3 messages for d1.example",
	    await msgs.count());
	for (const s of await msgs.locator("td:nth-child(8)").allTextContents())
		check(s === "held", "each of them held", s);
	await page.getByRole("button", { name: "Delete\u2026" }).click();
	const del = page.getByRole("dialog", { name: "Delete 3 messages?" });
	await del.waitFor();
	check(/would act on 3 messages/.test(await del.textContent()),
	    "the preview counts 3", await del.textContent());
	await del.getByRole("button", { name: "Delete 3" }).click();
	check(/deleted 3 messages/.test(await notice(page, /deleted/)),
	    "3 deleted");
	await page.getByText("no message matches").waitFor();
	await step("deleted");	/* only d2.example's 2 are left, held */

	// users: release the rest, then restore alice
	await page.goto(url + "#/users");
	await page.getByRole("button", { name: "Held mail of alice", exact: true }).click();
	const heldRows = page.locator("table", { has: page.locator("caption",
	    { hasText: "Held mail of alice" }) }).locator("tbody tr");
	await heldRows.first().waitFor();
	check(await heldRows.count() === 2, "2 held messages shown",
	    await heldRows.count());
	await page.getByRole("button", { name: "Release held mail of alice" })
	    .click();
	const rel = page.getByRole("dialog", { name:
	    "Release 2 messages of alice?" });
	await rel.getByRole("button", { name: "Release 2" }).click();
	await notice(page, /released 2 messages/);
	await page.getByRole("button", { name: "Restore alice" }).click();
	await page.getByRole("dialog", { name: "Restore alice?" })
	    .getByRole("button", { name: "Restore" }).click();
	await notice(page, /alice/);
	await page.getByRole("button", { name: "Hold alice" }).waitFor();

	// bans: the one the driver added shows its reason as text
	await page.goto(url + "#/bans");
	const bans = page.locator("main table tbody tr");
	await bans.filter({ hasText: "198.51.100.7" }).waitFor();
	check(await page.locator("main img").count() === 0 &&
	    await page.evaluate(() => window.__pwned === undefined),
	    "a reason with markup stays text");
	check((await bans.filter({ hasText: "198.51.100.7" }).textContent())
	    .includes("<img src=x onerror="), "the markup shown as text");

	// add one by keyboard: the form's fields in order, Enter submits
	await page.getByLabel("Address or network").focus();
	await page.keyboard.type("192.0.2.0/24");
	await page.keyboard.press("Tab");
	await page.keyboard.type("1h");
	await page.keyboard.press("Tab");
	await page.keyboard.type("console test");
	await page.keyboard.press("Enter");
	await bans.filter({ hasText: "192.0.2.0/24" }).waitFor();
	await step("banned");
	await tabTo(page, "Delete ban 192.0.2.0/24");
	await page.keyboard.press("Enter");
	const bd = page.getByRole("dialog", { name:
	    "Delete the ban of 192.0.2.0/24?" });
	await bd.waitFor();
	check(await page.evaluate(() => document.activeElement.textContent) ===
	    "Cancel", "a delete dialog starts on Cancel");
	await page.keyboard.press("Shift+Tab");
	await page.keyboard.press("Enter");
	await bans.filter({ hasText: "192.0.2.0/24" }).waitFor(
	    { state: "detached" });
	check(await page.evaluate(() => document.activeElement.id) ===
	    "ban-list-title", "the focus goes to the list's heading");
	await step("unbanned");

	// incidents: the driver runs a guessing attack on alice; its incident
	// is in the list and its page reached by keyboard
	const want = await step("attacked");
	const section = name => page.locator("main section", {
	    has: page.getByRole("heading", { name, exact: true }) });
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
	const banned = await section("Bans").locator(
	    "tbody tr td:first-child").allTextContents();
	for (const b of want.banned)
		check(banned.includes(b), "banned " + b, banned);
	const heldNow = section("Held mail").locator("tbody tr:not(.empty)");
	check(await heldNow.count() === want.held, "held messages",
	    await heldNow.count());
	const summary = await section("Summary").textContent();
	check(summary.length > 0, "a summary");
	check(alerts.length === 0, "no page opened a dialog", alerts);
});
