#!/usr/bin/env python3
"""test/data/fakeapi/server.py - a scripted fake Kubernetes API server for the unit tests
of kubeclient (test/unit/test_client.c, test/unit/test_informer.c).

A real API server will not, on demand, expire a continue token on page 2, cut a watch in
the middle of an object, answer 429 with Retry-After or send an ERROR event; this one does
exactly what each test scripts, in order, and records what it was asked. Plain HTTP/1.1 on
127.0.0.1, standard library only. Usage:

    server.py

prints "PORT <port>" on stdout once it accepts, then runs until killed.

Control endpoints (the test's own, never seen by kubeclient):

  POST /_reset    forget every rule and the log; open "hang" answers are cut
  POST /_script   {"rules": [RULE, ...]}: appended to the current rules
  GET  /_log      JSON list, one entry per request received (control ones excepted):
                  {"method", "path", "query" (raw), "params" {name: first value,
                  decoded}, "auth" (Authorization header or ""), "ua" (User-Agent),
                  "accept" (Accept header or ""),
                  "body" (request body as text), "rule" (index, -1 when unscripted)}

A RULE answers requests whose path starts with "prefix":
  {"prefix": "/api/v1/pods",
   "method": "GET",            optional
   "watch": true|false,        optional: only watches (watch=true|1 in the query), or none
   "auth": "Bearer t",         optional: only with this Authorization header
   "responses": [RESP, ...],   consumed one per matching request, in order
   "then": RESP}               answers every request once responses ran out (optional)
The rule with the longest matching prefix wins; among equal ones the first scripted.
A request no rule answers gets a 404 Status with reason "NotScripted".

A RESP:
  {"status": 200, "headers": {"Retry-After": "3"},
   "json": VALUE | "body": "text",              a plain answer with Content-Length
   "content_type": "text/html",                 (for "body"; default text/plain); or
   "events": [VALUE, ...] | "chunks": ["...", ...],
                                                a chunked stream: events are written one
                                                JSON per line; chunks are sent as given
   "chunk_size": N,     re-split the stream into N-byte chunks (1: byte by byte)
   "delay_ms": N,       pause before every chunk but the first
   "truncate": N,       drop the last N bytes of the stream
   "cut": true,         close the connection after the stream, without the terminator
   "hang": true,        after the stream, keep the connection open until the client goes
   "stall": true}       answer nothing at all until the client goes
"""
import http.server
import json
import select
import socket
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit


class State:
    lock = threading.Lock()
    rules = []
    log = []
    gen = 0  # bumped by /_reset: hanging answers of an older script end


def not_scripted(path):
    return {"status": 404, "json": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "fakeapi: nothing scripted for %s" % path,
        "reason": "NotScripted", "code": 404}}


def matches(rule, method, path, params, auth):
    if not path.startswith(rule["prefix"]):
        return False
    if rule.get("method") and rule["method"] != method:
        return False
    if "watch" in rule and rule["watch"] is not None:
        if (params.get("watch", "") in ("true", "1")) != bool(rule["watch"]):
            return False
    if rule.get("auth") is not None and rule["auth"] != auth:
        return False
    return True


def pick(method, path, params, auth):
    """The response for a request and the index of the rule that gave it."""
    best = -1
    for i, rule in enumerate(State.rules):
        if matches(rule, method, path, params, auth):
            if best < 0 or len(rule["prefix"]) > len(State.rules[best]["prefix"]):
                best = i
    if best < 0:
        return not_scripted(path), -1
    rule = State.rules[best]
    if rule.get("responses"):
        return rule["responses"].pop(0), best
    if rule.get("then") is not None:
        return rule["then"], best
    return not_scripted(path), -1


def stream_pieces(resp):
    if "events" in resp:
        data = b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n"
                        for e in resp["events"])
        pieces = [json.dumps(e, separators=(",", ":")).encode() + b"\n"
                  for e in resp["events"]]
    else:
        pieces = [c.encode() for c in resp.get("chunks", [])]
        data = b"".join(pieces)
    n = resp.get("truncate", 0)
    if n:
        data = data[:-n]
        pieces = None
    size = resp.get("chunk_size")
    if size:
        pieces = [data[i:i + size] for i in range(0, len(data), size)]
    elif pieces is None:
        pieces = [data]
    return [p for p in pieces if p]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet: the test owns stderr
        pass

    def plain(self, code, body, ctype="application/json", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def control(self, path, body):
        if path == "/_reset":
            with State.lock:
                State.rules = []
                State.log = []
                State.gen += 1
            self.plain(200, b"{}")
        elif path == "/_script":
            rules = json.loads(body or b"{}").get("rules", [])
            with State.lock:
                State.rules.extend(rules)
            self.plain(200, b"{}")
        elif path == "/_log":
            with State.lock:
                out = json.dumps(State.log).encode()
            self.plain(200, out)
        else:
            self.plain(404, b"{}")

    def wait_gone(self, gen):
        """Until the client closes the connection (or the test resets)."""
        sock = self.connection
        while State.gen == gen:
            r, _, _ = select.select([sock], [], [], 0.05)
            if not r:
                continue
            try:
                if not sock.recv(1, socket.MSG_PEEK):
                    break
            except OSError:
                break
            time.sleep(0.05)  # unexpected bytes from the client: keep waiting
        self.close_connection = True

    def answer(self, resp, gen):
        if resp.get("stall"):
            self.wait_gone(gen)
            return
        status = resp.get("status", 200)
        headers = resp.get("headers", {})
        if "events" not in resp and "chunks" not in resp:
            if "json" in resp:
                body = json.dumps(resp["json"]).encode()
                ctype = "application/json"
            else:
                body = resp.get("body", "").encode()
                ctype = resp.get("content_type", "text/plain")
            self.plain(status, body, ctype, headers)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()
        delay = resp.get("delay_ms", 0) / 1000.0
        for i, piece in enumerate(stream_pieces(resp)):
            if i and delay:
                time.sleep(delay)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        if resp.get("hang"):
            self.wait_gone(gen)
            return
        if resp.get("cut"):
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        url = urlsplit(self.path)
        if url.path.startswith("/_"):
            self.control(url.path, body)
            return
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        auth = self.headers.get("Authorization", "")
        with State.lock:
            resp, rule = pick(self.command, url.path, params, auth)
            gen = State.gen
            State.log.append({
                "method": self.command, "path": url.path, "query": url.query,
                "params": params, "auth": auth, "ua": self.headers.get("User-Agent", ""),
                "accept": self.headers.get("Accept", ""),
                "body": body.decode("utf-8", "replace"), "rule": rule})
        try:
            self.answer(resp, gen)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # cut and cancelled clients are what some tests do on purpose


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("PORT %d" % srv.server_address[1], flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    if len(sys.argv) != 1:
        sys.exit("usage: server.py")
    main()
