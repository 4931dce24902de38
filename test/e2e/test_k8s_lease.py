"""Leader election (kubeclient/lease.c) against the real control plane.

Each candidate is test/tools/kllease (KLLEASE_BIN), printing STARTED/LEADER/FOLLOWER/
STOPPED lines as they happen; the tests run two of them on one Lease in a fresh
namespace, kill or stop the leader and time the takeover, and read the Lease with the
admin client to check what the candidates wrote. Durations are short (lease 2 s,
renew deadline 1.5 s, retry 300 ms) so the suite stays fast; every bound below is
derived from them, with slack for a loaded machine.

Every candidate stopped with SIGTERM must exit 0 (under the sanitizer build that is
also a leak check); a SIGKILLed one is the point of its test.
"""
import datetime
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import _env

KLLEASE = os.environ.get("KLLEASE_BIN", "")
LEASE_API = "/apis/coordination.k8s.io/v1/namespaces/%s/leases"
FAST = ("--lease", "2s", "--renew", "1500ms", "--retry", "300ms")
LEASE_S, RETRY_S = 2.0, 0.3
JITTER_MAX_S = RETRY_S * 2.2  # a candidate waits retry * [1, 2.2) between reads
SLACK_S = 1.5


class Candidate:
    """One kllease process; its stdout lines are collected with their arrival time."""

    def __init__(self, cluster, ns, name, identity, args=FAST):
        assert KLLEASE, "KLLEASE_BIN is not set (test/tools/kllease)"
        self.identity = identity
        self.lines = []  # (monotonic time, line)
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            [KLLEASE, "--kubeconfig", cluster.kubeconfig, "--ns", ns, "--name", name,
             "--identity", identity, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        self.err = []
        self.eof = False
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()
        self.wait_line("STARTED")

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append((time.monotonic(), line.strip()))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def seen(self, word):
        """Times at which lines starting with word were printed."""
        with self.cond:
            return [t for t, l in self.lines if l.split()[0] == word]

    def wait_line(self, word, timeout=20.0, count=1):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len([1 for _, l in self.lines if l.split()[0] == word]) < count:
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self.cond.wait(min(left, 0.1))
            times = [t for t, l in self.lines if l.split()[0] == word]
        assert len(times) >= count, f"{self.identity}: no {word} line: {self.lines}\n" \
                                    + "".join(self.err)
        return times[count - 1]

    def leader(self):
        return bool(self.seen("LEADER"))

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.identity} did not stop: {self.lines}")
        return rc


@pytest.fixture
def lease_ns(cluster):
    ns = "lease-" + uuid.uuid4().hex[:8]
    cluster.kube.create_namespace(ns, wait_sa=False)
    yield ns
    cluster.kube.delete("namespaces", name=ns)


@pytest.fixture
def candidates(cluster, lease_ns):
    """Factory: candidates(identity, args=FAST); all are stopped at the end and must
    exit 0 unless the test killed them."""
    started = []

    def start(identity, args=FAST, name="kloompas"):
        c = Candidate(cluster, lease_ns, name, identity, args)
        started.append(c)
        return c

    yield start
    for c in started:
        if c.proc.poll() is None:
            rc = c.stop()
            assert rc == 0, f"{c.identity} exited {rc}: {''.join(c.err)}"


def get_lease(cluster, ns, name="kloompas"):
    return cluster.kube.get(LEASE_API % ns + "/" + name)


