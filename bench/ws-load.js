// WebSocket load client for bench/run.sh (node + Debian's ws; run with NODE_PATH=/usr/share/nodejs).
//   echo: N connections ping-pong one message each for D seconds; prints one JSON line.
//   hold: open N connections, print {"ready":...}, hold them idle until SIGUSR2, then send one
//         message on each, count the echoes, print the final JSON line and exit.
'use strict';
const WebSocket = require('ws');

function args() {
	const a = { mode: 'echo', url: '', conns: 10, duration: 3, size: 64, header: [], parallel: 200,
		timeout: 120 };
	const v = process.argv.slice(2);
	for (let i = 0; i < v.length; i++) {
		const k = v[i].replace(/^--/, '');
		if (k === 'header') a.header.push(v[++i]);
		else if (k in a) a[k] = typeof a[k] === 'number' ? Number(v[++i]) : v[++i];
		else { console.error('ws-load: unknown option ' + v[i]); process.exit(2); }
	}
	return a;
}

const opt = args();
const headers = {};
for (const h of opt.header) {
	const i = h.indexOf(':');
	headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
}
const payload = 'x'.repeat(opt.size);
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();

function elapsed() { return Number(process.hrtime.bigint() - t0) / 1e9; }
function cpuSeconds() { const c = process.cpuUsage(cpu0); return (c.user + c.system) / 1e6; }
function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }

function connect(onOpen, onFail) {
	const ws = new WebSocket(opt.url, { headers, rejectUnauthorized: false, perMessageDeflate: false,
		handshakeTimeout: opt.timeout * 1000 });
	let settled = false;
	ws.on('open', () => { settled = true; onOpen(ws); });
	ws.on('error', (e) => { if (!settled) { settled = true; onFail(e); } });
	ws.on('unexpected-response', (req, res) => {
		if (!settled) { settled = true; onFail(new Error('HTTP ' + res.statusCode)); }
		req.destroy();
	});
	return ws;
}

function echo() {
	let msgs = 0, errors = 0, open = 0, done = false, firstErr = '';
	let tStart = 0;
	const socks = [];
	const finish = () => {
		done = true;
		const secs = elapsed() - tStart;
		out({ mode: 'echo', conns: opt.conns, open, messages: msgs, duration_s: +secs.toFixed(3),
			msgs_per_s: +(msgs / secs).toFixed(1), errors, first_error: firstErr,
			cpu_s: +cpuSeconds().toFixed(3), wall_s: +elapsed().toFixed(3) });
		for (const s of socks) s.terminate();
		process.exit(0);
	};
	let pending = opt.conns;
	const started = () => {
		if (--pending > 0) return;
		if (open === 0) return finish();
		tStart = elapsed();
		for (const s of socks) if (s.readyState === WebSocket.OPEN) s.send(payload);
		setTimeout(finish, opt.duration * 1000);
	};
	for (let i = 0; i < opt.conns; i++) {
		const ws = connect((s) => {
			open++;
			s.on('message', () => { if (!done) { msgs++; s.send(payload); } });
			s.on('close', () => { if (!done) { errors++; firstErr = firstErr || 'closed'; } });
			started();
		}, (e) => { errors++; firstErr = firstErr || String(e.message); started(); });
		socks.push(ws);
	}
}

function hold() {
	const open = new Set();
	let failed = 0, closedWhileHeld = 0, next = 0, inflight = 0, firstErr = '';
	let finishing = false;
	const openAll = () => {
		while (inflight < opt.parallel && next < opt.conns) {
			next++; inflight++;
			connect((s) => {
				inflight--; open.add(s);
				s.on('close', () => {
					if (open.delete(s) && !finishing) { closedWhileHeld++; firstErr = firstErr || 'closed'; }
				});
				openAll();
			}, (e) => { inflight--; failed++; firstErr = firstErr || String(e.message); openAll(); });
		}
		if (inflight === 0 && next === opt.conns && !ready) {
			ready = true;
			out({ ready: true, requested: opt.conns, open: open.size, failed,
				open_s: +elapsed().toFixed(3), first_error: firstErr });
		}
	};
	let ready = false;
	process.on('SIGUSR2', () => {
		// Check each held connection still carries data, then report and exit.
		const held = [...open];
		let answered = 0, waiting = held.length;
		const report = () => {
			finishing = true;
			out({ mode: 'hold', requested: opt.conns, open: held.length, failed,
				closed_while_held: closedWhileHeld, echo_ok: answered,
				errors: failed + closedWhileHeld + (held.length - answered), first_error: firstErr,
				cpu_s: +cpuSeconds().toFixed(3), wall_s: +elapsed().toFixed(3) });
			for (const s of held) s.terminate();
			process.exit(0);
		};
		if (waiting === 0) return report();
		const timer = setTimeout(report, 30000);
		for (const s of held) {
			s.once('message', () => { answered++; if (--waiting === 0) { clearTimeout(timer); report(); } });
			try { s.send('ping'); } catch (e) { /* counted as unanswered */ }
		}
	});
	openAll();
}

if (opt.mode === 'echo') echo();
else if (opt.mode === 'hold') hold();
else { console.error('ws-load: mode is echo or hold'); process.exit(2); }
