#!/usr/bin/env python3
"""scripts/demo_slash.py URL SECRET_FILE USER "COMMAND" - sends a Slack slash command
signed the way Slack signs it (v0= HMAC-SHA256 of v0:TIMESTAMP:BODY) and prints the
answer: what an SRE typing /kloompas COMMAND in Slack would see."""
import hashlib
import hmac
import json
import sys
import time
import urllib.parse
import urllib.request

url, secret_file, user, text = sys.argv[1:5]
secret = open(secret_file).read().strip()
body = urllib.parse.urlencode({"user_name": user, "command": "/kloompas", "text": text}).encode()
ts = str(int(time.time()))
sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
req = urllib.request.Request(url, data=body, headers={
    "Content-Type": "application/x-www-form-urlencoded",
    "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})
with urllib.request.urlopen(req, timeout=30) as r:
    print(f"/kloompas {text}\n  -> {json.loads(r.read())['text']}")
