// lib.mjs - what the console's browser tests share: Debian's chromium
// driven by playwright-core (no browser download), login, assertions.
//
// A test is a script run as
//   node tests/browser/NAME.mjs URL USER PASSWORD [ARGS...]
// by tests/integration/test_console_browser.py; it exits 0 when every
// check held, 1 with the failed check on stderr otherwise. A script
// that needs the test's help (an SMTP session opened at the right time)
// prints a line on stdout and reads one on stdin.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

export const CHROMIUM = process.env.MOAT_CHROMIUM || "/usr/bin/chromium";
const TIMEOUT_MS = 10000;

export function check(cond, what) {
	if (!cond)
		throw new Error(`check failed: ${what}`);
}

// the arguments: url, user, password, then the script's own
export function args() {
	const [url, user, password, ...rest] = process.argv.slice(2);
	if (!url || !user || !password) {
		console.error("usage: node SCRIPT.mjs URL USER PASSWORD [ARGS...]");
		process.exit(2);
	}
	return { url, user, password, rest };
}

const lines = createInterface({ input: process.stdin });
const waiting = [];
const queued = [];
lines.on("line", (l) => (waiting.length ? waiting.shift()(l) : queued.push(l)));

// say(text) - a line to the test; hear() - the test's next line
export function say(text) {
	process.stdout.write(text + "\n");
}
export function hear() {
	return queued.length ? Promise.resolve(queued.shift()) :
	    new Promise((resolve) => waiting.push(resolve));
}

// run(async ({browser, page, url, user, password, rest}) => ...) - one
// chromium for the whole script; errors and page errors fail it
export async function run(fn) {
	const a = args();
	let browser = null, code = 0;
	try {
		browser = await chromium.launch({ executablePath: CHROMIUM,
		    headless: true, args: ["--no-sandbox"] });
		const context = await browser.newContext();
		context.setDefaultTimeout(TIMEOUT_MS);
		const page = await context.newPage();
		const errors = [];
		page.on("pageerror", (e) => errors.push(String(e)));
		page.on("console", (m) => {
			if (m.type() === "error" && !/status of 40[1349]/.test(m.text()))
				errors.push(m.text());
		});
		await fn({ browser, context, page, ...a });
		check(errors.length === 0, `no page errors, got: ${errors.join("; ")}`);
	} catch (e) {
		console.error(e && e.stack ? e.stack : String(e));
		code = 1;
	} finally {
		if (browser)
			await browser.close();
		lines.close();
	}
	process.exit(code);
}

// login(page, url, user, password) - through the login form
export async function login(page, url, user, password) {
	await page.goto(url);
	await page.fill("#login-user", user);
	await page.fill("#login-password", password);
	await page.click("#login-form button[type=submit]");
	await page.waitForSelector("#nav a#nav-overview");
}
