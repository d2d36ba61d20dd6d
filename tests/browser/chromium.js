// chromium.js: Debian's Chromium as the browser tests run it (headless, no
// sandbox as root, nothing fetched from the network on its own).
'use strict';
const { chromium } = require('playwright-core');

// @extra: more command-line switches (host resolver rules, ...).
function launch(extra = []) {
	return chromium.launch({
		executablePath: '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
			...extra],
	});
}

// A full-page screenshot DIR/NAME.png.
async function screenshot(page, dir, name) {
	await page.screenshot({ path: `${dir}/${name}.png`, fullPage: true });
}

// In @page: opens a WebSocket to @url; 'open', 'error' or 'timeout' (15 s).
function wsOpens(page, url) {
	return page.evaluate((u) => new Promise((done) => {
		const ws = new WebSocket(u);
		const t = setTimeout(() => done('timeout'), 15000);
		ws.onopen = () => { clearTimeout(t); ws.close(); done('open'); };
		ws.onerror = () => { clearTimeout(t); done('error'); };
	}), url);
}

// Runs main() and prints @out as one JSON line; a failure goes in out.error (exit 1).
function report(out, main) {
	main().then(() => {
		process.stdout.write(JSON.stringify(out) + '\n');
	}, (e) => {
		out.error = String(e && e.stack || e);
		process.stdout.write(JSON.stringify(out) + '\n');
		process.exitCode = 1;
	});
}

module.exports = { launch, screenshot, report, wsOpens };
