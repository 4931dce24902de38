#!/usr/bin/env python3
"""scripts/monitoring.py - keeps deploy/monitoring/ consistent and checked.

deploy/monitoring/rules.yml (the plain Prometheus rule file) is the source of truth for the
alerts; prometheusrule.yaml (the prometheus-operator CRD) is generated from it. dashboard.json
(Grafana) is generated from the PANELS table below. Both generated files are committed, so
users need nothing but the repository.

  scripts/monitoring.py generate   rewrites prometheusrule.yaml and dashboard.json
  scripts/monitoring.py check      what CI runs (meson test "monitoring"): fails when
                                   - a generated file differs from what generate writes;
                                   - `promtool check rules` fails on rules.yml or on the
                                     spec of prometheusrule.yaml;
                                   - `promtool test rules` fails on rules_test.yml (run
                                     against a copy of rules.yml without annotations);
                                   - a dashboard query does not parse: every panel
                                     expression, its variables substituted, becomes a
                                     recording rule checked by `promtool check rules`;
                                   - a rule or panel names a kloompas_ metric that
                                     docs/metrics.md does not list;
                                   - `kubectl kustomize` of deploy/ with the monitoring
                                     component enabled does not render the PrometheusRule
                                     (same rules) and the ServiceMonitor.
A missing promtool or kubectl is a failure, not a skip.

The e2e tests import this file for dashboard_queries() and rules_with_for().
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MON = os.path.join(REPO, "deploy", "monitoring")
RULES = os.path.join(MON, "rules.yml")
RULES_TEST = os.path.join(MON, "rules_test.yml")
PROMRULE = os.path.join(MON, "prometheusrule.yaml")
DASHBOARD = os.path.join(MON, "dashboard.json")

# what the dashboard's variables become when its queries are checked: every cluster and
# namespace, and a rate window of a minute (Grafana's $__rate_interval at a 15 s scrape)
SUBSTITUTIONS = {"$__rate_interval": "1m", "$cluster": ".*", "$namespace": ".*"}

# ------------------------------------------------------------------ the PrometheusRule

PROMRULE_HEAD = """\
# deploy/monitoring/prometheusrule.yaml - GENERATED from rules.yml by scripts/monitoring.py
# generate; edit rules.yml instead. The alert rules for Kloompas itself as a prometheus-operator
# PrometheusRule. If your Prometheus selects rules by label (its ruleSelector, e.g. `release:
# prometheus` with kube-prometheus-stack), add that label here through an overlay.
"""


def load_rules():
    with open(RULES) as f:
        return yaml.safe_load(f)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the longer expressions) as literal blocks, as in rules.yml."""


def _str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(obj):
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, width=88, allow_unicode=True)


def promrule_text():
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "kloompas", "namespace": "kloompas",
                     "labels": {"app.kubernetes.io/name": "kloompas"}},
        "spec": load_rules(),
    }
    return PROMRULE_HEAD + dump(obj)


