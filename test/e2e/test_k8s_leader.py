"""Two kloompas replicas with leader election against the real control plane: only
the leader notifies; a leader killed with SIGKILL is replaced within the lease
duration plus a retry period and delivered notifications are not sent again; a
leader stopped with SIGTERM hands over at once.
"""
import signal
import time

from conftest import get, sim_crash
from receiver import Receiver
from test_k8s_watchers import config, crash_lines, fresh_ns

LE = ["--leader-elect=true", "--leader-elect-lease-duration=3s",
      "--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=500ms"]


def leader_gauge(k):
    status, _, body = get(k.port, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith("kloompas_leader "):
            return int(float(line.split()[1]))
    return -1


def replica(kloompas, cluster, cfg, own):
    # the fixture adds --leader-elect=false first; the later flag wins
    return kloompas("--kubeconfig", cluster.kubeconfig, "--config", cfg,
                    "--leader-elect-resource-namespace", own,
                    "--controllers=crash-watcher", *LE)


def wait_leader(replicas, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leaders = [k for k in replicas if k.proc.poll() is None and leader_gauge(k) == 1]
        if leaders:
            return leaders
        time.sleep(0.1)
    raise AssertionError("no leader")


def test_one_leader_notifies_and_failover(cluster, kubelet, kloompas, tmp_path):
    rec = Receiver()
    try:
        ns = fresh_ns(cluster)
        own = fresh_ns(cluster)
        cluster.kube.create_pod(ns, "boom", annotations=sim_crash())
        cfg = config(tmp_path, rec, ns, crash={"repeat_interval": "1h"})
        a = replica(kloompas, cluster, cfg, own)
        b = replica(kloompas, cluster, cfg, own)
        leaders = wait_leader([a, b])
        assert len(leaders) == 1
        leader = leaders[0]
        follower = b if leader is a else a
        assert leader_gauge(follower) == 0
        rec.wait(lambda r: crash_lines(r.slack_texts(), ns), what="the first notice")
        time.sleep(2.5)  # the delivery is persisted (batched 1 s)
        assert len(crash_lines(rec.slack_texts(), ns)) == 1  # only one replica notified
        assert "became leader" in leader.log() and "became leader" not in follower.log()

        # SIGKILL the leader: the follower takes over within lease + retry
        t0 = time.monotonic()
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        leader.errfile.close()
        wait_leader([follower], timeout=15)
        took = time.monotonic() - t0
        assert took < 3 + 0.5 + 2.0, took  # lease duration + retry period (+ scheduling)
        time.sleep(2)
        assert len(crash_lines(rec.slack_texts(), ns)) == 1, "re-sent after failover"
        assert "restored alert state" in follower.log()
        # the new leader acts: a new crash elsewhere is seen and alerted (to the log)
        ns2 = fresh_ns(cluster)
        cluster.kube.create_pod(ns2, "boom", annotations=sim_crash())
        deadline = time.monotonic() + 30
        while f"namespace={ns2}" not in follower.log():
            assert time.monotonic() < deadline, "the new leader did not notify"
            time.sleep(0.2)
    finally:
        rec.close()


def test_sigterm_hands_over_at_once(cluster, kloompas, tmp_path):
    rec = Receiver()
    try:
        ns = fresh_ns(cluster)
        own = fresh_ns(cluster)
        cfg = config(tmp_path, rec, ns)
        a = replica(kloompas, cluster, cfg, own)
        b = replica(kloompas, cluster, cfg, own)
        leader = wait_leader([a, b])[0]
        follower = b if leader is a else a
        t0 = time.monotonic()
        assert leader.stop(signal.SIGTERM) == 0
        wait_leader([follower], timeout=15)
        took = time.monotonic() - t0
        # released: no waiting for the 3 s lease to expire
        assert took < 2.0, took
    finally:
        rec.close()
