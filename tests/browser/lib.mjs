// lib.mjs - what the console's browser tests share: Debian's chromium
// driven by playwright-core (no browser download), login, assertions.
//
// A scenario is a module NAME.mjs whose default export takes {page,
// context, browser, url, user, password, rest}; it runs alone as
//   node tests/browser/NAME.mjs URL USER PASSWORD [ARGS...]
// or with others in one chromium as
//   node tests/browser/run.mjs URL USER PASSWORD NAME.mjs[=ARG,...] ...
// (tests/integration/test_console_browser.py); exit 0 when every check
// held, 1 with the failed check on stderr otherwise. A script
// that needs the test's help (an SMTP session opened at the right time)
// prints a line on stdout and reads one on stdin.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

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

export function launch() {
	return chromium.launch({ executablePath: CHROMIUM, headless: true,
	    args: ["--no-sandbox"] });
}

// scenario(browser, fn, a) - fn in a fresh context and page of browser;
// page errors fail it
export async function scenario(browser, fn, a) {
	const context = await browser.newContext();
	context.setDefaultTimeout(TIMEOUT_MS);
	const page = await context.newPage();
	const errors = [];
	page.on("pageerror", (e) => errors.push(String(e)));
	page.on("console", (m) => {
		if (m.type() === "error" && !/status of 40[1349]/.test(m.text()))
			errors.push(m.text());
	});
	try {
		await fn({ browser, context, page, ...a });
		check(errors.length === 0, `no page errors, got: ${errors.join("; ")}`);
	} finally {
		await context.close();
	}
}

// isMain(import.meta.url) - the module is the script node was given
export function isMain(url) {
	return process.argv[1] !== undefined &&
	    url === pathToFileURL(process.argv[1]).href;
}

// finish(code) - stop reading the test's lines and exit
export function finish(code) {
	lines.close();
	process.exit(code);
}

// withBrowser(async (browser) => ...) - one chromium for body; a throw
// is printed and makes the exit status 1; the browser is closed either way
export async function withBrowser(body) {
	let browser = null, code = 0;
	try {
		browser = await launch();
		await body(browser);
	} catch (e) {
		console.error(e && e.stack ? e.stack : String(e));
		code = 1;
	} finally {
		if (browser)
			await browser.close();
	}
	finish(code);
}

// run(async ({browser, context, page, url, user, password, rest}) =>
// ...) - the script alone: one chromium, one scenario
export async function run(fn) {
	const a = args();
	await withBrowser((browser) => scenario(browser, fn, a));
}

// login(page, url, user, password) - through the login form
export async function login(page, url, user, password) {
	await page.goto(url);
	await page.fill("#login-user", user);
	await page.fill("#login-password", password);
	await page.click("#login-form button[type=submit]");
	await page.waitForSelector("#nav a#nav-overview");
}
