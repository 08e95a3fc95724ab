// pages_lib.mjs - what the page tests (pages_*.mjs) add to lib.mjs: steps
// handed to the pytest driver, checks that say what was seen, keyboard
// helpers and the pages' status line.
import { check as libCheck, say, hear } from "./lib.mjs";

// step - "STEP NAME" to the driver, which does it and answers "go" or
// "go JSON" (anything else fails the script); the JSON's value, if any
export async function step(name) {
	say("STEP " + name);
	const l = await hear();

	if (l !== "go" && !l.startsWith("go "))
		throw new Error("step " + name + ": " + l);
	return l === "go" ? undefined : JSON.parse(l.slice(3));
}

// check - lib.mjs's check, with what was seen instead
export function check(ok, what, seen) {
	libCheck(ok, seen === undefined ? what : what + ": got " +
	    JSON.stringify(seen));
}

// tabTo - press Tab until the focused element's accessible text
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

// notice - the page's status line once it holds text matching re
export async function notice(page, re) {
	const n = page.locator("main .notice");

	await n.filter({ hasText: re }).waitFor();
	return n.textContent();
}
