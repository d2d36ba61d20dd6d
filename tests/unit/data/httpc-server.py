# A small real HTTP server for tests/unit/test-httpc: binds a free port on
# 127.0.0.1, prints it on stdout, and answers a few fixed paths. Exits when
# stdin closes (the test holds the pipe).
import http.server
import json
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype="text/plain", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/ok":
            self.reply(200, b"hello")
        elif self.path == "/big":
            self.reply(200, b"x" * (2 * 1024 * 1024))
        elif self.path == "/redirect":
            self.reply(302, b"moved", extra=[("Location", "/ok")])
        elif self.path == "/slow":
            time.sleep(3)
            self.reply(200, b"late")
        else:
            self.reply(404, b"no such path")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        out = {"method": "POST", "path": self.path, "body": body,
               "auth": self.headers.get("Authorization"),
               "ctype": self.headers.get("Content-Type")}
        self.reply(201, json.dumps(out).encode(), "application/json")

    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        self.reply(204, b"")


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the client hanging up early is what some tests do


srv = Server(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
sys.stdin.read()
