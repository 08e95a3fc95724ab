// pages_lib.mjs - what the page tests share: steps handed to the pytest
// driver, a check that fails the run, and keyboard helpers.
//
// A test may need the daemon to do something between two browser actions
// (mail submitted after a user was held): step(NAME) prints "STEP NAME" on
// stdout and waits for the driver's line on stdin ("go", or "fail WHY").
import readline from "node:readline";

const lines = readline.createInterface({ input: process.stdin });
const waiting = [];
const early = [];

lines.on("line", l => {
	const w = waiting.shift();

	if (w)
		w(l);
	else
		early.push(l);
});

// step - hand NAME to the driver and wait until it is done
export async function step(name) {
	process.stdout.write("STEP " + name + "\n");
	const l = early.length ? early.shift() :
	    await new Promise(r => waiting.push(r));

	if (l !== "go")
		throw new Error("step " + name + ": " + l);
}

// check - fail the run with what was seen unless ok
export function check(ok, what, seen) {
	if (!ok)
		throw new Error(what + (seen === undefined ? "" : ": got " +
		    JSON.stringify(seen)));
}

// focusBy - press Tab until the focused element's accessible text
// (aria-label, else its text) is name; fails after limit presses
export async function tabTo(page, name, limit = 80) {
	for (let i = 0; i < limit; i++) {
		await page.keyboard.press("Tab");
		const t = await page.evaluate(() => {
			const a = document.activeElement;

			return a ? (a.getAttribute("aria-label") ||
			    a.textContent || "").trim() : "";
		});
		if (t === name)
			return;
	}
	throw new Error("Tab never reached " + JSON.stringify(name));
}

// focusVisible - the focused element draws an outline (focus is seen)
export async function focusVisible(page) {
	return page.evaluate(() => {
		const s = getComputedStyle(document.activeElement);

		return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
	});
}

// noticeText - the page's status line once it holds text matching re
export async function notice(page, re) {
	const n = page.locator("main .notice");

	await n.filter({ hasText: re }).waitFor({ timeout: 10000 });
	return n.textContent();
}

// launchOptions - Debian's chromium ($CHROMIUM to choose another)
export function launchOptions() {
	return { executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
	    args: ["--no-sandbox"] };
}

// login - through the console's login form
export async function login(page, url, user, pass) {
	await page.goto(url);
	await page.getByLabel(/user|login/i).fill(user);
	await page.getByLabel(/password/i).fill(pass);
	await page.keyboard.press("Enter");
	await page.locator("nav").waitFor();
}

// finish - run fn, close the browser, exit 0 or 1 with the error
export async function finish(browser, fn) {
	let rc = 0;

	try {
		await fn();
		process.stdout.write("OK\n");
	} catch (e) {
		process.stderr.write((e && e.stack) || String(e));
		process.stderr.write("\n");
		rc = 1;
	} finally {
		await browser.close().catch(() => {});
		lines.close();
	}
	process.exit(rc);
}
