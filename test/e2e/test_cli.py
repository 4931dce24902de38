"""The command line as a user meets it: --help, --version, usage errors, config errors.

Usage and config errors exit 2 with one line that names the flag, or FILE:LINE;
nothing secret from the config ever reaches the output.
"""
import os
import re

from conftest import run_cli


def test_version():
    rc, out, err = run_cli("--version")
    assert rc == 0
    assert re.fullmatch(r"kloompas \d+\.\d+\.\d+\n", out)


def test_help_grouped_with_defaults_and_controllers():
    rc, out, err = run_cli("--controllers=*,-replica-enforcer", "--help")
    assert rc == 0, err
    for group in ("Generic flags:", "Kubernetes client flags:", "Serving flags:",
                  "Leader election flags:", "Logging flags:"):
        assert group in out
    for flag in ("--kubeconfig", "--context", "--master", "--config", "--controllers",
                 "--bind-address", "--chatops-bind-address", "--leader-elect\n",
                 "--leader-elect-lease-duration", "--leader-elect-renew-deadline",
                 "--leader-elect-retry-period", "--leader-elect-resource-namespace",
                 "--leader-elect-resource-name", "--dry-run", "--log-format", "--v N"):
        assert flag in out, flag
    assert "(default 0.0.0.0:9090)" in out
    assert "(default 15s)" in out and "(default 10s)" in out and "(default 2s)" in out
    assert ("Known controllers: crash-watcher, notready-watcher, replica-enforcer."
            in " ".join(out.split()))
    assert max(len(l) for l in out.splitlines()) <= 100


def test_no_kubeconfig_is_usage_error(tmp_path):
    env_home = {"HOME": str(tmp_path), "KUBECONFIG": ""}
    import subprocess, os
    from conftest import BIN
    p = subprocess.run([BIN, "--leader-elect=false"], capture_output=True, text=True,
                       env=dict(os.environ, **env_home, KUBERNETES_SERVICE_HOST=""))
    assert p.returncode == 2
    assert "no kubeconfig" in p.stderr


def test_broken_kubeconfig_is_usage_error(tmp_path):
    kc = tmp_path / "kc"
    kc.write_text("apiVersion: v1\ncurrent-context: x\ncontexts: []\n")
    rc, out, err = run_cli("--kubeconfig", str(kc))
    assert rc == 2
    assert str(kc) in err and "context" in err


def test_unknown_controller_is_usage_error():
    rc, out, err = run_cli("--controllers=*,-replica-enforcr")
    assert rc == 2
    assert 'unknown controller "replica-enforcr"' in err
    assert err.count("\n") == 1


def test_usage_errors_name_the_flag():
    cases = [
        (["--bogus"], 'unknown flag "--bogus"'),
        (["--bind-address"], "--bind-address: needs a value"),
        (["--bind-address=localhost"], "--bind-address: expected HOST:PORT"),
        (["--leader-elect-retry-period=2"], "--leader-elect-retry-period: bad duration"),
        (["--log-format=yaml"], "--log-format: expected text or json"),
        (["extra"], 'unexpected argument "extra"'),
    ]
    for args, want in cases:
        rc, out, err = run_cli(*args)
        assert rc == 2, (args, err)
        assert want in err, (args, err)


def write(path, text):
    path.write_text(text)
    return str(path)


SPEC_CONFIG = """\
cluster: PRODUCTION
team_annotation: kloompas.io/team
notifiers:
  - name: slack-prod
    type: slack
    url_file: slack-url
  - name: am
    type: alertmanager
    url: http://alertmanager:9093
routes:
  - namespaces: ["moc-*"]
    notifiers: [slack-prod, am]
controllers:
  crash-watcher:    { reasons: [CrashLoopBackOff], for: 30s, repeat_interval: 1h, log_lines: 20 }
  notready-watcher: { threshold_percent: 30, min_pods: 3, min_age: 2m, for: 2m, repeat_interval: 1h }
  replica-enforcer: { max_temporary: 24h }
chatops:
  slack_signing_secret_file: signing-secret
  api_tokens_file: api-tokens
  allow:
    - users: [alex.guerra]
      namespaces: ["moc-*"]
      max_replicas: 20
"""

SECRET_URL = "https://hooks.slack.example/services/T000/B000/SUPERSECRETVALUE"


def spec_config(tmp_path, text=SPEC_CONFIG):
    write(tmp_path / "slack-url", SECRET_URL + "\n")
    write(tmp_path / "signing-secret", "8f742231b10e8888abcd99yyyzzz85a5\n")
    write(tmp_path / "api-tokens", "tok-AAAASECRET alex.guerra\n")
    return write(tmp_path / "kloompas.yaml", text)


def test_config_errors_name_file_and_line(tmp_path):
    cases = [
        ("cluster: X\nclustr: Y\n", ":2: clustr: unknown key"),
        ("controllers:\n  crash-watcher:\n    for: 30x\n",
         ':3: controllers.crash-watcher.for: bad duration "30x"'),
        ("controllers:\n  notready-watcher:\n    min_pods: three\n",
         ":3: controllers.notready-watcher.min_pods: expected a non-negative integer"),
        ("controllers:\n  crash-watcher:\n    reasons: CrashLoopBackOff\n",
         ":3: controllers.crash-watcher.reasons: expected a list"),
        ("controllers:\n  nope: {}\n", ":2: controllers.nope: unknown controller"),
        ("notifiers:\n  - name: s\n    type: slack\n    url_file: missing-file\n",
         ":4: notifiers[0].url_file: cannot read"),
        ("notifiers:\n  - name: s\n    type: carrier-pigeon\n", ":3: notifiers[0].type"),
        ("routes:\n  - namespaces: ['a-*']\n    notifiers: [ghost]\n", "ghost"),
        ("cluster: [unclosed\n", "kloompas.yaml:"),
    ]
    for text, want in cases:
        path = write(tmp_path / "kloompas.yaml", text)
        rc, out, err = run_cli("--config", path)
        assert rc == 2, (text, err)
        assert want in err, (text, err)
        assert err.startswith("kloompas: " + path + ":"), err
        assert err.count("\n") == 1, err


def test_missing_config_file(tmp_path):
    rc, out, err = run_cli("--config=" + str(tmp_path / "nope.yaml"))
    assert rc == 2
    assert str(tmp_path / "nope.yaml") in err
    assert "No such file" in err


def test_spec_example_config_is_accepted(tmp_path, kloompas):
    k = kloompas("--config", spec_config(tmp_path), "--controllers=*,-replica-enforcer")
    assert k.stop() == 0
    log = k.log()
    assert "cluster=PRODUCTION" in log
    assert "controllers=crash-watcher,notready-watcher" in log
    assert SECRET_URL not in log and "SUPERSECRET" not in log
    assert "tok-AAAASECRET" not in log and "8f742231b10e" not in log


def test_secret_never_in_an_error(tmp_path):
    text = SPEC_CONFIG.replace("type: slack\n    url_file: slack-url",
                               "type: slack\n    url_file: slack-url\n    url: http://x")
    rc, out, err = run_cli("--config", spec_config(tmp_path, text))
    assert rc == 2
    assert "both set" in err
    assert "SUPERSECRET" not in err and "SUPERSECRET" not in out


def test_bad_chatops_advertise_address_is_usage_error():
    for bad in ("kloompas:8080", "0.0.0.0:8080", "10.0.0.1:0", "10.0.0.1"):
        rc, out, err = run_cli(f"--chatops-advertise-address={bad}", "--leader-elect=false")
        assert rc == 2, (bad, err)
        assert "--chatops-advertise-address: expected IP:PORT" in err and bad in err, err
