// oidc-login.js: signing in with OpenID Connect in Debian's Chromium driven by
// playwright-core: /hub/home -> "Log in" -> "Sign in with ..." -> the
// provider's form (a wrong password first, then the right one) -> back on
// /hub/home logged in; then log out. Prints one JSON object.
// usage: node oidc-login.js GATEWAY_URL USER PASSWORD SHOTS_DIR
'use strict';
const { launch, screenshot, report } = require('./chromium.js');

const [base, user, password, shots] = process.argv.slice(2);
const out = { steps: {} };

function shot(page, name) {
	return screenshot(page, shots, name);
}

async function walk(page) {
	await page.goto(base + '/hub/home');
	await Promise.all([page.waitForURL(/\/hub\/login/), page.click('a[href="/hub/login"]')]);
	out.steps.login_page = { url: page.url(), button: await page.innerText('#oidc-login') };
	await shot(page, '01-login-page');
	await Promise.all([page.waitForSelector('#login'), page.click('#oidc-login')]);
	out.steps.provider = { url: page.url() };
	await shot(page, '02-provider-form');
	await page.fill('#login', user);
	await page.fill('#password', 'wrong-password');
	await Promise.all([page.waitForSelector('#error'), page.click('#submit')]);
	out.steps.wrong = { error: await page.innerText('#error') };
	await shot(page, '03-provider-wrong-password');
	await page.fill('#login', user);
	await page.fill('#password', password);
	await Promise.all([page.waitForURL(/\/hub\/home$/), page.click('#submit')]);
	out.steps.home = { url: page.url(), who: await page.innerText('header .who') };
	await shot(page, '04-home');
	await page.goto(base + '/hub/logout');
	await Promise.all([page.waitForURL(/\/hub\/logout$/), page.click('#logout')]);
	await page.goto(base + '/hub/home');
	out.steps.logout = { text: await page.innerText('main') };
	await shot(page, '05-logged-out');
}

async function main() {
	const browser = await launch();
	try {
		const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
		await walk(await ctx.newPage());
	} finally {
		await browser.close();
	}
}

report(out, main);
