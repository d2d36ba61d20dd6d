// attack.js: a hostile page on a sibling host of the gateway (same site, so
// SameSite=Lax login cookies go along) tries, in a real Chromium with the user
// logged in, what issue 13 found open: a text/plain POST and a form POST into
// the notebook, a WebSocket to the user's kernel, and a POST to the hub API.
// Before that the same actions run from the gateway's own pages and must work.
// Host names are mapped to loopback addresses by Chromium's resolver rules.
// usage: node attack.js GW_URL EVIL_URL LOGIN_PATH ADMIN_LOGIN_PATH KERNEL_ID SHOTS_DIR
'use strict';
const { launch, screenshot, report, wsOpens } = require('./chromium.js');

const [gw, evil, login, adminLogin, kernel, shots] = process.argv.slice(2);
const out = { steps: {} };
const rules = process.env.NB_RESOLVER_RULES;

// In the page: what the gateway's own pages do (fetch and a WebSocket).
async function ownActions(page, kernelId) {
	const r = {};
	r.put = await page.evaluate(async () => (await fetch('/user/alice/api/contents/own.txt', {
		method: 'PUT', headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ type: 'file', format: 'text', content: 'from the gateway' }),
	})).status);
	r.ws = await wsOpens(page, gw.replace('https', 'wss') + '/user/alice/api/kernels/' +
		kernelId + '/channels');
	return r;
}

async function main() {
	const args = rules ? ['--host-resolver-rules=' + rules] : [];
	const browser = await launch(args);
	try {
		const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
		const page = await ctx.newPage();
		await page.goto(gw + login);
		await page.waitForURL(/\/user\/alice\//, { timeout: 30000 });
		out.steps.login = { url: page.url() };
		out.steps.own = await ownActions(page, kernel);

		// The hostile page: it reports what each attempt got.
		await page.goto(`${evil}/evil.html#${encodeURIComponent(gw)}|${kernel}`);
		await page.waitForFunction(() => window.done === true, null, { timeout: 60000 });
		out.steps.evil = await page.evaluate(() => window.results);
		await screenshot(page, shots, 'evil-page');

		// A form POST from the hostile page: a top-level navigation to the gateway.
		await page.goto(`${evil}/form.html#${encodeURIComponent(gw)}`);
		await page.waitForURL((u) => u.toString().startsWith(gw), { timeout: 30000 });
		out.steps.form = { url: page.url(), text: (await page.textContent('body')).slice(0, 400) };
		await screenshot(page, shots, 'evil-form');

		// An administrator's browser on the hostile page: the hub API.
		const adm = await browser.newContext({ ignoreHTTPSErrors: true });
		const ap = await adm.newPage();
		await ap.goto(gw + adminLogin);
		await ap.goto(`${evil}/evil-api.html#${encodeURIComponent(gw)}`);
		await ap.waitForFunction(() => window.done === true, null, { timeout: 60000 });
		out.steps.api = await ap.evaluate(() => window.results);
	} finally {
		await browser.close();
	}
}

report(out, main);
