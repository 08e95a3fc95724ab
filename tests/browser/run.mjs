// run.mjs URL USER PASSWORD NAME.mjs[=ARG,ARG] ... - several scenarios
// in one chromium, in order, each in a fresh browser context; "PASS
// NAME.mjs" on stdout after each; the first failure ends the run (exit 1).
import { args, scenario, say, withBrowser } from "./lib.mjs";

const a = args();
await withBrowser(async (browser) => {
	for (const spec of a.rest) {
		const eq = spec.indexOf("=");
		const file = eq < 0 ? spec : spec.slice(0, eq);
		const rest = eq < 0 ? [] : spec.slice(eq + 1).split(",");
		if (!/^[a-z][a-z0-9_-]*\.mjs$/.test(file))
			throw new Error(`not a scenario: ${file}`);
		const mod = await import(`./${file}`);
		await scenario(browser, mod.default, { ...a, rest });
		say(`PASS ${file}`);
	}
});
