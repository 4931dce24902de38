"""An HTTP-level proxy in front of the real apiserver that a test can make misbehave.

Why: tcpproxy.py cuts the network, but some faults only exist at the HTTP level:
an apiserver that answers 429 with Retry-After (priority and fairness, max in-flight),
and a watch stream that ends in the middle of an event (a proxy or load balancer
dropping a long response). The real apiserver does neither on demand.

Design:
- TLS is terminated with the cluster's own serving certificate (pki/apiserver.crt is
  valid for IP 127.0.0.1 whatever the port), so a client keeps verifying the cluster CA
  and only the server URL of its kubeconfig changes (see kubeconfig()). Only http/1.1
  is offered by ALPN: clients that prefer HTTP/2 fall back to one connection per
  request, and every request is seen here on its own.
- Each client connection gets one keep-alive upstream connection (http.client), which
  authenticates with the cluster's admin client certificate; with client_cert=False the
  client's own Authorization header is passed on instead and no certificate is shown.
- Responses with a Content-Length are relayed whole; the others (watches, LISTs) are
  relayed chunk by chunk as they arrive, re-framed as chunked, so a watch streams
  through unchanged. Accept-Encoding is dropped: bodies stay plain JSON, so a cut can be
  placed inside an object.
- Faults are rules, taken in the order added, each for a number of matching requests:
  fail_next() answers with a status (429 + Retry-After + a Status body) without asking
  the apiserver; cut_next() relays a matching response until at least K body bytes
  have passed, then cuts at the next point strictly inside an event line (never on a
  line boundary): "reset" aborts the TCP connection (no TLS close, no last chunk),
  "eof" ends the HTTP response cleanly there (a last chunk: the body looks complete).
  A cut rule also applies to a matching response already streaming when it is added,
  counting from then.
- Every request is logged when its head has been read, with monotonic times: t (then),
  t_end (response sent, failed or cut; None while it runs), method, path, query (a
  dict), status (once known), fault.
"""
import http.client
import os
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect", "host", "content-length", "accept-encoding",
              "proxy-authorization", "proxy-authenticate"}


def is_watch(query):
    return query.get("watch") in ("true", "1")


def matcher(path, watch=None, method="GET"):
    """A rule's match function: this exact path (no query), and when watch is True or
    False only watches or only non-watches."""
    def match(m, p, q):
        return (method is None or m == method) and p == path and \
            (watch is None or is_watch(q) == watch)
    return match


def env_file(cluster_dir):
    env = {}
    for line in open(os.path.join(cluster_dir, "env")):
        line = line.strip()
        if "=" in line and not line.startswith("#") and not line.startswith("export "):
            k, v = line.split("=", 1)
            env[k] = v
    return env


class _Rule:
    def __init__(self, kind, match, count, **kw):
        self.kind, self.match, self.left = kind, match, count
        self.kw = kw


class _Cut(Exception):
    pass


