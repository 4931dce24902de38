"""A receiver for notification fault tests: it plays Slack or a webhook consumer
that is down (nothing listening on its port), slow, failing with a chosen status
and headers (429 with Retry-After), or that takes a request and never answers.

receiver.py records only what it accepted; the fault tests must also know what
happened to every request: when it arrived, what it was answered and when, and
whether the client was still there to read the answer. Each request is a Req:

  outcome "answered"   the answer was written while the client was connected
          "late"       held, then answered after the client had gone (it timed out)
          "abandoned"  held and never answered: the client went away (or was killed)
          "pending"    still being held

Only an "answered" 2xx is a delivery the client can know of (accepted()).

Every answer carries "Connection: close", so one request is one connection and
down() leaves no kept-alive connection behind: a down receiver refuses them all.

Behaviour per request: plan[path] is a list of actions used up in order, then
defaults[path], else default, applies. Actions: ("code", N, {header: value});
("hold", SECONDS, N): hold that long, or until the client goes, then answer N
anyway; ("hang",): hold until release() or the client goes, never answer (the
connection is closed). An action may also be a function returning one, called
when the request arrives.
"""
import json
import os
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK = ("code", 200, {})
# scripts/valgrind.sh makes kloompas tens of times slower: waits stretch with it
TIMEOUT_FACTOR = float(os.environ.get("KL_TIMEOUT_FACTOR", "1") or "1")


class Req:
    def __init__(self, path, body):
        self.path = path
        self.body = body
        self.t_in = time.time()
        self.t_out = None
        self.code = None
        self.outcome = "pending"

    def __repr__(self):
        return (f"Req({self.path} {self.outcome} code={self.code} "
                f"in={self.t_in:.3f} out={self.t_out and round(self.t_out, 3)})")


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


class FaultReceiver:
    def __init__(self):
        self.cv = threading.Condition()
        self.reqs = []
        self.plan = {}
        self.defaults = {}
        self.default = OK
        self.released = threading.Event()
        self.server = None
        self.port = 0
        self.up()
        self.url = f"http://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- control

    def up(self):
        """Listens (again, on the same port)."""
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode("utf-8", "replace")
                rec._serve(self, Req(self.path, body))

        deadline = time.monotonic() + 10
        while True:
            try:
                self.server = _Server(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                # the port is ours unless someone took it while we were down
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        """Stops listening: connections to the port are refused."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def release(self):
        """Ends every hang."""
        self.released.set()

    def close(self):
        self.release()
        self.down()

    # ---------------------------------------------------------------- serving

    def _action(self, path):
        with self.cv:
            steps = self.plan.get(path)
            act = steps.pop(0) if steps else self.defaults.get(path, self.default)
        return act() if callable(act) else act

    @staticmethod
    def _client_gone(sock):
        try:
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _hold(self, handler, seconds):
        """Waits up to seconds (None: until release()); True if the client went away."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            if self._client_gone(handler.connection):
                return True
            if seconds is None and self.released.is_set():
                return False
            time.sleep(0.05)
        return self._client_gone(handler.connection)

    def _serve(self, h, req):
        with self.cv:
            self.reqs.append(req)
            self.cv.notify_all()
        act = self._action(req.path)
        code, headers = 200, {}
        if act[0] == "hang":
            self._hold(h, None)
            self._done(req, None, "abandoned")
            h.close_connection = True  # released: closed unanswered
            return
        elif act[0] == "hold":
            self._hold(h, act[1])
            code = act[2]
        else:
            code, headers = act[1], act[2]
        gone = self._client_gone(h.connection)
        out = b"ok" if code < 300 else b"error"
        try:
            h.send_response(code)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(out)))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(out)
            h.wfile.flush()
        except OSError:
            gone = True
        h.close_connection = True
        self._done(req, code, "late" if gone else "answered")

    def _done(self, req, code, outcome):
        with self.cv:
            req.code = code
            req.t_out = time.time()
            req.outcome = outcome
            self.cv.notify_all()

    # ---------------------------------------------------------------- reading

    def requests(self, path=None):
        with self.cv:
            return [r for r in self.reqs if path is None or r.path == path]

    def accepted(self, path):
        """Requests answered 2xx to a client that was still there, in order."""
        return [r for r in self.requests(path) if r.outcome == "answered" and
                r.code is not None and 200 <= r.code < 300]

    def wait(self, pred, timeout=60, what="a notification"):
        deadline = time.monotonic() + timeout * TIMEOUT_FACTOR
        with self.cv:
            while True:
                got = pred(self)
                if got:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; requests:\n" +
                                         "\n".join(f"{r!r}: {r.body[:300]}"
                                                   for r in self.reqs[-12:]))
                self.cv.wait(min(left, 0.2))


# ------------------------------------------------------------------ what a body says

def slack_notices(body):
    """[(controller header, namespace, "firing"|"resolved")] in a Slack body's order."""
    out = []
    text = json.loads(body)["text"]
    for section in text.split("\n\n"):
        head, _, rest = section.partition("\n")
        status = "resolved" if head.startswith("RESOLVED") else "firing"
        in_code = False
        for line in rest.split("\n"):
            if line.startswith("```"):
                in_code = not in_code
                continue
            if in_code or line.startswith("\u2022") or line.startswith("("):
                continue
            ns, sep, _ = line.partition(": (")
            if sep and ns and " " not in ns:
                out.append((head, ns, status))
    return out


def hook_notices(body):
    """[(alertname, namespace, status)] of an Alertmanager webhook payload, in order."""
    d = json.loads(body)
    return [(a["labels"]["alertname"], a["labels"]["namespace"], a["status"])
            for a in d["alerts"]]
