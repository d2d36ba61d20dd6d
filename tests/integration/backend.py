"""backend.py: a small real HTTP/1.1 server for proxy tests (Python's stdlib).

  GET  <any>/echo          the request head it received, as JSON
  GET  <any>/bytes/N       N bytes of a repeatable pattern (Content-Length)
  GET  <any>/chunked/N     N bytes, chunked
  GET  <any>/close/N       N bytes, delimited by closing the connection
  POST <any>/sha256        the SHA-256 and length of the body (Content-Length or chunked)
  GET  <any>/sleep/S       answers after S seconds
  GET  <any>/hostile       a response a malicious notebook might send: CORS grants for any
                           origin and cookies in the gateway's names
  GET  <any>/conn          which TCP connection this is: {"name", "conn": its number, "conns": how
                           many were accepted so far} (streams reused or not)
  GET  <any>/extra         "ok", then a second, unasked-for response on the same connection
  GET  <any>/extra-later   "ok", then 0.3 s later an unasked-for response
  GET  <any>/short         Content-Length 100, 10 bytes, then close
  GET  <any>/close-idle    "ok" (keep-alive), then the connection closes 0.3 s later
  GET  <any>/close-next    "ok" (keep-alive); the next request on the connection is not answered:
                           the connection closes (a server closing an idle connection as it is reused)
usage: backend.py PORT [NAME]
"""
import hashlib
import itertools
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATTERN = bytes(range(256)) * 4096  # 1 MiB
NAME = sys.argv[2] if len(sys.argv) > 2 else "backend"
CONNS = itertools.count(1)
ACCEPTED = [0]
UNASKED = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\nLEAKED"


def pattern(n):
    while n > 0:
        k = min(n, len(PATTERN))
        yield PATTERN[:k]
        n -= k


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.conn_no = next(CONNS)
        ACCEPTED[0] = self.conn_no

    def log_message(self, fmt, *args):
        sys.stderr.write("backend: %s %s\n" % (self.requestline, args[1] if len(args) > 1 else ""))

    def send_body(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if getattr(self, "drop_next", False):
            self.close_connection = True
            return
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
        elif p.endswith("/conn"):
            self.send_body(200, json.dumps({"name": NAME, "conn": self.conn_no,
                                            "conns": ACCEPTED[0]}).encode())
        elif p.endswith("/extra") or p.endswith("/extra-later"):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            if p.endswith("/extra-later"):
                self.wfile.flush()
                time.sleep(0.3)
            self.wfile.write(UNASKED)
        elif p.endswith("/short"):
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.close_connection = True
        elif p.endswith("/close-next"):
            self.send_body(200, b"ok", "text/plain")
            self.drop_next = True
        elif p.endswith("/close-idle"):
            self.send_body(200, b"ok", "text/plain")
            self.wfile.flush()
            sock = self.connection
            threading.Timer(0.3, lambda: sock.shutdown(2)).start()
        elif len(last) >= 2 and last[-2] == "sleep":
            time.sleep(float(last[-1]))
            self.send_body(200, b'{"slept": true}')
        else:
            self.send_body(404, b'{"error": "no such test path"}')

    do_HEAD = do_GET

    def do_POST(self):
        if getattr(self, "drop_next", False):
            self.close_connection = True
            return
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
    # Tornado's listen backlog (a notebook server's), not socketserver's 5: a burst of new
    # streams (130 h2 streams at once in tests/attack/test_h2.py) overflowed a queue of 5,
    # and the kernel's SYN retries (1, 3, 7, 15, 31 s) left requests unanswered for 30 s.
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
    srv.serve_forever()