class FaultProxy:
    def __init__(self, cluster_dir, client_cert=True, port=0):
        env = env_file(cluster_dir)
        self.cluster_dir = cluster_dir
        url = urllib.parse.urlsplit(env["APISERVER_URL"])
        self.upstream = (url.hostname, url.port)
        self.ca_file = env["CA_FILE"]
        pki = os.path.join(cluster_dir, "pki")
        self.up_ctx = ssl.create_default_context(cafile=self.ca_file)
        self.up_ctx.set_alpn_protocols(["http/1.1"])
        self.client_cert = client_cert
        if client_cert:
            self.up_ctx.load_cert_chain(env["ADMIN_CERT"], env["ADMIN_KEY"])
        self.down_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.down_ctx.load_cert_chain(os.path.join(pki, "apiserver.crt"),
                                      os.path.join(pki, "apiserver.key"))
        self.down_ctx.set_alpn_protocols(["http/1.1"])
        self.lock = threading.Condition()
        self.rules = []
        self.log = []  # dicts, see the file comment
        self.streams = set()  # handlers relaying a chunked body right now
        self.server = self._make_server(port)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    # ------------------------------------------------------------ test interface

    def fail_next(self, match, count, status=429, retry_after=None, reason="TooManyRequests",
                  message="too many requests, please try again later"):
        """Answer the next count requests that match (method, path, query) with status,
        a Status body and, when given, Retry-After: retry_after."""
        with self.lock:
            self.rules.append(_Rule("fail", match, count, status=status,
                                    retry_after=retry_after, reason=reason, message=message))

    def cut_next(self, match, after_bytes, count=1, mode="reset"):
        """Cut the next count matching streamed responses (mode "reset" or "eof") at the
        first point inside an event line once after_bytes body bytes have passed."""
        assert mode in ("reset", "eof")
        with self.lock:
            rule = _Rule("cut", match, count, after=after_bytes, mode=mode)
            self.rules.append(rule)
            for h in list(self.streams):
                if rule.left > 0 and h.kl_cut is None and \
                        rule.match(h.command, h.kl_path, h.kl_query):
                    rule.left -= 1
                    h.kl_cut = (after_bytes, mode)

    def pending(self):
        """Faults not used yet."""
        with self.lock:
            return sum(r.left for r in self.rules)

    def requests(self, match=None):
        with self.lock:
            return [dict(e) for e in self.log
                    if match is None or match(e["method"], e["path"], e["query"])]

    def wait(self, pred, timeout=60, what="requests"):
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                got = pred(self.log)
                if got:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"faultproxy: timed out waiting for {what}; last:\n" +
                                         "\n".join(str(e) for e in self.log[-15:]))
                self.lock.wait(min(left, 0.2))

    def kubeconfig(self, path, user=None):
        """Writes a kubeconfig for this proxy (JSON is YAML): the cluster CA, and the
        admin client certificate unless user (a kubeconfig user dict) is given."""
        import json
        env = env_file(self.cluster_dir)
        user = user or {"client-certificate": env["ADMIN_CERT"], "client-key": env["ADMIN_KEY"]}
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
               "clusters": [{"name": "k", "cluster": {"server": self.url,
                                                       "certificate-authority": self.ca_file}}],
               "users": [{"name": "u", "user": user}],
               "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}
        with open(path, "w") as f:
            json.dump(doc, f)
        return str(path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            streams = list(self.streams)
        for h in streams:
            h.kl_abort()

    # ------------------------------------------------------------ internals

    def _take(self, kind, method, path, query):
        with self.lock:  # a Condition: re-entrant
            for r in self.rules:
                if r.kind == kind and r.left > 0 and r.match(method, path, query):
                    r.left -= 1
                    return r
        return None

    def _record(self, entry):
        with self.lock:
            self.log.append(entry)
            self.lock.notify_all()

    def _make_server(self, port):
        proxy = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def finish_request(self, request, client_address):
                # the TLS handshake runs in the connection's own thread
                try:
                    request.settimeout(30)
                    tls = proxy.down_ctx.wrap_socket(request, server_side=True)
                    tls.settimeout(None)
                except (OSError, ssl.SSLError):
                    return
                try:
                    self.RequestHandlerClass(tls, client_address, self)
                finally:
                    try:
                        tls.close()
                    except OSError:
                        pass

            def handle_error(self, request, client_address):
                pass

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            up = None

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                self.kl_cut = None

            def finish(self):
                try:
                    super().finish()
                except OSError:
                    pass
                if self.up:
                    self.up.close()

            def kl_abort(self):
                """From another thread: drop both sides, which wakes the relay."""
                up = self.up
                for s, linger in ((self.connection, True), (up and up.sock, False)):
                    if s is None:
                        continue
                    try:
                        if linger:
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                         struct.pack("ii", 1, 0))
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            def _body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if n == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(n))
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else None

            def _status(self, code, reason, message, retry_after=None):
                import json
                body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                   "status": "Failure", "message": message, "reason": reason,
                                   "details": {"retryAfterSeconds": retry_after or 0},
                                   "code": code}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                if retry_after is not None:
                    self.send_header("Retry-After", str(retry_after))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def _upstream(self, method, target, body, headers):
                for attempt in (0, 1):
                    fresh = self.up is None
                    if fresh:
                        self.up = http.client.HTTPSConnection(*proxy.upstream,
                                                              context=proxy.up_ctx,
                                                              timeout=None)
                    try:
                        self.up.request(method, target, body=body, headers=headers)
                        return self.up.getresponse()
                    except (OSError, http.client.HTTPException):
                        self.up.close()
                        self.up = None
                        if fresh or attempt:
                            raise
                return None

            def _handle(self):
                t = time.monotonic()
                split = urllib.parse.urlsplit(self.path)
                path = split.path
                query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
                self.kl_path, self.kl_query = path, query
                entry = {"t": t, "t_end": None, "method": self.command, "path": path,
                         "query": query, "status": None, "fault": None}
                proxy._record(entry)
                body = self._body()
                try:
                    rule = proxy._take("fail", self.command, path, query)
                    if rule:
                        entry["fault"] = f"status-{rule.kw['status']}"
                        entry["status"] = rule.kw["status"]
                        self._status(rule.kw["status"], rule.kw["reason"], rule.kw["message"],
                                     rule.kw["retry_after"])
                        return
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in HOP_BY_HOP and
                               not (proxy.client_cert and k.lower() == "authorization")}
                    try:
                        resp = self._upstream(self.command, self.path, body, headers)
                    except (OSError, http.client.HTTPException) as e:
                        entry["status"] = 503
                        entry["fault"] = "upstream-down"
                        self._status(503, "ServiceUnavailable", f"faultproxy: upstream: {e}")
                        return
                    entry["status"] = resp.status
                    self._relay(resp, entry)
                except _Cut:
                    self.close_connection = True
                finally:
                    with proxy.lock:
                        entry["t_end"] = time.monotonic()
                        proxy.lock.notify_all()

            def _relay(self, resp, entry):
                self.send_response_only(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                length = resp.getheader("Content-Length")
                no_body = self.command == "HEAD" or resp.status in (204, 304) or \
                    100 <= resp.status < 200
                if no_body or length is not None:
                    data = resp.read()
                    if not no_body:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if not no_body:
                        self.wfile.write(data)
                    self.wfile.flush()
                    if resp.will_close:
                        self.up.close()
                        self.up = None
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                with proxy.lock:
                    # at once with the rule, so that cut_next() either sees this stream
                    # or leaves its rule for it
                    proxy.streams.add(self)
                    rule = proxy._take("cut", self.command, self.kl_path, self.kl_query)
                    if rule:
                        self.kl_cut = (rule.kw["after"], rule.kw["mode"])
                try:
                    self._stream(resp, entry)
                finally:
                    with proxy.lock:
                        proxy.streams.discard(self)

            def _chunk(self, data):
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()

            def _stream(self, resp, entry):
                passed = 0      # body bytes relayed since the cut was armed
                armed = None
                prev = b"\n"    # the byte before the next one: a line boundary?
                while True:
                    try:
                        data = resp.read1(65536)
                    except (OSError, http.client.HTTPException):
                        # the apiserver went away mid-response: so does this one
                        self.up.close()
                        self.up = None
                        self.kl_abort()
                        raise _Cut()
                    if not data:
                        break
                    if self.kl_cut and armed is None:
                        armed, passed = self.kl_cut, 0
                    if armed:
                        pos = self._cut_point(data, prev, max(0, armed[0] - passed))
                        if pos is not None:
                            self._chunk(data[:pos])
                            self._do_cut(armed[1], entry)
                        passed += len(data)
                    self._chunk(data)
                    prev = data[-1:]
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                if resp.will_close:
                    self.up.close()
                    self.up = None

            @staticmethod
            def _cut_point(data, prev, skip):
                """The first offset >= skip strictly inside a line: the byte before it and
                the byte at it are not line ends. None if there is none in data."""
                for pos in range(skip, len(data)):
                    before = data[pos - 1:pos] if pos else prev
                    if before != b"\n" and data[pos:pos + 1] != b"\n":
                        return pos
                return None

            def _do_cut(self, mode, entry):
                entry["fault"] = "cut-" + mode
                self.up.close()
                self.up = None
                if mode == "eof":
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                else:
                    # no last chunk, no TLS close_notify: the close that follows at
                    # once (the handler ends) sends a TCP RST
                    try:
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   struct.pack("ii", 1, 0))
                    except OSError:
                        pass
                raise _Cut()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        return Server(("127.0.0.1", port), Handler)
