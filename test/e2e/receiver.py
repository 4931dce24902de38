"""A local HTTP receiver that plays Slack's incoming webhook, a webhook consumer
and anything else kloompas posts to. It records every request and can be told to
fail (HTTP 500) for a while, to test that nothing is lost.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, host="127.0.0.1"):
        self.requests = []  # (time, path, body text)
        self.fail_until = 0.0
        self.failed = 0
        self.cv = threading.Condition()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode("utf-8", "replace")
                if time.time() < rec.fail_until:
                    with rec.cv:
                        rec.failed += 1
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with rec.cv:
                    rec.requests.append((time.time(), self.path, body))
                    rec.cv.notify_all()
                out = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        # host: 127.0.0.1, or the real node's bridge address for pods to post to
        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path):
        with self.cv:
            return [b for _, p, b in self.requests if p == path]

    def slack_texts(self, path="/slack"):
        return [json.loads(b)["text"] for b in self.bodies(path)]

    def wait(self, pred, timeout=60, what="a notification"):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                got = pred(self)
                if got:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; received:\n" +
                                         "\n---\n".join(f"{p}: {b}" for _, p, b in
                                                        self.requests[-10:]))
                self.cv.wait(min(left, 0.2))

    def close(self):
        self.server.shutdown()
        self.server.server_close()