def rules_with_for(rules, fors):
    """A copy of the rule file with the `for` of each alert named in fors replaced by
    fors[alert] (the e2e tests cannot wait ten minutes; the expressions are untouched)."""
    out = copy.deepcopy(rules)
    for group in out["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in fors:
                rule["for"] = fors[rule["alert"]]
    return out


def rules_without_annotations(rules):
    out = copy.deepcopy(rules)
    for group in out["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return out

# ------------------------------------------------------------------ the dashboard

SEL = 'cluster=~"$cluster", namespace=~"$namespace"'
JOB = 'job="kloompas", ' + SEL


def sel(metric, job=False):
    return f"{metric}{{{JOB if job else SEL}}}"


def agg(op, labels, expr):
    return f"{op} by ({labels}) ({expr})"


def over(fn, metric, job=False):
    """fn (rate, increase) of metric over the dashboard's rate interval."""
    return f"{fn}({sel(metric, job)}[$__rate_interval])"


def count_or_zero(metric):
    """Increase per informer; the relist and watch-restart counters have no series before
    their first count, so 0 for every informer instead of "No data"."""
    return (agg("sum", "resource", over("increase", metric)) + " or " +
            agg("sum", "resource", "0 * " + sel("kloompas_informer_objects")))


def latency(q):
    buckets = over("rate", "kloompas_apiserver_request_duration_seconds_bucket")
    return (f"histogram_quantile({q}, {agg('sum', 'verb, le', buckets)})",
            f"p{int(q * 100)} {{{{verb}}}}")


# (row title, [(panel title, unit, [(expr, legend)], width)])
PANELS = [
    ("Kloompas", [
        ("Leader by replica", "none",
         [(agg("max", "instance", sel("kloompas_leader")), "{{instance}}")], 8),
        ("Replicas up", "none",
         [(f"sum({sel('up', job=True)})", "up"),
          (f"sum({sel('kloompas_leader')})", "leading")], 8),
        ("Version", "none",
         [(agg("count", "version", sel("kloompas_build_info")), "{{version}}")], 8),
    ]),
    ("Alerts and notifications", [
        ("Alerts by controller and state", "none",
         [(agg("sum", "controller, state", sel("kloompas_alerts")),
           "{{controller}} {{state}}")], 12),
        ("Notifications by notifier and result", "ops",
         [(agg("sum", "notifier, result", over("rate", "kloompas_notifications_total")),
           "{{notifier}} {{result}}")], 12),
        ("Notification queue length", "none",
         [(agg("max", "notifier", sel("kloompas_notification_queue_length")),
           "{{notifier}}")], 12),
        ("Controllers enabled", "none",
         [(agg("max", "controller", sel("kloompas_controller_enabled")), "{{controller}}")],
         12),
    ]),
    ("Chat-ops and replicas", [
        ("Chat-ops commands by result", "none",
         [(agg("sum", "command, result", over("increase", "kloompas_chatops_commands_total")),
           "{{command}} {{result}}")], 12),
        ("Replica changes by reason", "none",
         [(agg("sum", "reason", over("increase", "kloompas_replica_changes_total")),
           "{{reason}}")], 12),
    ]),
    ("Informers", [
        ("Informer objects", "none",
         [(agg("max", "resource", sel("kloompas_informer_objects")), "{{resource}}")], 6),
        ("Informer synced", "none",
         [(agg("min", "resource", sel("kloompas_informer_synced")), "{{resource}}")], 6),
        ("Informer events", "ops",
         [(agg("sum", "resource, type", over("rate", "kloompas_informer_events_total")),
           "{{resource}} {{type}}")], 6),
        ("Relists and watch restarts", "none",
         [(count_or_zero("kloompas_informer_relists_total"), "relists {{resource}}"),
          (count_or_zero("kloompas_informer_watch_restarts_total"),
           "watch restarts {{resource}}")], 6),
    ]),
    ("API server", [
        ("API requests by verb and code", "reqps",
         [(agg("sum", "verb, code", over("rate", "kloompas_apiserver_requests_total")),
           "{{verb}} {{code}}")], 12),
        ("API request latency (watches excluded)", "s", [latency(0.99), latency(0.5)], 12),
    ]),
    ("Process", [
        ("Resident memory", "bytes",
         [(sel("process_resident_memory_bytes", job=True), "{{instance}}")], 8),
        ("CPU", "percentunit",
         [(over("rate", "process_cpu_seconds_total", job=True), "{{instance}}")], 8),
        ("Open file descriptors", "none",
         [(sel("process_open_fds", job=True), "{{instance}}"),
          (sel("process_max_fds", job=True), "limit {{instance}}")], 8),
    ]),
]

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def variable(name, label, query):
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": query, "definition": query,
        "refresh": 2, "sort": 1, "multi": True, "includeAll": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [], "hide": 0,
    }


def dashboard():
    panels = []
    y = 0
    pid = 1
    for row_title, row in PANELS:
        panels.append({"type": "row", "title": row_title, "id": pid, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid += 1
        y += 1
        x = 0
        for title, unit, targets, width in row:
            if x + width > 24:
                x = 0
                y += 8
            panels.append({
                "type": "timeseries", "title": title, "id": pid, "datasource": DATASOURCE,
                "gridPos": {"h": 8, "w": width, "x": x, "y": y},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"},
                            "tooltip": {"mode": "multi"}},
                "targets": [{"datasource": DATASOURCE, "expr": expr, "legendFormat": legend,
                             "refId": chr(ord("A") + i)}
                            for i, (expr, legend) in enumerate(targets)],
            })
            pid += 1
            x += width
        y += 8
    return {
        "title": "Kloompas", "uid": "kloompas", "tags": ["kloompas"], "editable": True,
        "schemaVersion": 39, "version": 1, "refresh": "30s", "timezone": "",
        "time": {"from": "now-3h", "to": "now"},
        "description": "Kloompas itself: leader, alerts, notifications, chat-ops, informers, "
                       "API server requests, process (generated by scripts/monitoring.py)",
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0, "options": [], "refresh": 1},
            variable("cluster", "Cluster", "label_values(kloompas_build_info, cluster)"),
            variable("namespace", "Namespace",
                     'label_values(kloompas_build_info{cluster=~"$cluster"}, namespace)'),
        ]},
        "panels": panels,
    }


