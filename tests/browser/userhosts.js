// userhosts.js: proxy.user_hosts in Chromium.  A one-time login link on the
// hub lands in alice's notebook on alice's own host; from the notebook's page
// (its JavaScript, as a malicious notebook's would) the hub's cookie is out of
// reach and a call to the hub's API is refused; the notebook itself works (a
// file saved, a kernel WebSocket opened).  Host names map to 127.0.0.1.
// usage: node userhosts.js HUB_URL LOGIN_PATH SHOTS_DIR
'use strict';
const { launch, screenshot, report, wsOpens } = require('./chromium.js');

const [hub, login, shots] = process.argv.slice(2);
const out = { steps: {} };

async function main() {
	const browser = await launch(['--host-resolver-rules=' + process.env.NB_RESOLVER_RULES]);
	try {
		const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
		const page = await ctx.newPage();
		await page.goto(hub + login);
		await page.waitForURL(/\/user\/alice\/tree/, { timeout: 30000 });
		await page.waitForSelector('#notebook_list', { timeout: 30000 });
		out.steps.landed = { url: page.url() };
		await screenshot(page, shots, 'user-host-tree');
		out.steps.inside = await page.evaluate(async (hubUrl) => {
			const r = { origin: location.origin, cookies: document.cookie };
			const put = await fetch('/user/alice/api/contents/from-page.txt', {
				method: 'PUT', headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify({ type: 'file', format: 'text', content: 'saved' }),
			});
			r.put = put.status;
			const k = await fetch('/user/alice/api/kernels', { method: 'POST', body: '{}',
				headers: { 'Content-Type': 'application/json' } });
			r.kernel = (await k.json()).id;
			try {
				const h = await fetch(hubUrl + '/hub/api/users/alice/server', { method: 'POST',
					mode: 'no-cors', credentials: 'include',
					headers: { 'Content-Type': 'text/plain' }, body: '{}' });
				r.hubPost = h.type;
			} catch (e) {
				r.hubPost = 'error ' + e;
			}
			try {
				const h = await fetch(hubUrl + '/hub/api/user', { credentials: 'include' });
				r.hubRead = 'read ' + h.status;
			} catch (e) {
				r.hubRead = 'error';
			}
			return r;
		}, hub);
		out.steps.inside.ws = await wsOpens(page, out.steps.inside.origin.replace('https', 'wss') +
			'/user/alice/api/kernels/' + out.steps.inside.kernel + '/channels');
	} finally {
		await browser.close();
	}
}

report(out, main);
