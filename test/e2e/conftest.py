"""Fixtures for the end-to-end suite: run the real kloompas binary and talk to it.

KLOOMPAS_BIN names the binary (meson sets it). Every process started here is
stopped with SIGTERM at the end of its test and must exit 0: under the sanitizer
build LeakSanitizer turns any leak into a non-zero exit, so every test is also a
leak check of the run it made.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

BIN = os.environ.get("KLOOMPAS_BIN", "")


def _env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def run_cli(*args, timeout=20):
    """Runs kloompas to completion; returns (exit code, stdout, stderr)."""
    assert BIN, "KLOOMPAS_BIN is not set: run the suite through meson test"
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                       env=_env())
    return p.returncode, p.stdout, p.stderr


class Kloompas:
    """A running kloompas; .port is the metrics port it bound."""

    def __init__(self, args, tmp_path):
        self.errpath = tmp_path / f"kloompas-{time.monotonic_ns()}.log"
        self.errfile = open(self.errpath, "w+")
        self.proc = subprocess.Popen([BIN, *args], stdout=subprocess.DEVNULL,
                                     stderr=self.errfile, env=_env())
        self.port = self._wait_port("metrics")
        self.chatops_port = None
        if any(a.startswith("--chatops-bind-address") for a in args):
            self.chatops_port = self._wait_port("chatops")

    def log(self):
        if not self.errfile.closed:
            self.errfile.flush()
        return self.errpath.read_text()

    def _wait_port(self, server):
        deadline = time.monotonic() + 20
        pat = re.compile(r'msg=listening server=%s address=\S+ port=(\d+)' % server)
        jpat = re.compile(r'"msg":"listening","server":"%s","address":"[^"]*","port":"(\d+)"'
                          % server)
        while time.monotonic() < deadline:
            text = self.log()
            m = pat.search(text) or jpat.search(text)
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"kloompas exited {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        raise AssertionError("kloompas did not start listening:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("kloompas did not stop in time:\n" + self.log())
        self.errfile.close()
        return rc


@pytest.fixture
def kloompas(tmp_path):
    """Factory: kloompas(*flags) starts one; all are stopped and must exit 0."""
    started = []

    def start(*args):
        k = Kloompas(["--bind-address=127.0.0.1:0", "--leader-elect=false", *args], tmp_path)
        started.append(k)
        return k

    yield start
    for k in started:
        if not k.errfile.closed:
            rc = k.stop()
            assert rc == 0, f"kloompas exited {rc} at teardown:\n{k.log()}"


def http(port, raw, timeout=10, read_all=True):
    """Sends raw bytes, returns every byte the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            chunks.append(b)
            if not read_all:
                break
        return b"".join(chunks)


def get(port, path, headers=""):
    """One GET with Connection: close; returns (status, headers text, body bytes)."""
    raw = http(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
               .encode())
    return split_response(raw)


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    return status, "\r\n".join(lines[1:]), body


def parse_json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]
