// spawn.js: starting a notebook as a SLURM job from the pages, in Debian's
// Chromium driven by playwright-core: the spawn form refuses a walltime above
// the queue's max next to the field, the fixed form goes to the pending page,
// which lands in the notebook; a cell runs; Stop on the home page ends it; a
// second user is refused at the first one's notebook; Log out ends the login.
// Prints one JSON object.
// usage: node spawn.js GATEWAY_URL USER USER_LOGIN OTHER_LOGIN_PATH SHOTS_DIR
// USER_LOGIN is a one-time login path, or "password": the /hub/login form (PAM)
// with the password from $NB_TEST_PASSWORD (never on a command line).
'use strict';
const { launch, screenshot, report } = require('./chromium.js');

const [base, user, userLogin, otherLogin, shots] = process.argv.slice(2);
const out = { steps: {} };

const NOTEBOOK = {
	cells: [{ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: ['6*7'] }],
	metadata: { kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' } },
	nbformat: 4, nbformat_minor: 5,
};

function shot(page, name) {
	return screenshot(page, shots, name);
}

// The spawn form: too long a walltime first, then a valid one.
async function spawn(page) {
	await page.goto(base + '/hub/spawn');
	await page.fill('#f-walltime', '3h');
	await Promise.all([page.waitForNavigation(), page.click('button[value=start]')]);
	out.steps.invalid = {
		error: await page.innerText('#e-walltime'),
		invalid: await page.getAttribute('#f-walltime', 'aria-invalid'),
		value: await page.inputValue('#f-walltime'),
	};
	await shot(page, '01-walltime-refused');
	await page.fill('#f-walltime', '20m');
	await Promise.all([page.waitForURL(/\/hub\/spawn-pending/), page.click('button[value=start]')]);
	out.steps.pending = {
		url: page.url(),
		phase: await page.innerText('#phase'),
		progress: await page.getAttribute('#bar', 'value'),
	};
	await shot(page, '02-pending');
	const phases = [out.steps.pending.phase];
	const watch = setInterval(() => {
		page.evaluate(() => {
			const p = document.getElementById('phase');
			return p ? p.textContent : null;
		}).then((p) => { if (p && phases[phases.length - 1] !== p) phases.push(p); }, () => {});
	}, 250);
	try {
		await page.waitForURL(new RegExp(`/user/${user}/tree`), { timeout: 180000 });
	} finally {
		clearInterval(watch);
	}
	await page.waitForSelector('#notebook_list', { timeout: 30000 });
	out.steps.tree = { url: page.url(), phases };
	await shot(page, '03-tree');
}

// A new notebook (made through the contents API, as the page's own "New" does) runs a cell.
async function cell(page) {
	const name = `${user}-${process.pid}.ipynb`;
	const api = `/user/${user}/api/contents/${name}`;
	const st = await page.evaluate(async ([u, nb]) => {
		const r = await fetch(u, { method: 'PUT', headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ type: 'notebook', format: 'json', content: nb }) });
		return r.status;
	}, [api, NOTEBOOK]);
	out.steps.cell = { created: st };
	await page.goto(`${base}/user/${user}/notebooks/${name}`);
	await page.waitForSelector('.kernel_idle_icon', { timeout: 60000 });
	await page.click('.CodeMirror');
	await page.keyboard.press('Shift+Enter');
	await page.waitForFunction(() => {
		const o = document.querySelector('.output_subarea');
		return o && o.innerText.trim() === '42';
	}, null, { timeout: 60000 });
	out.steps.cell.output = await page.innerText('.output_subarea');
	await shot(page, '04-cell');
	await page.goto(`${base}/user/${user}/tree`);
	out.steps.cell.deleted = await page.evaluate(async (u) =>
		(await fetch(u, { method: 'DELETE' })).status, api);
}

// The home page's Stop button; the row says "ended" once the job is gone.
async function stop(page) {
	await page.goto(base + '/hub/home');
	await Promise.all([page.waitForURL(/\/hub\/home/),
		page.click('form[action="/hub/stop"] button')]);
	const end = Date.now() + 120000;
	let text = '';
	while (Date.now() < end) {
		text = await page.innerText('tbody');
		if (/\bended\b/.test(text))
			break;
		await page.waitForTimeout(1000);
		await page.reload();
	}
	out.steps.stop = { url: page.url(), row: text };
	await shot(page, '05-stopped');
}

async function main() {
	const browser = await launch();
	try {
		const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
		const page = await ctx.newPage();
		if (userLogin === 'password') {
			await page.goto(base + '/hub/login');
			await page.fill('#f-user', user);
			await page.fill('#f-password', 'not-the-password');
			await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
			out.steps.wrong = { text: await page.innerText('main') };
			await shot(page, '00-password-wrong');
			await page.fill('#f-user', user);
			await page.fill('#f-password', process.env.NB_TEST_PASSWORD || '');
			await Promise.all([page.waitForURL(/\/hub\/home$/), page.click('button[type=submit]')]);
			out.steps.login = { status: 200, url: page.url(), who: await page.innerText('header .who') };
			await shot(page, '00-password-login');
		} else {
			const resp = await page.goto(base + userLogin);
			out.steps.login = { status: resp.status(), url: page.url() };
		}
		await spawn(page);
		try {
			await cell(page);
		} catch (e) {
			out.steps.cell = Object.assign(out.steps.cell || {}, { error: String(e) });
		}

		const other = await browser.newContext({ ignoreHTTPSErrors: true });
		const opage = await other.newPage();
		await opage.goto(base + otherLogin);
		const r = await opage.goto(`${base}/user/${user}/tree`);
		out.steps.other = { status: r.status(), text: await opage.innerText('body') };
		await shot(opage, '06-other-refused');

		await stop(page);

		await Promise.all([page.waitForURL(/\/hub\/logout$/), page.click('header a[href="/hub/logout"]')]);
		await Promise.all([page.waitForLoadState(), page.click('#logout')]);
		const after = await page.goto(`${base}/user/${user}/tree`);
		out.steps.logout = { status: after.status(), text: await page.innerText('body') };
		await shot(page, '07-logged-out');
	} finally {
		await browser.close();
	}
}

report(out, main);
