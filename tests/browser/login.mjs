// login.mjs - a wrong password is refused on the form; the right one
// shows the navigation and the overview (figures from moat stats, one
// chart per series; the charts named as arguments must have a line); a
// reload keeps the session; logout ends it.
import { run, check, login } from "./lib.mjs";

run(async ({ page, url, user, password, rest }) => {
	await page.goto(url);
	await page.fill("#login-user", user);
	await page.fill("#login-password", "not the password");
	await page.click("#login-form button[type=submit]");
	await page.waitForFunction(() =>
	    document.querySelector("#login-error").textContent !== "");
	check(/wrong login or password/.test(await page.textContent(
	    "#login-error")), "the refusal is shown");
	check(await page.isHidden("#nav"), "no navigation before login");

	await login(page, url, user, password);
	check(page.url().endsWith("#/overview"), "the overview first");
	await page.waitForSelector("#ov-figures dd");
	const figures = await page.$$eval("#ov-figures dt", (d) =>
	    d.map((e) => e.textContent));
	check(figures.includes("Sessions open"), `figures: ${figures}`);
	check(figures.includes("Messages queued"), `figures: ${figures}`);
	await page.waitForSelector("#chart-msgs_in svg.chart");
	for (const id of ["msgs_in", "msgs_out", "auth_failures", "rejections",
	    "queue_size"])
		check(await page.$(`#chart-${id} svg`), `chart ${id}`);
	// the series the test made: a line with points
	for (const id of rest)
		check(await page.$(`#chart-${id} path[data-points]`),
		    `chart ${id} has data`);
	check((await page.textContent("#who-name")) === user, "who is shown");
	// the cookie is not readable by script
	check(!(await page.evaluate(() => document.cookie)).includes(
	    "moat_console"), "the session cookie is HttpOnly");

	await page.reload();
	await page.waitForSelector("#nav a#nav-overview");
	await page.click("#logout");
	await page.waitForSelector("#login-form");
	await page.reload();
	await page.waitForSelector("#login-form");
	check(await page.isHidden("#nav"), "logged out after a reload");
});
