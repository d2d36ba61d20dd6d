// notebook.js: a person's path through nbgate in Debian's Chromium, driven by
// playwright-core: log in with a one-time link, land in the notebook, run a cell,
// get refused at another user's notebook, log out. Prints one JSON object.
// usage: node notebook.js GATEWAY_URL ALICE_LOGIN_PATH BOB_LOGIN_PATH NOTEBOOK_PATH SHOTS_DIR
'use strict';
const { launch, screenshot, report } = require('./chromium.js');

const [base, aliceLogin, bobLogin, nbPath, shots] = process.argv.slice(2);
const out = { steps: {} };

function shot(page, name) {
	return screenshot(page, shots, name);
}

async function main() {
	const browser = await launch();
	try {
		const alice = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
		const page = await alice.newPage();
		const resp = await page.goto(base + aliceLogin);
		await page.waitForURL(/\/user\/alice\/tree/, { timeout: 30000 });
		await page.waitForSelector('#notebook_list', { timeout: 30000 });
		out.steps.login = { status: resp.status(), url: page.url(), title: await page.title() };
		await shot(page, '01-tree');

		await page.goto(base + nbPath);
		await page.waitForSelector('.kernel_idle_icon', { timeout: 60000 });
		await page.click('.CodeMirror');
		await page.keyboard.press('Shift+Enter');
		await page.waitForFunction(() => {
			const o = document.querySelector('.output_subarea');
			return o && o.innerText.trim() === '2';
		}, null, { timeout: 60000 });
		out.steps.cell = { output: await page.innerText('.output_subarea') };
		await shot(page, '02-cell');

		const bob = await browser.newContext({ ignoreHTTPSErrors: true });
		const bpage = await bob.newPage();
		await bpage.goto(base + bobLogin);
		const r403 = await bpage.goto(base + '/user/alice/tree');
		out.steps.bob = { status: r403.status(), text: await bpage.innerText('body') };
		await shot(bpage, '03-bob-refused');

		await page.goto(base + '/hub/logout');
		await Promise.all([page.waitForLoadState(), page.click('#logout')]);
		const r401 = await page.goto(base + '/user/alice/tree');
		out.steps.logout = { status: r401.status(), text: await page.innerText('body') };
		await shot(page, '04-logged-out');
	} finally {
		await browser.close();
	}
}

report(out, main);