def dashboard_text():
    return json.dumps(dashboard(), indent=2) + "\n"


def dashboard_queries(path=DASHBOARD):
    """[(panel title, refId, expr with the variables substituted)] of the committed
    dashboard, every target of every panel."""
    with open(path) as f:
        dash = json.load(f)
    out = []
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            expr = t["expr"]
            for var, value in SUBSTITUTIONS.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, f"unsubstituted variable in {panel['title']}: {expr}"
            out.append((panel["title"], t["refId"], expr))
    return out

# ------------------------------------------------------------------ checks


def run(*cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return p.stdout


def need(tool):
    if not shutil.which(tool):
        raise SystemExit(f"FAILED: {tool} is not installed (scripts/deps.sh installs it)")


def check_generated():
    for path, want in ((PROMRULE, promrule_text()), (DASHBOARD, dashboard_text())):
        with open(path) as f:
            if f.read() != want:
                raise SystemExit(f"FAILED: {os.path.relpath(path, REPO)} is not what "
                                 "scripts/monitoring.py generate writes: run it and commit")
    print("ok: prometheusrule.yaml and dashboard.json match their sources")


def check_metric_names(tmp):
    with open(os.path.join(REPO, "docs", "metrics.md")) as f:
        documented = set(re.findall(r"`(kloompas_\w+)`", f.read()))
    exprs = [r["expr"] for g in load_rules()["groups"] for r in g["rules"]]
    exprs += [e for _, _, e in dashboard_queries()]
    used = {re.sub(r"_bucket$", "", m) for e in exprs for m in re.findall(r"kloompas_\w+", e)}
    missing = sorted(used - documented)
    if missing:
        raise SystemExit(f"FAILED: not in docs/metrics.md: {', '.join(missing)}")
    print(f"ok: {len(used)} kloompas_ metrics used, all documented")


def check_rules(tmp):
    print(run("promtool", "check", "rules", RULES), end="")
    with open(PROMRULE) as f:
        spec = yaml.safe_load(f)["spec"]
    path = os.path.join(tmp, "prometheusrule-spec.yml")
    with open(path, "w") as f:
        f.write(dump(spec))
    print(run("promtool", "check", "rules", path), end="")
    # the unit tests, against the rules without their annotations (see rules_test.yml)
    with open(os.path.join(tmp, "rules.yml"), "w") as f:
        f.write(dump(rules_without_annotations(load_rules())))
    shutil.copy(RULES_TEST, tmp)
    print(run("promtool", "test", "rules", "rules_test.yml", cwd=tmp), end="")


def check_dashboard(tmp):
    queries = dashboard_queries()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"kloompas:dashboard_panel_{i}", "expr": expr}
        for i, (_, _, expr) in enumerate(queries)]}]}
    path = os.path.join(tmp, "dashboard-queries.yml")
    with open(path, "w") as f:
        f.write(dump(rules))
    print(run("promtool", "check", "rules", path), end="")
    with open(DASHBOARD) as f:
        names = [v["name"] for v in json.load(f)["templating"]["list"]]
    if names != ["datasource", "cluster", "namespace"]:
        raise SystemExit(f"FAILED: dashboard variables are {names}")
    print(f"ok: {len(queries)} dashboard queries parse")


