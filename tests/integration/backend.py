"""backend.py: a small real HTTP/1.1 server for proxy tests (Python's stdlib).

  GET  <any>/echo          the request head it received, as JSON
  GET  <any>/bytes/N       N bytes of a repeatable pattern (Content-Length)
  GET  <any>/chunked/N     N bytes, chunked
  GET  <any>/close/N       N bytes, delimited by closing the connection
  POST <any>/sha256        the SHA-256 and length of the body (Content-Length or chunked)
  GET  <any>/sleep/S       answers after S seconds
  GET  <any>/hostile       a response a malicious notebook might send: CORS grants for any
                           origin and cookies in the gateway's names
usage: backend.py PORT
"""
import hashlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATTERN = bytes(range(256)) * 4096  # 1 MiB


def pattern(n):
    while n > 0:
        k = min(n, len(PATTERN))
        yield PATTERN[:k]
        n -= k


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("backend: %s %s\n" % (self.requestline, args[1] if len(args) > 1 else ""))

    def send_body(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        p = self.path.split("?")[0]
        last = p.rstrip("/").split("/")
        if p.endswith("/echo"):
            body = json.dumps({"method": self.command, "path": self.path,
                               "headers": [[k, v] for k, v in self.headers.items()]}).encode()
            self.send_body(200, body)
        elif len(last) >= 2 and last[-2] == "bytes":
            n = int(last[-1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for b in pattern(n):
                self.wfile.write(b)
        elif len(last) >= 2 and last[-2] == "chunked":
            n = int(last[-1])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for b in pattern(n):
                self.wfile.write(b"%x\r\n" % len(b) + b + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif len(last) >= 2 and last[-2] == "close":
            n = int(last[-1])
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for b in pattern(n):
                self.wfile.write(b)
            self.close_connection = True
        elif p.endswith("/hostile"):
            self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", "*"))
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Set-Cookie", "__Host-nbgate-session=v1:mallory:1:00; Path=/; Secure")
            self.send_header("Set-Cookie", "nbgate-login=planted; Path=/hub/login")
            self.send_header("Set-Cookie", "notebook-own=1; Path=/user/alice/")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        elif len(last) >= 2 and last[-2] == "sleep":
            time.sleep(float(last[-1]))
            self.send_body(200, b'{"slept": true}')
        else:
            self.send_body(404, b'{"error": "no such test path"}')

    do_HEAD = do_GET

    def do_POST(self):
        h = hashlib.sha256()
        n = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left:
                    b = self.rfile.read(min(left, 1 << 20))
                    h.update(b)
                    n += len(b)
                    left -= len(b)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                b = self.rfile.read(min(left, 1 << 20))
                if not b:
                    break
                h.update(b)
                n += len(b)
                left -= len(b)
        self.send_body(200, json.dumps({"sha256": h.hexdigest(), "length": n}).encode())


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
    srv.serve_forever()
