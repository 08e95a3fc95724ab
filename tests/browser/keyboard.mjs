// keyboard.mjs - the console by keyboard alone: log in with Tab and
// Enter, the skip link first, the navigation reached by Tab with a
// visible focus, a page opened with Enter, and an action (the events
// filter) run from the keyboard.
import { run, check } from "./lib.mjs";

async function focused(page) {
	return page.evaluate(() => {
		const e = document.activeElement;
		return { id: e.id, tag: e.tagName, text: e.textContent.trim(),
		    outline: getComputedStyle(e).outlineStyle,
		    href: e.getAttribute("href") };
	});
}

async function tabTo(page, pred, what, max = 30) {
	for (let i = 0; i < max; i++) {
		await page.keyboard.press("Tab");
		const f = await focused(page);
		if (pred(f))
			return f;
	}
	throw new Error(`check failed: Tab reaches ${what}`);
}

run(async ({ page, url, user, password }) => {
	await page.goto(url);
	await page.waitForSelector("#login-form");
	// the login form has the focus on its first field
	check((await focused(page)).id === "login-user", "focus on the login");
	await page.keyboard.type(user);
	await page.keyboard.press("Tab");
	await page.keyboard.type(password);
	await page.keyboard.press("Enter");
	await page.waitForSelector("#nav a#nav-overview");

	// from the top: the skip link first, and it moves the focus to main
	await page.reload();
	await page.waitForSelector("#nav a#nav-overview");
	await page.keyboard.press("Tab");
	let f = await focused(page);
	check(f.text === "Skip to content", `skip link first, got ${f.text}`);
	check(f.outline !== "none", "the focus is visible");
	await page.keyboard.press("Enter");
	check((await focused(page)).id === "main", "the skip link moves the " +
	    "focus to the content");

	// the navigation by Tab, Events opened with Enter
	f = await tabTo(page, (x) => x.id === "nav-events", "Events in the nav");
	check(f.outline !== "none", "the focus on a link is visible");
	await page.keyboard.press("Enter");
	await page.waitForSelector("#ev-filters");
	check(page.url().endsWith("#/events"), "the events page");

	// an action by keyboard: filter by type, run with Enter on Show
	await tabTo(page, (x) => x.id === "ev-type", "the type filter");
	await page.keyboard.type("console_login");
	await tabTo(page, (x) => x.tag === "BUTTON" && x.text === "Show",
	    "the Show button");
	await page.keyboard.press("Enter");
	await page.waitForFunction(() => {
		const cells = [...document.querySelectorAll("#ev-list td:nth-child(2)")];
		return cells.length > 0 &&
		    cells.every((c) => c.textContent === "console_login");
	});
	// Follow: a checkbox toggled with Space
	await tabTo(page, (x) => x.id === "ev-follow", "Follow");
	await page.keyboard.press("Space");
	await page.waitForFunction(() =>
	    /following/.test(document.querySelector("#ev-note").textContent));
});
