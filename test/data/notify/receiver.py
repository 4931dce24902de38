#!/usr/bin/env python3
"""test/data/notify/receiver.py - the webhook receiver for test/unit/test_notify.c.

Stands in for Slack, an Alertmanager webhook receiver and Alertmanager itself: it
records every request and answers as the request's path tells it, so each test
programs its own receiver through the URL it configures. Standard library only.
It listens on 127.0.0.1, prints "PORT <port>" once it accepts, runs until killed.

The first path segment is a script: comma-separated answers, the n-th request to
the same path getting the n-th answer and the last one repeating:
  200, 400, 500, ...   that status
  429r1                429 with Retry-After: 1
  slow3                wait 3 s, then 200
So /500,500,200/retry/hook fails twice, then succeeds.

GET /_requests?path=PREFIX answers with every recorded request whose path starts
with PREFIX, in arrival order, each as
  REQ <arrival ms, monotonic> <status answered> <content type> <body length>\\n<body>\\n
"""
import http.server
import sys
import threading
import time
import urllib.parse

lock = threading.Lock()
records = []  # (path, ms, status, content type, body)
counts = {}  # path -> requests seen


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet: the test owns stderr
        pass

    def reply(self, code, body=b"ok", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def requests(self, query):
        prefix = urllib.parse.parse_qs(query).get("path", [""])[0]
        out = b""
        with lock:
            for path, ms, status, ctype, body in records:
                if path.startswith(prefix):
                    out += b"REQ %.1f %d %s %d\n" % (ms, status, ctype.encode() or b"-",
                                                     len(body))
                    out += body + b"\n"
        self.reply(200, out)

    def handle_any(self):
        arrived = time.monotonic() * 1000.0
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path, _, query = self.path.partition("?")
        if path == "/_requests":
            self.requests(query)
            return
        script = path.split("/")[1].split(",") if path.count("/") > 1 else ["200"]
        with lock:
            i = counts.get(path, 0)
            counts[path] = i + 1
        answer = script[min(i, len(script) - 1)]
        headers = []
        delay = 0.0
        if answer.startswith("slow"):
            delay = float(answer[4:])
            status = 200
        elif answer.startswith("429r"):
            status = 429
            headers.append(("Retry-After", answer[4:]))
        else:
            status = int(answer)
        with lock:
            records.append((path, arrived, status, self.headers.get("Content-Type", ""), body))
        time.sleep(delay)
        try:
            self.reply(status, b"ok" if status < 300 else b"no", headers)
        except OSError:
            pass  # the client went away (a test closing with a request in flight)

    do_GET = do_POST = do_PUT = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("PORT %d" % srv.server_address[1], flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
