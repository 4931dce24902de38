"""Both HTTP listeners of a running kloompas under abuse (issue 8): slowloris, 10,000
idle connections, 1 GiB bodies, header floods. Memory stays bounded, no fd leaks, and
the loop keeps serving /healthz (metrics listener) and the chat-ops routes.

The limits are util/httpd.c's defaults (kl_httpd_limits_default); no flag or config
key changes them, so these tests run against the real values: 8 KiB of request line +
headers (431), 64 KiB of body (413), 256 connections per listener (at the limit a new
connection closes the one idle longest; only when all are busy is it sent a 503 and
closed), 60 s idle, 10 s from a request's first byte to its end (408).

Figures are printed: run with `pytest -s` to see them. Deadlines exist only so that a
broken server fails instead of hanging; no test asserts how fast anything was. Under
the sanitizer build (KL_SANITIZE=1) deadlines are longer and the memory bound is
looser: ASan's quarantine keeps freed blocks resident and its shadow memory adds to
RSS, so the peak there measures ASan as much as kloompas.
"""
import os
import re
import resource
import selectors
import socket
import statistics
import threading
import time

import pytest

SANITIZE = os.environ.get("KL_SANITIZE") == "1"
# deadline multiplier; KL_TIMEOUT_FACTOR is what scripts/valgrind.sh sets for slow runs
SLOW = (3 if SANITIZE else 1) * float(os.environ.get("KL_TIMEOUT_FACTOR", "1") or "1")

