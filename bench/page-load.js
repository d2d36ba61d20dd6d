// page-load.js: Debian's Chromium (headless, playwright-core from tests/browser) loads a page
// REPS times, each in a fresh browser context (new connections), over h2 or, with --h1, with
// HTTP/2 switched off; prints one JSON line: the median time from navigation start to the
// page's load event and to the end of its last resource (Resource Timing), the resources
// fetched and the protocols they came over.
// Usage: node page-load.js --url URL --header "Name: value" [--reps N] [--h1]
'use strict';
const path = require('path');
const { launch, report } = require(path.join(__dirname, '..', 'tests', 'browser', 'chromium.js'));

const opt = { reps: 5, h1: false, header: null, url: null };
for (let i = 2; i < process.argv.length; i++) {
	const a = process.argv[i];
	if (a === '--h1') opt.h1 = true;
	else if (a === '--url') opt.url = process.argv[++i];
	else if (a === '--header') opt.header = process.argv[++i];
	else if (a === '--reps') opt.reps = parseInt(process.argv[++i], 10);
}

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const out = { h1: opt.h1, url: opt.url };
report(out, async () => {
	const headers = {};
	if (opt.header) {
		const k = opt.header.indexOf(':');
		headers[opt.header.slice(0, k).trim()] = opt.header.slice(k + 1).trim();
	}
	const browser = await launch(opt.h1 ? ['--disable-http2'] : []);
	const load = [], last = [], counts = [];
	const protocols = new Set();
	try {
		for (let i = 0; i < opt.reps; i++) {
			const ctx = await browser.newContext({ ignoreHTTPSErrors: true, extraHTTPHeaders: headers });
			const page = await ctx.newPage();
			const resp = await page.goto(opt.url, { waitUntil: 'networkidle', timeout: 60000 });
			if (!resp || resp.status() !== 200)
				throw new Error(`status ${resp && resp.status()}`);
			const t = await page.evaluate(() => {
				const nav = performance.getEntriesByType('navigation')[0];
				const res = performance.getEntriesByType('resource');
				return {
					load: nav.loadEventEnd,
					last: Math.max(nav.responseEnd, ...res.map((r) => r.responseEnd)),
					n: res.length + 1,
					protocols: [nav.nextHopProtocol, ...res.map((r) => r.nextHopProtocol)],
				};
			});
			load.push(t.load);
			last.push(t.last);
			counts.push(t.n);
			t.protocols.forEach((p) => protocols.add(p));
			await ctx.close();
		}
	} finally {
		await browser.close();
	}
	out.load_ms = Math.round(median(load) * 10) / 10;
	out.last_asset_ms = Math.round(median(last) * 10) / 10;
	out.resources = median(counts);
	out.protocols = [...protocols];
	out.reps = opt.reps;
});
