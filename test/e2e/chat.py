"""Slack's side of chat-ops for the tests: signed slash commands and raw POSTs to
kloompas' chat-ops listener (on 127.0.0.1, or a pod's IP on the real node's bridge).
Used by test_k8s_replicas.py, test_k8s_silences.py and test_real_node.py.
"""
import hashlib
import hmac
import json
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


def interactive(port, payload, ts=None, sig=None, *, secret, host="127.0.0.1"):
    """A button click as Slack sends it: form field payload holding the JSON, signed
    like a slash command (or with sig at ts). Returns (status, headers, body, raw request
    (body, timestamp, signature)) so a test can send the very same request again."""
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    t, s = sign(body, ts, secret=secret)
    t = str(ts) if ts is not None else t
    return replay(port, (body, t, sig or s), host=host)


def replay(port, req, host="127.0.0.1"):
    """Sends a recorded interactive request (body, timestamp, signature) as it was."""
    body, t, s = req
    st, hd, bd = post(port, "/slack/interactive", body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": t, "X-Slack-Signature": s}, host=host)
    return st, hd, bd, req


def block_actions(user, action_id, value, response_url):
    """A block_actions payload for one click on one of kloompas' buttons."""
    return {"type": "block_actions", "user": {"id": "U1", "username": user, "name": user},
            "team": {"id": "T1"}, "response_url": response_url,
            "actions": [{"type": "button", "action_id": action_id, "value": value,
                         "block_id": "b1", "action_ts": "1"}]}