# util/httpd.c kl_httpd_limits_default(), used for both listeners by cmd/kloompas
MAX_CONNECTIONS = 256
MAX_HEADER_BYTES = 8 * 1024
MAX_BODY_BYTES = 64 * 1024
IDLE_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 10

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
# growth of kloompas' peak RSS (VmHWM) over its RSS before the attack
RSS_GROWTH_MAX = (128 if SANITIZE else 64) * MIB
# what a client may have pushed into the socket when the early refusal reaches it:
# the loopback socket buffers (several MiB each way) hold that much before the
# server reads a byte, so this bounds "answered early", not the buffers
SENT_AT_ANSWER_MAX = 64 * MIB

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
# no bearer token: the chat-ops API answers 401 (SPEC), which proves it is served
CHATOPS_PROBE = (b"POST /api/v1/replicas HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                 b"Connection: close\r\n\r\n{}")


# ------------------------------------------------------------------ fd limit

@pytest.fixture(scope="module", autouse=True)
def nofile_limit():
    """Raises this process' RLIMIT_NOFILE to its hard limit; kloompas inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 16
    assert want >= 4096, f"RLIMIT_NOFILE hard limit {hard} is too low for these tests"
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    print(f"\nRLIMIT_NOFILE of the test process: soft {soft} -> {want}, hard {hard}")
    yield want
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ------------------------------------------------------------------ the server's side

def proc_status(pid):
    """VmRSS and VmHWM of pid, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v, _ = line.split()
                out[k[:-1]] = int(v) * KIB
    return out


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_limit(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no Max open files line")


def fd_baseline(pid):
    """Lowest fd count over a second: the API client retrying the unreachable API
    server opens a socket now and then; the minimum is the steady state."""
    n = []
    for _ in range(10):
        n.append(fd_count(pid))
        time.sleep(0.1)
    return min(n)


def wait_fds_back(pid, baseline, what):
    """Waits until kloompas holds no more fds than before the attack; returns the count."""
    deadline = time.monotonic() + 30 * SLOW
    n = fd_count(pid)
    while n > baseline and time.monotonic() < deadline:
        time.sleep(0.2)
        n = fd_count(pid)
    print(f"{what}: kloompas fds baseline {baseline}, after {n}")
    assert n <= baseline, f"{what}: fd leak: {n} open, {baseline} before"
    return n


class Mem:
    """RSS before an attack; check() prints before/peak/after and bounds the growth."""

    def __init__(self, pid):
        self.pid = pid
        self.before = proc_status(pid)["VmRSS"]

    def check(self, what):
        st = proc_status(self.pid)
        print(f"{what}: kloompas RSS before {self.before / MIB:.1f} MiB, peak (VmHWM) "
              f"{st['VmHWM'] / MIB:.1f} MiB, after {st['VmRSS'] / MIB:.1f} MiB")
        growth = st["VmHWM"] - self.before
        assert growth < RSS_GROWTH_MAX, (
            f"{what}: peak RSS grew by {growth / MIB:.1f} MiB "
            f"(bound {RSS_GROWTH_MAX / MIB:.0f} MiB)")


# ------------------------------------------------------------------ the client's side

def request(port, raw, timeout=10 * SLOW):
    """One request on a new connection; returns (status or None, response bytes, end)
    where end is how the connection ended: eof, reset or timeout."""
    chunks, end = [], "eof"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(raw)
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
    except (ConnectionResetError, BrokenPipeError):
        end = "reset"
    except socket.timeout:
        end = "timeout"
    data = b"".join(chunks)
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    return (int(m.group(1)) if m else None), data, end


def assert_serving(k, what):
    """The loop serves both listeners: /healthz 200, the chat-ops API 401."""
    st, data, end = request(k.port, HEALTHZ)
    assert st == 200 and data.endswith(b"\r\n\r\nok\n"), f"{what}: /healthz: {end} {data!r}"
    st, data, end = request(k.chatops_port, CHATOPS_PROBE)
    assert st == 401, f"{what}: chat-ops probe: {end} {data!r}"


def start(kloompas):
    """kloompas with both listeners; prints and checks the fd limit it inherited."""
    k = kloompas("--chatops-bind-address=127.0.0.1:0")
    lim = fd_limit(k.proc.pid)
    print(f"kloompas pid {k.proc.pid}: RLIMIT_NOFILE {lim}")
    # the connection limit, not EMFILE, must be what bounds the listeners here
    assert lim >= 2 * MAX_CONNECTIONS + 256, lim
    return k


def listener_port(k, name):
    return k.port if name == "metrics" else k.chatops_port


def stream_attack(port, head, chunk, cap=GIB):
    """Sends head, then chunk after chunk (at most cap bytes after head) from a thread,
    while this thread reads the answer. Returns a dict: status, response, sent_at_answer
    (bytes of the stream pushed when the first answer byte arrived), read_end (eof, reset,
    timeout), sent_total and send_end (how the server stopped the stream: reset, pipe,
    done = all of cap accepted, stalled = the server stopped reading), t_answer, t_sent."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW)
    st = {"sent": 0, "send_end": None, "t_sent": None}
    t0 = time.monotonic()

    def sender():
        mv = memoryview(chunk)
        try:
            s.sendall(head)
            while st["sent"] < cap:
                s.sendall(mv)
                st["sent"] += len(chunk)
            st["send_end"] = "done"
        except ConnectionResetError:
            st["send_end"] = "reset"
        except BrokenPipeError:
            st["send_end"] = "pipe"
        except socket.timeout:
            st["send_end"] = "stalled"
        except OSError as e:
            st["send_end"] = repr(e)
        st["t_sent"] = time.monotonic() - t0

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    chunks, read_end, sent_at_answer, t_answer = [], "eof", None, None
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            if sent_at_answer is None:
                sent_at_answer, t_answer = st["sent"], time.monotonic() - t0
            chunks.append(b)
    except (ConnectionResetError, BrokenPipeError):
        read_end = "reset"
    except socket.timeout:
        read_end = "timeout"
    th.join(60 * SLOW)
    assert not th.is_alive(), "the sender is stuck"
    s.close()
    data = b"".join(chunks)
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    return {"status": int(m.group(1)) if m else None, "response": data,
            "sent_at_answer": sent_at_answer, "read_end": read_end, "t_answer": t_answer,
            "sent_total": st["sent"], "send_end": st["send_end"], "t_sent": st["t_sent"]}


def fmt_attack(r):
    ans = "none" if r["sent_at_answer"] is None else f"{r['sent_at_answer'] / MIB:.2f} MiB"
    return (f"answer {r['status']} after {ans} of the stream, read end {r['read_end']}; "
            f"server stopped the stream after {r['sent_total'] / MIB:.1f} MiB "
            f"({r['send_end']}, {r['t_sent'] or 0:.2f} s)")


# ------------------------------------------------------------------ 1. slowloris

SLOW_HEADS = {
    "metrics": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    "chatops": b"POST /api/v1/replicas HTTP/1.1\r\nHost: x\r\nX-Slow: ",
}


@pytest.mark.parametrize("listener", ["metrics", "chatops"])
def test_slowloris_connections_get_408(kloompas, listener):
    """200 connections each sending one header byte a second: every one is answered 408
    and closed at the request time limit although it never stops sending, while both
    listeners keep serving; no fd is left behind and memory stays bounded."""
    k = start(kloompas)
    pid, port = k.proc.pid, listener_port(k, listener)
    base_fds, mem = fd_baseline(pid), Mem(pid)
    n = 200
    head = SLOW_HEADS[listener]
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
        s.setblocking(False)
        c = {"s": s, "sent": 0, "first": None, "data": b"", "closed": None, "end": None}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)

    def finish(c, end):
        c["closed"], c["end"] = time.monotonic(), end
        sel.unregister(c["s"])
        c["s"].close()

    probes = []
    deadline = time.monotonic() + REQUEST_TIMEOUT_S + 60 * SLOW
    next_tick = time.monotonic()
    try:
        while any(c["closed"] is None for c in conns) and time.monotonic() < deadline:
            if time.monotonic() >= next_tick:
                next_tick += 1
                for c in conns:
                    # one byte a second until the server answers
                    if c["closed"] is not None or c["data"]:
                        continue
                    i = c["sent"]
                    byte = head[i:i + 1] if i < len(head) else b"a"
                    try:
                        if c["s"].send(byte) == 1:
                            c["sent"] += 1
                            if c["first"] is None:
                                c["first"] = time.monotonic()
                    except BlockingIOError:
                        pass
                    except (ConnectionResetError, BrokenPipeError):
                        finish(c, "reset")
                probes.append((request(k.port, HEALTHZ)[0],
                               request(k.chatops_port, CHATOPS_PROBE)[0]))
            wait = max(0.0, next_tick - time.monotonic())
            for key, _ in sel.select(timeout=wait):
                c = key.data
                try:
                    b = c["s"].recv(65536)
                except ConnectionResetError:
                    finish(c, "reset")
                    continue
                if b:
                    c["data"] += b
                else:
                    finish(c, "eof")
    finally:
        for c in conns:
            if c["closed"] is None:
                c["s"].close()
        sel.close()

    still_open = sum(c["closed"] is None for c in conns)
    took = sorted(c["closed"] - c["first"] for c in conns if c["closed"] and c["first"])
    sent = sorted(c["sent"] for c in conns)
    spread = (f"min {took[0]:.1f} s, median {statistics.median(took):.1f} s, max {took[-1]:.1f} s"
              if took else "none")
    print(f"slowloris on {listener}: {n} connections; closed {n - still_open}; from first byte "
          f"to close {spread}; bytes sent per connection {sent[0]}..{sent[-1]}; "
          f"{len(probes)} probes meanwhile: {sorted(set(probes))}")
    assert still_open == 0, f"{still_open} slowloris connections still open at the deadline"
    # a lower bound only (load can only delay the close): the request time limit counts
    # from the first byte the server saw, which is after our first send
    assert took[0] >= REQUEST_TIMEOUT_S - 1, took[0]
    for c in conns:
        assert c["data"].startswith(b"HTTP/1.1 408 "), c["data"][:80]
        assert b"Connection: close\r\n" in c["data"]
        # the answer is followed by a clean close, not a reset that could destroy it
        assert c["end"] == "eof", c["end"]
    # the slow clients never stopped sending: the request time limit ended them, not
    # the header size limit
    assert all(c["sent"] < MAX_HEADER_BYTES for c in conns)
    assert len(probes) >= 5
    assert all(p == (200, 401) for p in probes), probes
    assert_serving(k, "after slowloris")
    wait_fds_back(pid, base_fds, f"slowloris on {listener}")
    mem.check(f"slowloris on {listener}")


# ------------------------------------------------------------------ 2. idle connections

class Flood:
    """n connections to port that never send a byte, opened one after the other. Every
    socket ends in one of: open (held by the server), refused (the server sent a 503 and
    closed), idle_closed (closed with no byte: reclaimed for a newer connection, or the
    idle timeout), reset, other."""

    def __init__(self, port, pid):
        self.port, self.pid = port, pid
        self.sel = selectors.DefaultSelector()
        self.open = {}  # socket -> [connected at, data]
        self.counts = {"refused": 0, "idle_closed": 0, "reset": 0, "other": 0}
        self.other = []
        self.idle_after = []  # seconds from connect to the idle close
        self.server_fds_peak = 0

    def pump(self, timeout):
        """Reads whatever is ready; returns the number of sockets that ended."""
        ended = 0
        for key, _ in self.sel.select(timeout=timeout):
            s = key.fileobj
            rec = self.open[s]
            try:
                b = s.recv(4096)
            except ConnectionResetError:
                b, kind = None, "reset"
            if b:
                rec[1] += b
                continue
            if b is not None:
                data = rec[1]
                if not data:
                    kind = "idle_closed"
                    self.idle_after.append(time.monotonic() - rec[0])
                elif data.startswith(b"HTTP/1.1 503 ") and b"Connection: close" in data:
                    kind = "refused"
                else:
                    kind = "other"
                    self.other.append(data[:80])
            self.counts[kind] += 1
            self.sel.unregister(s)
            del self.open[s]
            s.close()
            ended += 1
        return ended

    def connect(self, n):
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=30 * SLOW)
            s.setblocking(False)
            self.open[s] = [time.monotonic(), b""]
            self.sel.register(s, selectors.EVENT_READ)
            if i % 100 == 99:
                self.pump(0)
                self.server_fds_peak = max(self.server_fds_peak, fd_count(self.pid))
        # settle: until nothing has ended for two seconds
        deadline = time.monotonic() + 60 * SLOW
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 2 and time.monotonic() < deadline:
            if self.pump(0.2):
                quiet_since = time.monotonic()
            self.server_fds_peak = max(self.server_fds_peak, fd_count(self.pid))

    def report(self, what):
        print(f"{what}: open {len(self.open)}, {self.counts}, kloompas fds peak "
              f"{self.server_fds_peak}")

    def close(self):
        for s in list(self.open):
            s.close()
        self.open.clear()
        self.sel.close()


def test_ten_thousand_idle_connections(kloompas):
    """10,000 connections that never send to each listener: each listener holds at most
    its 256, each new connection taking the slot of the one idle longest (closed without
    a byte: nothing was asked), so none is refused; both listeners keep serving while
    full of idle connections; the last 256 are closed, silently, at the idle timeout;
    then both serve again, kloompas' fd count is back at its baseline and its memory
    grew within the bound."""
    k = start(kloompas)
    pid = k.proc.pid
    base_fds, mem = fd_baseline(pid), Mem(pid)
    n = 10_000
    floods = {}
    try:
        # chat-ops first: meanwhile /healthz (the other listener) is untouched
        floods["chatops"] = f = Flood(k.chatops_port, pid)
        t0 = time.monotonic()
        f.connect(n)
        f.report(f"chatops flood ({time.monotonic() - t0:.1f} s)")
        healthz = [request(k.port, HEALTHZ)[0] for _ in range(3)]
        chatops_probe = request(k.chatops_port, CHATOPS_PROBE)[0]
        print(f"while chat-ops is full: /healthz {healthz}, chat-ops probe {chatops_probe}")
        assert healthz == [200, 200, 200]
        # an idle connection made room for it
        assert chatops_probe == 401

        floods["metrics"] = f = Flood(k.port, pid)
        t0 = time.monotonic()
        f.connect(n)
        f.report(f"metrics flood ({time.monotonic() - t0:.1f} s)")
        healthz = [request(k.port, HEALTHZ)[0] for _ in range(3)]
        print(f"while metrics is full too: /healthz {healthz}")
        assert healthz == [200, 200, 200]

        # the probes' own reclaims are counted with the flood's, not the idle timeout's
        for f in floods.values():
            while f.pump(0.5):
                pass
        reclaimed = {}
        for name, f in floods.items():
            c = f.counts
            assert c["other"] == 0 and c["reset"] == 0, (name, c, f.other)
            assert len(f.open) + sum(c.values()) == n
            assert len(f.open) <= MAX_CONNECTIONS, (name, len(f.open))
            # every held connection was idle: none refused, the oldest closed to make room,
            # so the server holds its limit (less the probes' slots it took back)
            assert c["refused"] == 0, (name, c)
            assert len(f.open) >= MAX_CONNECTIONS - 4, (name, len(f.open))
            reclaimed[name] = len(f.idle_after)
        # both listeners full: kloompas holds 2 x 256 connections, no more
        assert floods["chatops"].server_fds_peak <= base_fds + MAX_CONNECTIONS + 8
        assert floods["metrics"].server_fds_peak <= base_fds + 2 * MAX_CONNECTIONS + 8

        # now wait for the idle timeout to close the held ones
        deadline = time.monotonic() + IDLE_TIMEOUT_S + 90 * SLOW
        waited = []  # (seconds into the wait, /healthz status or how it ended)
        t_wait = time.monotonic()
        next_probe = time.monotonic() + 5
        while any(f.open for f in floods.values()) and time.monotonic() < deadline:
            for f in floods.values():
                f.pump(0.1)
            if time.monotonic() >= next_probe:
                next_probe += 5
                st, _, end = request(k.port, HEALTHZ)
                waited.append((round(time.monotonic() - t_wait), st or end))
                assert st in (200, 503) or end == "reset" or (st is None and end == "eof"), \
                    (st, end)
        for name, f in floods.items():
            f.report(f"{name} after the idle timeout")
            assert not f.open, f"{name}: {len(f.open)} idle connections still open"
            assert f.counts["other"] == 0 and f.counts["reset"] == 0, (name, f.counts)
            r = sorted(f.idle_after[:reclaimed[name]])
            if r:
                print(f"{name}: {len(r)} reclaimed for newer connections after min "
                      f"{r[0]:.1f} s, median {statistics.median(r):.1f} s, max {r[-1]:.1f} s "
                      f"from connect")
            a = sorted(f.idle_after[reclaimed[name]:])
            print(f"{name}: {len(a)} idle connections closed after min {a[0]:.1f} s, "
                  f"median {statistics.median(a):.1f} s, max {a[-1]:.1f} s from connect")
            # a lower bound only (load can only delay the close): closed by the idle
            # timeout, which starts at accept, after the client's connect returned
            assert a[0] >= IDLE_TIMEOUT_S - 1, a[0]
        print(f"/healthz every 5 s while the idle ones were held: {waited}")
    finally:
        for f in floods.values():
            f.close()
    assert_serving(k, "after 10,000 idle connections")
    wait_fds_back(pid, base_fds, "idle flood")
    mem.check("idle flood")


def test_healthz_answered_while_metrics_listener_is_full_of_idle_connections(kloompas):
    k = start(kloompas)
    pid = k.proc.pid
    base_fds = fd_baseline(pid)
    held = []
    try:
        for _ in range(MAX_CONNECTIONS + 44):
            held.append(socket.create_connection(("127.0.0.1", k.port), timeout=10 * SLOW))
        deadline = time.monotonic() + 20 * SLOW
        while fd_count(pid) < base_fds + MAX_CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.1)
        results = []
        for _ in range(3):
            results.append(request(k.port, HEALTHZ)[::2])
            time.sleep(1)
        print(f"/healthz with {len(held)} idle connections on the metrics port: {results}")
        assert any(st == 200 for st, _ in results), results
    finally:
        for s in held:
            s.close()


# ------------------------------------------------------------------ 3. a 1 GiB body

BIG_HEADS = {
    ("metrics", "content-length"):
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n",
    ("metrics", "chunked"):
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    ("chatops", "content-length"):
        b"POST /api/v1/replicas HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\n\r\n",
    ("chatops", "chunked"):
        b"POST /api/v1/replicas HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
}
BLOCK = b"{" * (64 * KIB)
CHUNK = b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK)


@pytest.mark.parametrize("mode", ["content-length", "chunked"])
@pytest.mark.parametrize("listener", ["metrics", "chatops"])
def test_one_gib_body_refused_early(kloompas, listener, mode):
    """A 1 GiB body streamed by a client that does not wait for an answer: 413 comes back
    after the headers (Content-Length) or past 64 KiB of chunks, long before the GiB,
    followed by the server's FIN; /healthz is served while the server still discards the
    rest; memory stays bounded and no fd is left behind."""
    k = start(kloompas)
    pid, port = k.proc.pid, listener_port(k, listener)
    base_fds, mem = fd_baseline(pid), Mem(pid)
    chunk = BLOCK if mode == "content-length" else CHUNK
    probe = []

    # /healthz while the attack runs (the answer comes first, the draining goes on)
    def prober():
        time.sleep(0.05)
        probe.append(request(k.port, HEALTHZ)[0])

    th = threading.Thread(target=prober)
    th.start()
    r = stream_attack(port, BIG_HEADS[(listener, mode)], chunk)
    th.join(30 * SLOW)
    print(f"1 GiB body, {mode}, on {listener}: {fmt_attack(r)}; /healthz meanwhile {probe}")
    assert r["status"] == 413, r["response"][:200]
    assert b"Connection: close\r\n" in r["response"]
    assert r["read_end"] == "eof"  # a FIN after the 413, not a reset that eats it
    assert r["sent_at_answer"] < SENT_AT_ANSWER_MAX
    assert r["send_end"] in ("reset", "pipe", "done"), r["send_end"]
    assert probe == [200]
    assert_serving(k, f"after a 1 GiB {mode} body")
    wait_fds_back(pid, base_fds, f"1 GiB {mode} body on {listener}")
    mem.check(f"1 GiB {mode} body on {listener}")


def test_server_stops_reading_soon_after_refusing_a_body(kloompas):
    k = start(kloompas)
    r = stream_attack(k.port, BIG_HEADS[("metrics", "content-length")], BLOCK)
    print(f"1 GiB body ignoring the 413: {fmt_attack(r)}")
    assert r["status"] == 413
    assert r["sent_total"] < 32 * MIB, fmt_attack(r)


# ------------------------------------------------------------------ 4. header floods

def flood_cases(listener):
    line = (b"GET /healthz HTTP/1.1\r\n" if listener == "metrics"
            else b"POST /api/v1/replicas HTTP/1.1\r\n")
    many = b"".join(b"X-Flood-%05d: v\r\n" % i for i in range(4096))  # 64 KiB a chunk
    return {
        # thousands of small headers, without end
        "thousands of headers": (line + b"Host: x\r\n", many, GIB),
        # one header of 16 MiB
        "one huge header": (line + b"Host: x\r\nX-Big: ", b"a" * (64 * KIB), 16 * MIB),
        # a header line that never ends
        "never-ending header line": (line + b"Host: x\r\nX-Endless: ", b"b" * (64 * KIB),
                                     GIB),
        # a request line that never ends
        "never-ending request line": (line.split(b" ")[0] + b" /", b"c" * (64 * KIB), GIB),
    }


@pytest.mark.parametrize("listener", ["metrics", "chatops"])
def test_header_floods_get_431(kloompas, listener):
    """Thousands of headers, one 16 MiB header, a header line or a request line that
    never ends, each streamed without waiting: 431 after the 8 KiB head limit, long
    before the stream ends, then a FIN; both listeners keep serving; memory bounded,
    no fd left behind."""
    k = start(kloompas)
    pid, port = k.proc.pid, listener_port(k, listener)
    base_fds, mem = fd_baseline(pid), Mem(pid)
    for name, (head, chunk, cap) in flood_cases(listener).items():
        r = stream_attack(port, head, chunk, cap)
        print(f"{name} on {listener}: {fmt_attack(r)}")
        assert r["status"] == 431, (name, r["response"][:200])
        assert b"Connection: close\r\n" in r["response"]
        assert r["read_end"] == "eof", (name, r["read_end"])
        assert r["sent_at_answer"] < SENT_AT_ANSWER_MAX, name
        assert r["send_end"] in ("reset", "pipe", "done"), (name, r["send_end"])
        assert_serving(k, f"after {name}")
    # the same floods sent at once, as one write each
    for name, raw in (("4,000 headers in one write", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                       + b"".join(b"X-F%d: v\r\n" % i for i in range(4000)) + b"\r\n"),
                      ("one 1 MiB header in one write", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                       b"X-Big: " + b"a" * MIB + b"\r\n\r\n")):
        st, data, end = request(port, raw)
        print(f"{name} on {listener}: {st} {end}")
        assert st == 431, (name, data[:200], end)
    wait_fds_back(pid, base_fds, f"header floods on {listener}")
    mem.check(f"header floods on {listener}")
