"""Slack's side of chat-ops for the tests: signed slash commands and raw POSTs to
kloompas' chat-ops listener (on 127.0.0.1, or a pod's IP on the real node's bridge).
Used by test_k8s_replicas.py and test_real_node.py.
"""
import hashlib
import hmac
import time
import urllib.parse

from conftest import http, split_response


def sign(body, ts=None, *, secret):
    """Slack's v0 signature of body at ts (now by default): (timestamp, signature)."""
    ts = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return ts, "v0=" + mac


def post(port, path, body, headers, host="127.0.0.1"):
    """One POST with Connection: close -> (status, headers text, body bytes)."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    raw = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}"
           f"Connection: close\r\n\r\n").encode() + body
    return split_response(http(port, raw, timeout=30, host=host))


def slash(port, text, user="alex.guerra", ts=None, sig=None, body=None, *, secret,
          host="127.0.0.1"):
    """A slash command as Slack sends it, signed with secret (or with sig at ts)."""
    body = body if body is not None else urllib.parse.urlencode({
        "token": "x", "team_id": "T1", "user_id": "U1", "user_name": user,
        "command": "/kloompas", "text": text, "response_url": "https://example.invalid/x",
    }).encode()
    t, s = sign(body, ts, secret=secret)
    return post(port, "/slack/commands", body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": t if ts is None or sig is None else str(ts),
        "X-Slack-Signature": sig or s}, host=host)