def components_supported():
    """Whether kubectl's kustomize renders Components (kubectl 1.21 and later)."""
    v = json.loads(run("kubectl", "version", "--client", "-o", "json"))["clientVersion"]
    major, minor = int(v["major"]), int(re.sub(r"\D.*", "", v["minor"]) or 0)
    return (major, minor) >= (1, 21)


def check_kustomize(tmp):
    """deploy/ copied, its `# components: [monitoring]` line enabled, rendered."""
    deploy = os.path.join(tmp, "deploy")
    shutil.copytree(os.path.join(REPO, "deploy"), deploy)
    kust = os.path.join(deploy, "kustomization.yaml")
    with open(kust) as f:
        text = f.read()
    enabled = text.replace("# components: [monitoring]", "components: [monitoring]")
    if enabled == text:
        raise SystemExit("FAILED: deploy/kustomization.yaml has no `# components: [monitoring]`")
    with open(kust, "w") as f:
        f.write(enabled)
    if components_supported():
        docs = [d for d in yaml.safe_load_all(run("kubectl", "kustomize", deploy)) if d]
    else:
        # Debian 12's own kubectl (kubernetes-client 1.20) embeds kustomize v2, which has
        # no Components (kubectl 1.21+): render the base and add the component's
        # resources as kustomize would, so the checks below still run on every object
        print("note: this kubectl's kustomize has no Components (needs kubectl 1.21+); "
              "adding deploy/monitoring's resources to the rendered base instead")
        docs = [d for d in yaml.safe_load_all(run("kubectl", "kustomize",
                                                    os.path.join(REPO, "deploy"))) if d]
        mon = os.path.join(REPO, "deploy", "monitoring")
        with open(os.path.join(mon, "kustomization.yaml")) as f:
            comp = yaml.safe_load(f)
        if comp.get("kind") != "Component":
            raise SystemExit("FAILED: deploy/monitoring/kustomization.yaml is not a Component")
        for res in comp["resources"]:
            with open(os.path.join(mon, res)) as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
    kinds = {d["kind"]: d for d in docs}
    for kind in ("PrometheusRule", "ServiceMonitor", "Deployment", "Service"):
        if kind not in kinds:
            raise SystemExit(f"FAILED: no {kind} in the rendered deploy/ with monitoring")
    if kinds["PrometheusRule"]["spec"] != load_rules():
        raise SystemExit("FAILED: the rendered PrometheusRule's rules differ from rules.yml")
    sm = kinds["ServiceMonitor"]
    svc = [d for d in docs if d["kind"] == "Service" and
           any(p["name"] == sm["spec"]["endpoints"][0]["port"] for p in d["spec"]["ports"])]
    labels = svc[0]["metadata"]["labels"] if svc else {}
    if not svc or any(labels.get(k) != v for k, v in sm["spec"]["selector"]["matchLabels"].items()):
        raise SystemExit("FAILED: the ServiceMonitor selects no Service with its port")
    if labels.get(sm["spec"]["jobLabel"]) != "kloompas":
        raise SystemExit("FAILED: the ServiceMonitor's job would not be \"kloompas\"")
    plain = [d for d in yaml.safe_load_all(run("kubectl", "kustomize",
                                                os.path.join(REPO, "deploy"))) if d]
    if any(d["kind"] in ("PrometheusRule", "ServiceMonitor") for d in plain):
        raise SystemExit("FAILED: deploy/ without the component renders monitoring objects")
    print(f"ok: kustomize renders {len(docs)} objects with monitoring, {len(plain)} without")


def main(argv):
    if argv[1:] == ["generate"]:
        with open(PROMRULE, "w") as f:
            f.write(promrule_text())
        with open(DASHBOARD, "w") as f:
            f.write(dashboard_text())
        return 0
    if argv[1:] != ["check"]:
        print(__doc__, file=sys.stderr)
        return 2
    need("promtool")
    need("kubectl")
    check_generated()
    with tempfile.TemporaryDirectory() as tmp:
        check_metric_names(tmp)
        check_rules(tmp)
        check_dashboard(tmp)
        check_kustomize(tmp)
    print("monitoring: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