def wait_leader(cands, timeout=20.0):
    """The first candidate to print LEADER, and when."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in cands:
            if c.leader():
                return c, c.seen("LEADER")[0]
        time.sleep(0.02)
    raise AssertionError("no leader: " + repr([c.lines for c in cands]))


def micro_time(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_two_candidates_exactly_one_leader(cluster, lease_ns, candidates):
    a = candidates("cand-a")
    b = candidates("cand-b")
    leader, _ = wait_leader([a, b])
    follower = b if leader is a else a
    lease = get_lease(cluster, lease_ns)
    spec = lease["spec"]
    assert spec["holderIdentity"] == leader.identity
    assert spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0  # created by the first one
    # longer than the lease: the follower would take over if the leader did not renew
    time.sleep(LEASE_S + 2 * JITTER_MAX_S)
    assert not follower.seen("LEADER") and not follower.seen("FOLLOWER")
    assert len(leader.seen("LEADER")) == 1 and not leader.seen("FOLLOWER")
    later = get_lease(cluster, lease_ns)
    assert later["spec"]["holderIdentity"] == leader.identity
    assert later["spec"]["renewTime"] != spec["renewTime"]  # it renews
    assert later["spec"]["acquireTime"] == spec["acquireTime"]
    assert later["spec"]["leaseTransitions"] == 0
    # the follower goes without touching the Lease; the leader releases it
    assert follower.stop() == 0
    assert get_lease(cluster, lease_ns)["spec"]["holderIdentity"] == leader.identity
    assert leader.stop() == 0
    assert leader.seen("STOPPED")
    spec = get_lease(cluster, lease_ns)["spec"]
    assert spec.get("holderIdentity", "") == ""
    assert spec["leaseDurationSeconds"] == 1


def test_sigkill_leader_fails_over_after_lease(cluster, lease_ns, candidates):
    a = candidates("kill-a")
    b = candidates("kill-b")
    leader, _ = wait_leader([a, b])
    other = b if leader is a else a
    time.sleep(1.0)  # the follower has seen the leader renew
    before = get_lease(cluster, lease_ns)["spec"]["leaseTransitions"]
    killed_at = time.monotonic()
    leader.stop(signal.SIGKILL)
    took = other.wait_line("LEADER", timeout=15) - killed_at
    # the dead leader's last renewal is at most one retry period old when it dies,
    # and the follower must see the record unchanged for the whole lease duration
    assert took >= LEASE_S - RETRY_S - 0.2, took
    assert took < LEASE_S + 2 * JITTER_MAX_S + SLACK_S, took
    spec = get_lease(cluster, lease_ns)["spec"]
    assert spec["holderIdentity"] == other.identity
    assert spec["leaseTransitions"] == before + 1


def test_sigterm_leader_hands_over_at_once(cluster, lease_ns, candidates):
    slow = ("--lease", "10s", "--renew", "6s", "--retry", "300ms")
    a = candidates("term-a", slow)
    b = candidates("term-b", slow)
    leader, _ = wait_leader([a, b])
    other = b if leader is a else a
    time.sleep(1.0)
    stopped_at = time.monotonic()
    assert leader.stop() == 0
    assert leader.seen("STOPPED")
    took = other.wait_line("LEADER", timeout=15) - stopped_at
    # released: taken on the next read, far sooner than the 10 s lease
    assert took < 2 * JITTER_MAX_S + SLACK_S, took
    assert get_lease(cluster, lease_ns)["spec"]["holderIdentity"] == other.identity


def test_dead_holder_taken_after_it_expires(cluster, lease_ns, candidates):
    # renewTime an hour old: by the wall clock it expired long ago, but a candidate
    # only trusts its own clock and waits the record's leaseDurationSeconds (3 s)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    cluster.kube.create(LEASE_API % lease_ns, {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "kloompas", "namespace": lease_ns,
                     "labels": {"owner": "the-test"}},
        "spec": {"holderIdentity": "dead-replica", "leaseDurationSeconds": 3,
                 "acquireTime": micro_time(old), "renewTime": micro_time(old),
                 "leaseTransitions": 7}})
    started = time.monotonic()
    c = candidates("heir")
    took = c.wait_line("LEADER", timeout=15) - started
    assert took >= 3.0, took
    assert took < 3.0 + JITTER_MAX_S + SLACK_S + 1.0, took
    lease = get_lease(cluster, lease_ns)
    spec = lease["spec"]
    assert spec["holderIdentity"] == "heir"
    assert spec["leaseTransitions"] == 8
    assert spec["leaseDurationSeconds"] == 2
    assert spec["acquireTime"] != micro_time(old)
    assert lease["metadata"]["labels"] == {"owner": "the-test"}  # metadata kept
