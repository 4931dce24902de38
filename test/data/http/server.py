#!/usr/bin/env python3
"""test/data/http/server.py - the local HTTP and HTTPS server for test/unit/test_http.c.

The HTTP client is tested against a real server over loopback rather than hand-made
bytes, so TLS, chunking, keep-alive and cut connections are what libcurl really sees.
Standard library only. Usage:

    server.py CERT KEY CERT_DNS_ONLY KEY_DNS_ONLY

It listens on 127.0.0.1 three times - plain HTTP, HTTPS with CERT (localhost and
127.0.0.1), HTTPS with CERT_DNS_ONLY (DNS names only, for tls_server_name) - and
prints one line "PORTS <http> <https> <https-dns-only>" on stdout once all three
accept. It runs until killed.

Endpoints (every method):
  /hello        200 "hello\n"
  /stream       chunked: "piece-0\n" .. "piece-4\n", 100 ms apart, then the end
  /status/NNN   status NNN, Retry-After: 7, body "status NNN\n"
  /retry-date   503 with Retry-After as an HTTP-date 30 s from now
  /big          1 MiB, byte i = i % 251, with Content-Length
  /echo         200, body: method, selected request headers, then the request body
  /hang         reads the request, never answers
  /cut          Content-Length: 100, sends 10 bytes, closes the connection
"""
import email.utils
import http.server
import socket
import ssl
import sys
import threading
import time

BIG = bytes(i % 251 for i in range(1 << 20))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet: the test owns stderr
        pass

    def reply(self, code, body, headers=()):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = self.path.split("?", 1)[0]
        if path == "/hello":
            self.reply(200, b"hello\n")
        elif path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            for i in range(5):
                piece = b"piece-%d\n" % i
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"0\r\n\r\n")
        elif path.startswith("/status/"):
            code = int(path[len("/status/"):])
            self.reply(code, b"status %d\n" % code, [("Retry-After", "7")])
        elif path == "/retry-date":
            when = email.utils.formatdate(time.time() + 30, usegmt=True)
            self.reply(503, b"later\n", [("Retry-After", when)])
        elif path == "/big":
            self.reply(200, BIG)
        elif path == "/echo":
            out = "method=%s\n" % self.command
            for h in ("X-Test", "User-Agent", "Authorization", "Content-Type", "Host"):
                out += "%s=%s\n" % (h.lower(), self.headers.get(h, ""))
            out += "body-length=%d\n\n" % len(body)
            self.reply(200, out.encode() + body)
        elif path == "/hang":
            time.sleep(3600)
        elif path == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        else:
            self.reply(404, b"no such endpoint\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # failed handshakes and cut clients are what some tests do on purpose


def serve(cert=None, key=None):
    srv = Server(("127.0.0.1", 0), Handler)
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        # the handshake runs in the handler thread, so a client that never
        # finishes it cannot stall the accept loop
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: server.py CERT KEY CERT_DNS_ONLY KEY_DNS_ONLY")
    ports = [serve(), serve(sys.argv[1], sys.argv[2]), serve(sys.argv[3], sys.argv[4])]
    print("PORTS %d %d %d" % tuple(ports), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
