// desktop.js: a remote desktop through nbgate in Debian's Chromium: log in with a
// one-time link, open the desktop from the home page (noVNC), wait until its
// canvas draws, type a command into the xterm, and see another user refused at
// the desktop's page and its WebSocket. Prints one JSON object.
// Clipboard both ways: noVNC's clipboard pasted into the xterm (middle button:
// Xvnc sets the PRIMARY selection), a word selected in the xterm shown in it.
// usage: node desktop.js GATEWAY_URL OWNER_LOGIN_PATH OTHER_LOGIN_PATH SERVER COMMAND CLIP SHOTS_DIR
'use strict';
const { launch, screenshot, report, wsOpens } = require('./chromium.js');

const [base, ownerLogin, otherLogin, server, command, clip, shots] = process.argv.slice(2);
const out = { steps: {} };

// The canvas's distinct colours (sampled) and a digest of its pixels.
function canvasState(page) {
	return page.evaluate(() => {
		const c = document.querySelector('#noVNC_container canvas');
		if (!c || c.width === 0 || c.height === 0)
			return { width: 0, height: 0, colours: 0, sum: 0 };
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		const seen = new Set();
		let sum = 0;
		for (let i = 0; i < d.length; i += 4) {
			sum = (sum * 31 + d[i] + d[i + 1] * 3 + d[i + 2] * 7) % 1000000007;
			if (i % 64 === 0)
				seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
		}
		return { width: c.width, height: c.height, colours: seen.size, sum };
	});
}

async function main() {
	const browser = await launch();
	try {
		const owner = await browser.newContext({ ignoreHTTPSErrors: true,
			viewport: { width: 1280, height: 800 } });
		const page = await owner.newPage();
		await page.goto(base + ownerLogin);
		await page.goto(base + '/hub/home');
		const link = page.locator('a.button', { hasText: 'Open' }).first();
		const href = await link.getAttribute('href');
		const t0 = Date.now();
		await link.click();
		await page.waitForFunction(() => {
			const s = document.getElementById('noVNC_status');
			return document.documentElement.classList.contains('noVNC_connected') ||
			    (s && /connected/i.test(s.textContent) && !/dis/i.test(s.textContent));
		}, null, { timeout: 60000 });
		await page.waitForFunction(() => {
			const c = document.querySelector('#noVNC_container canvas');
			if (!c || c.width === 0)
				return false;
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			for (let i = 4; i < d.length; i += 4 * 97) {
				if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2])
					return true;
			}
			return false;
		}, null, { timeout: 60000 });
		out.steps.open = { href, url: page.url(), first_frame_ms: Date.now() - t0,
			canvas: await canvasState(page) };
		await screenshot(page, shots, '01-desktop');

		// The xterm has the pointer's focus (twm): click into it, then type.
		const before = await canvasState(page);
		const box = await page.locator('#noVNC_container canvas').boundingBox();
		await page.mouse.click(box.x + 200, box.y + 150);
		await page.keyboard.type(command, { delay: 30 });
		await page.keyboard.press('Enter');
		await page.waitForTimeout(2000);
		out.steps.typed = { before, after: await canvasState(page) };
		await screenshot(page, shots, '02-typed');

		// noVNC's clipboard to the desktop, pasted with the middle button
		await page.evaluate((t) => {
			const e = document.getElementById('noVNC_clipboard_text');
			e.value = t;
			e.dispatchEvent(new Event('change'));
		}, clip);
		await page.waitForTimeout(500);
		await page.mouse.click(box.x + 200, box.y + 150, { button: 'middle' });
		await page.waitForTimeout(1500);	/* the paste comes back from Xvnc first */
		await page.keyboard.press('Enter');
		await page.waitForTimeout(1500);
		// the desktop's selection to noVNC's clipboard: double-click the first output word
		await page.mouse.dblclick(box.x + 60, box.y + 91);
		await page.waitForTimeout(1000);
		out.steps.clipboard = { from_desktop: await page.evaluate(() =>
			document.getElementById('noVNC_clipboard_text').value) };
		await screenshot(page, shots, '04-clipboard');

		const other = await browser.newContext({ ignoreHTTPSErrors: true });
		const opage = await other.newPage();
		await opage.goto(base + otherLogin);
		const r = await opage.goto(base + href);
		const wsUrl = base.replace(/^http/, 'ws') + '/user/' + server + '/websockify';
		out.steps.other = { status: r.status(), text: (await opage.innerText('body')).slice(0, 300),
			ws: await wsOpens(opage, wsUrl) };
		await screenshot(opage, shots, '03-other-refused');
		// the owner's own WebSocket opens, as a control for the refusal above
		out.steps.owner_ws = await wsOpens(page, wsUrl);
	} finally {
		await browser.close();
	}
}

report(out, main);
