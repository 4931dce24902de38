#!/usr/bin/env python3
"""scripts/demo_receiver.py PORT - plays Slack's incoming webhook for the demo: prints
every message kloompas posts, as a chat client would show it."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            text = json.loads(body)["text"]
        except (ValueError, KeyError):
            text = body.decode("utf-8", "replace")
        print("\n┌─ #sre-alerts (Slack) " + "─" * 40)
        for line in text.splitlines():
            print("│ " + line)
        print("└" + "─" * 62, flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
