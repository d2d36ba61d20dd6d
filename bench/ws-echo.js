// WebSocket echo backend for bench/run.sh: accepts any path, echoes every message back.
// Usage: NODE_PATH=/usr/share/nodejs node ws-echo.js PORT
'use strict';
const WebSocket = require('ws');
const port = Number(process.argv[2]);
const wss = new WebSocket.Server({ host: '127.0.0.1', port, perMessageDeflate: false,
	clientTracking: false });
wss.on('connection', (ws) => {
	ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
	ws.on('error', () => {});
});
wss.on('listening', () => console.error('ws-echo: listening on 127.0.0.1:' + port));
