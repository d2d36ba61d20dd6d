// New-connection load client for bench/run.sh (node's own https, no modules).
//   N loops, each sends GET URL on a new TLS connection, reads the answer, closes, again, for
//   D seconds.  --resume 1: the loops share one TLS session cache (tickets or session ids, as
//   browsers do); 0: every handshake is a full one.  Prints one line "BENCHJSON {...}" with
//   the fields wrk-json.lua prints, plus how many handshakes resumed and the client's CPU.
'use strict';
const https = require('https');

function args() {
	const a = { url: '', conns: 10, duration: 3, resume: 1, header: [] };
	const v = process.argv.slice(2);
	for (let i = 0; i < v.length; i++) {
		const k = v[i].replace(/^--/, '');
		if (k === 'header') a.header.push(v[++i]);
		else if (k in a) a[k] = typeof a[k] === 'number' ? Number(v[++i]) : v[++i];
		else { console.error('newconn: unknown option ' + v[i]); process.exit(2); }
	}
	return a;
}

const opt = args();
const headers = { Connection: 'close' };
for (const h of opt.header) {
	const i = h.indexOf(':');
	headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
}
// One agent for all loops: no kept-alive sockets, only its TLS session cache.
const agent = new https.Agent({ keepAlive: false, maxSockets: Infinity,
	maxCachedSessions: opt.resume ? 100 : 0 });
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const end = Date.now() + opt.duration * 1000;
const lat = [];
let requests = 0, bytes = 0, resumed = 0;
const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
let running = opt.conns;

function one() {
	if (Date.now() >= end) {
		if (--running === 0)
			done();
		return;
	}
	const s = process.hrtime.bigint();
	const req = https.get(opt.url, { agent, headers, rejectUnauthorized: false, timeout: 10000 },
		(res) => {
			res.on('data', (d) => { bytes += d.length; });
			res.on('end', () => {
				if (res.statusCode >= 400)
					errors.status++;
				if (res.socket && res.socket.isSessionReused())
					resumed++;
				requests++;
				lat.push(Number(process.hrtime.bigint() - s) / 1e6);
				setImmediate(one);
			});
			res.on('error', () => { errors.read++; setImmediate(one); });
		});
	req.on('timeout', () => { errors.timeout++; req.destroy(); });
	req.on('error', () => { errors.connect++; setImmediate(one); });
}

function pct(p) {
	if (lat.length === 0)
		return 0;
	lat.sort((a, b) => a - b);
	return lat[Math.min(lat.length - 1, Math.floor(lat.length * p / 100))];
}

function done() {
	const wall = Number(process.hrtime.bigint() - t0) / 1e9;
	const c = process.cpuUsage(cpu0);
	const e = errors.connect + errors.read + errors.write + errors.status + errors.timeout;
	process.stdout.write('BENCHJSON ' + JSON.stringify({ requests, duration_s: +wall.toFixed(3),
		req_per_s: +(requests / wall).toFixed(1), bytes, mb_per_s: +(bytes / wall / 1e6).toFixed(2),
		p50_ms: +pct(50).toFixed(3), p99_ms: +pct(99).toFixed(3), max_ms: +pct(100).toFixed(3),
		errors: e, errors_detail: errors, resumed, client_cpu_s: +((c.user + c.system) / 1e6).toFixed(3) })
		+ '\n');
}

for (let i = 0; i < opt.conns; i++)
	one();
