"""A real Prometheus (Debian's, /usr/bin/prometheus or $PROMETHEUS_BIN) for the e2e tests:
scrapes static targets on loopback every second as job "kloompas", evaluates rule files every
second, answers the HTTP API on 127.0.0.1 at a free port. Its TSDB lives in the test's tmp
directory; it is stopped by its PID (SIGTERM, then SIGKILL).

    with Prometheus(tmp_path, [kl.port], rule_files=[path]) as prom:
        prom.wait(lambda: prom.query("up") ...)
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

BIN = os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, tmp_path, ports, rule_files=(), job="kloompas", interval="1s"):
        assert os.access(BIN, os.X_OK), f"{BIN} missing: install Debian's prometheus"
        self.dir = tmp_path / f"prometheus-{time.monotonic_ns()}"
        self.dir.mkdir()
        targets = ", ".join(f'"127.0.0.1:{p}"' for p in ports)
        rules = "".join(f"  - {json.dumps(str(r))}\n" for r in rule_files)
        (self.dir / "prometheus.yml").write_text(f"""global:
  scrape_interval: {interval}
  scrape_timeout: {interval}
  evaluation_interval: {interval}
rule_files:
{rules or "  []"}
scrape_configs:
  - job_name: {job}
    static_configs:
      - targets: [{targets}]
""")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.dir / "prometheus.log", "w+")
        self.proc = subprocess.Popen(
            [BIN, f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.wait(self._ready, timeout=30, what="prometheus ready")
        except BaseException:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _ready(self):
        assert self.proc.poll() is None, "prometheus exited:\n" + self.logs()
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def logs(self):
        self.log.flush()
        return (self.dir / "prometheus.log").read_text()

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        """The instant vector of expr now: [(labels, float value)]."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    def alerts(self, name=None, state=None):
        """Pending and firing alerts from /api/v1/alerts, by name and state if given."""
        return [a for a in self.api("alerts")["alerts"]
                if (name is None or a["labels"]["alertname"] == name) and
                (state is None or a["state"] == state)]

    def wait(self, pred, timeout=60, what="a condition"):
        """pred() until true; what (or what(), said at the timeout) names it."""
        deadline = time.monotonic() + timeout
        while True:
            got = pred()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
            time.sleep(0.25)

    def wait_alert(self, name, state="firing", timeout=60):
        return self.wait(lambda: self.alerts(name, state), timeout=timeout,
                         what=lambda: f"{name} {state}; alerts now: {self.alerts()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir / "data", ignore_errors=True)
