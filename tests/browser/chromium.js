// chromium.js: Debian's Chromium as the browser tests run it (headless, no
// sandbox as root, nothing fetched from the network on its own).
'use strict';
const { chromium } = require('playwright-core');

function launch() {
	return chromium.launch({
		executablePath: '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
}

module.exports = { launch };
