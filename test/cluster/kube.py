"""test/cluster/kube.py - a small Kubernetes API client for tests, Python stdlib only.

Why this file: the e2e tests, the kubelet simulator (kubelet_sim.py) and the manual
scripts need to create namespaces, pods and deployments, read them back, patch them
and wait for states against the local control plane of up.sh. The machine has
Debian's python3 without pip packages, so this is written on http.client, ssl and
json alone. It is a test tool: small and explicit, not a general client.

Design:
- Kube(source) takes a cluster DIR (as given to up.sh), its DIR/env, or a kubeconfig.
  From DIR/env it uses APISERVER_URL, CA_FILE and the admin client certificate. From a
  kubeconfig (JSON, or the simple YAML that up.sh and kubectl write; a tiny YAML subset
  parser is below) it uses the chosen context's server, CA, client certificate and key
  (file paths or *-data blobs; blobs are written to a private temp dir because ssl
  only loads files) or bearer token. token= overrides the user (e.g. USER_TOKEN).
- One keep-alive HTTPSConnection per thread (threading.local), so a Kube object may
  be shared by threads; bulk_create_pods() runs N threads that each keep their own.
- The User-Agent is not curl: the apiserver pretty-prints JSON for curl.
- request() returns (status, decoded body) and never raises on HTTP errors; the
  helpers (get, list, create, update, patch, delete) raise ApiError on >= 400.
- Paths: every helper takes either an API path ("/api/v1/namespaces/x/pods/p") or a
  resource plural with ns=/name=/sub= (kube.get("pods", ns="x", name="p")); the
  table RESOURCES knows where the common kinds live.

Usage:
    from kube import Kube
    k = Kube("/tmp/kl")                       # DIR, DIR/env or a kubeconfig
    k.create_namespace("t1")                  # waits for its default ServiceAccount
    k.create_pod("t1", "p", annotations={"kloompas.io/sim": "crashloop:137"})
    k.wait_for(lambda: k.get("pods", ns="t1", name="p")["status"].get("phase") == "Running")
    names = k.bulk_create_pods("t1", 500, concurrency=32)
"""

import base64
import http.client
import json
import os
import shlex
import ssl
import tempfile
import threading
import time
import urllib.parse

USER_AGENT = "kloompas-test-kube.py/1.0"

# Where the common resources live: plural -> (API prefix, namespaced).
RESOURCES = {
    "pods": ("/api/v1", True),
    "services": ("/api/v1", True),
    "endpoints": ("/api/v1", True),
    "configmaps": ("/api/v1", True),
    "secrets": ("/api/v1", True),
    "serviceaccounts": ("/api/v1", True),
    "events": ("/api/v1", True),
    "persistentvolumeclaims": ("/api/v1", True),
    "resourcequotas": ("/api/v1", True),
    "limitranges": ("/api/v1", True),
    "replicationcontrollers": ("/api/v1", True),
    "namespaces": ("/api/v1", False),
    "nodes": ("/api/v1", False),
    "persistentvolumes": ("/api/v1", False),
    "deployments": ("/apis/apps/v1", True),
    "replicasets": ("/apis/apps/v1", True),
    "statefulsets": ("/apis/apps/v1", True),
    "daemonsets": ("/apis/apps/v1", True),
    "controllerrevisions": ("/apis/apps/v1", True),
    "jobs": ("/apis/batch/v1", True),
    "cronjobs": ("/apis/batch/v1beta1", True),  # batch/v1 only from 1.21
    "leases": ("/apis/coordination.k8s.io/v1", True),
    "roles": ("/apis/rbac.authorization.k8s.io/v1", True),
    "rolebindings": ("/apis/rbac.authorization.k8s.io/v1", True),
    "clusterroles": ("/apis/rbac.authorization.k8s.io/v1", False),
    "clusterrolebindings": ("/apis/rbac.authorization.k8s.io/v1", False),
    "poddisruptionbudgets": ("/apis/policy/v1beta1", True),
    "customresourcedefinitions": ("/apis/apiextensions.k8s.io/v1", False),
}

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}

DEFAULT_IMAGE = "nginx:1.19"


class ApiError(Exception):
    """An HTTP status >= 400 from the apiserver; .status, .body (decoded), .reason."""

    def __init__(self, method, path, status, body):
        self.method, self.path, self.status, self.body = method, path, status, body
        self.reason = body.get("reason", "") if isinstance(body, dict) else ""
        msg = body.get("message", "") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{method} {path}: {status} {self.reason}: {msg}")


class ListResult(list):
    """The items of a LIST; .resource_version is the list's resourceVersion."""

    resource_version = ""


# --- configuration ------------------------------------------------------------------


def read_env(path):
    """DIR/env of up.sh (KEY=value lines, values quoted by bash's printf %q) -> dict."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line or line.startswith("export "):
                continue
            key, _, val = line.partition("=")
            parts = shlex.split(val) if val else [""]
            env[key] = parts[0] if parts else ""
    return env


def _yaml_scalar(s):
    s = s.strip()
    if s.startswith('"'):
        return json.loads(s)
    if s.startswith("'"):
        return s[1:-1].replace("''", "'")
    if " #" in s:
        s = s.split(" #", 1)[0].rstrip()
    if s in ("", "~", "null", "Null", "NULL"):
        return None
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    if s == "{}":
        return {}
    if s == "[]":
        return []
    try:
        return int(s)
    except ValueError:
        return s


def parse_simple_yaml(text):
    """The YAML subset kubeconfigs are written in: block mappings, block sequences,
    plain or quoted scalars, empty {} and []. Enough for up.sh's and kubectl's files;
    anything fancier (anchors, block scalars, flow collections) is not supported."""
    lines = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        lines.append([len(raw) - len(raw.lstrip(" ")), stripped])
    pos = 0

    def block(indent):
        nonlocal pos
        if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
            seq = []
            while pos < len(lines) and lines[pos][0] == indent and (
                lines[pos][1].startswith("- ") or lines[pos][1] == "-"
            ):
                rest = lines[pos][1][2:].strip()
                if not rest:
                    pos += 1
                    seq.append(block(lines[pos][0]) if pos < len(lines) and lines[pos][0] > indent else None)
                elif ":" in rest and not rest.startswith(("'", '"')) and (rest.endswith(":") or ": " in rest):
                    # "- key: value": a mapping whose first key sits at indent + 2.
                    lines[pos] = [indent + 2, rest]
                    seq.append(block(indent + 2))
                else:
                    seq.append(_yaml_scalar(rest))
                    pos += 1
            return seq
        mapping = {}
        while pos < len(lines) and lines[pos][0] == indent and not lines[pos][1].startswith("- "):
            content = lines[pos][1]
            if content.startswith(('"', "'")):
                q = content[0]
                end = content.index(q, 1)
                key, rest = _yaml_scalar(content[: end + 1]), content[end + 1 :].lstrip()[1:]
            else:
                key, _, rest = content.partition(":")
            rest = rest.strip()
            pos += 1
            if rest:
                mapping[key] = _yaml_scalar(rest)
            elif pos < len(lines) and (
                lines[pos][0] > indent or (lines[pos][0] == indent and lines[pos][1].startswith("- "))
            ):
                mapping[key] = block(lines[pos][0])
            else:
                mapping[key] = None
        return mapping

    if not lines:
        return {}
    return block(lines[0][0])


def _named(entries, name, what):
    for e in entries or []:
        if e.get("name") == name:
            return e.get(what) or {}
    raise ValueError(f"kubeconfig: no {what} named {name!r}")


# --- the client ---------------------------------------------------------------------


class Kube:
    """A Kubernetes API client for tests (see the top of this file)."""

    def __init__(self, source=None, context=None, token=None, timeout=60.0, user_agent=USER_AGENT):
        source = source or os.environ.get("KLOOMPAS_CLUSTER_DIR") or os.environ.get("KUBECONFIG")
        if not source:
            raise ValueError("Kube: give a cluster DIR, DIR/env or a kubeconfig")
        if os.path.isdir(source):
            source = os.path.join(source, "env")
        self.env = {}
        self.timeout = timeout
        self.user_agent = user_agent
        self._tmpdir = None
        cert = key = None
        self.token = None
        with open(source) as f:
            head = f.read(4096)
        if "APISERVER_URL=" in head:
            self.env = read_env(source)
            server = self.env["APISERVER_URL"]
            ca = self.env["CA_FILE"]
            cert, key = self.env["ADMIN_CERT"], self.env["ADMIN_KEY"]
        else:
            server, ca, cert, key, self.token = self._from_kubeconfig(source, context)
        if token:
            cert = key = None
            self.token = token
        u = urllib.parse.urlsplit(server)
        if u.scheme != "https":
            raise ValueError(f"Kube: only https servers are supported, not {server}")
        self.server = server.rstrip("/")
        self.host = u.hostname
        self.port = u.port or 443
        self.base_path = u.path.rstrip("/")
        self.ssl_context = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
        if cert:
            self.ssl_context.load_cert_chain(cert, key)
        self._local = threading.local()

    def _blob_file(self, name, b64):
        if self._tmpdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="kube-py-")
        path = os.path.join(self._tmpdir.name, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(b64))
        return path

    def _from_kubeconfig(self, path, context):
        with open(path) as f:
            text = f.read()
        try:
            cfg = json.loads(text)
        except ValueError:
            cfg = parse_simple_yaml(text)
        base = os.path.dirname(os.path.abspath(path))

        def rel(p):
            return p if not p or os.path.isabs(p) else os.path.join(base, p)

        ctx = _named(cfg.get("contexts"), context or cfg.get("current-context"), "context")
        cluster = _named(cfg.get("clusters"), ctx.get("cluster"), "cluster")
        user = _named(cfg.get("users"), ctx.get("user"), "user") if ctx.get("user") else {}
        ca = rel(cluster.get("certificate-authority"))
        if cluster.get("certificate-authority-data"):
            ca = self._blob_file("ca.crt", cluster["certificate-authority-data"])
        cert, key = rel(user.get("client-certificate")), rel(user.get("client-key"))
        if user.get("client-certificate-data"):
            cert = self._blob_file("client.crt", user["client-certificate-data"])
        if user.get("client-key-data"):
            key = self._blob_file("client.key", user["client-key-data"])
        token = user.get("token")
        if not token and user.get("tokenFile"):
            with open(rel(user["tokenFile"])) as f:
                token = f.read().strip()
        return cluster["server"], ca, cert, key, token

    # --- HTTP ---

    def new_connection(self, timeout=None):
        """A fresh HTTPSConnection to the apiserver (the caller owns and closes it)."""
        return http.client.HTTPSConnection(
            self.host, self.port, context=self.ssl_context, timeout=timeout or self.timeout
        )

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = self.new_connection()
            self._local.used = False
        return c

    def _drop_conn(self):
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
        self._local.conn = None

    def close(self):
        """Close this thread's connection (others close when their thread's local goes)."""
        self._drop_conn()

    def headers(self, content_type=None, accept="application/json"):
        h = {"User-Agent": self.user_agent, "Accept": accept}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if content_type:
            h["Content-Type"] = content_type
        return h

    def url_path(self, path, query=None):
        path = self.base_path + path
        if query:
            q = {k: ("true" if v is True else "false" if v is False else v) for k, v in query.items() if v is not None}
            if q:
                path += ("&" if "?" in path else "?") + urllib.parse.urlencode(q)
        return path

    def request(self, method, path, body=None, content_type=None, query=None, conn=None, accept="application/json"):
        """One API call -> (status, body): JSON decoded when the reply is JSON, else text.
        Never raises on HTTP statuses. Uses this thread's keep-alive connection (or
        conn), reconnecting once when a reused connection turns out closed."""
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            content_type = content_type or "application/json"
        hdrs = self.headers(content_type, accept)
        full = self.url_path(path, query)
        own = conn is None
        for attempt in (0, 1):
            c = self._conn() if own else conn
            reused = getattr(self._local, "used", False) if own else False
            try:
                c.request(method, full, body=data, headers=hdrs)
                resp = c.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.BadStatusLine, ssl.SSLEOFError):
                if own:
                    self._drop_conn()
                else:
                    conn.close()
                if attempt == 0 and own and reused:
                    continue
                raise
            except (OSError, http.client.HTTPException):
                if own:
                    self._drop_conn()
                else:
                    conn.close()
                raise
            if own:
                self._local.used = True
            break
        ctype = resp.getheader("Content-Type", "")
        text = raw.decode("utf-8", "replace")
        if "json" in ctype and raw:
            try:
                return resp.status, json.loads(text)
            except ValueError:
                pass
        return resp.status, text

    def _check(self, method, path, status, body):
        if status >= 400:
            raise ApiError(method, path, status, body)
        return body

    @staticmethod
    def path(resource, ns=None, name=None, sub=None):
        """API path of a resource plural (see RESOURCES), namespace, name and subresource."""
        if resource.startswith("/"):
            p = resource
        else:
            prefix, namespaced = RESOURCES[resource]
            p = prefix
            if namespaced and ns:
                p += "/namespaces/" + ns
            p += "/" + resource
        if name:
            p += "/" + name
        if sub:
            p += "/" + sub
        return p

    def get(self, what, name=None, ns=None, sub=None, query=None, missing_ok=False):
        """GET an object; a 404 raises ApiError, or returns None with missing_ok."""
        p = self.path(what, ns, name, sub)
        status, body = self.request("GET", p, query=query)
        if status == 404 and missing_ok:
            return None
        return self._check("GET", p, status, body)

    def list(self, what, ns=None, label_selector=None, field_selector=None, limit=500, query=None):
        """All items of a LIST, following continue tokens -> ListResult (a list with
        .resource_version)."""
        p = self.path(what, ns)
        items, cont = ListResult(), None
        while True:
            q = dict(query or {}, labelSelector=label_selector, fieldSelector=field_selector, limit=limit)
            if cont:
                q["continue"] = cont
            status, body = self.request("GET", p, query=q)
            self._check("GET", p, status, body)
            items.extend(body.get("items") or [])
            meta = body.get("metadata") or {}
            items.resource_version = meta.get("resourceVersion", "")
            cont = meta.get("continue")
            if not cont:
                return items

    def create(self, what, body, ns=None, sub=None, name=None, query=None):
        """POST body; ns defaults to body.metadata.namespace."""
        ns = ns or (body.get("metadata") or {}).get("namespace")
        p = self.path(what, ns, name, sub)
        status, reply = self.request("POST", p, body, query=query)
        return self._check("POST", p, status, reply)

    def update(self, what, body, ns=None, name=None, sub=None):
        """PUT body (it must carry metadata.resourceVersion for a safe update)."""
        meta = body.get("metadata") or {}
        p = self.path(what, ns or meta.get("namespace"), name or meta.get("name"), sub)
        status, reply = self.request("PUT", p, body)
        return self._check("PUT", p, status, reply)

    def patch(self, what, body, name=None, ns=None, sub=None, type="merge", query=None):
        """PATCH with type merge (default), strategic, json or apply (apply needs
        query={"fieldManager": ...})."""
        p = self.path(what, ns, name, sub)
        status, reply = self.request("PATCH", p, body, content_type=PATCH_TYPES[type], query=query)
        return self._check("PATCH", p, status, reply)

    def delete(self, what, name=None, ns=None, grace_period_seconds=None, propagation_policy=None,
               uid=None, missing_ok=True):
        """DELETE; returns the reply (the object or a Status), None when already gone
        (unless missing_ok=False)."""
        p = self.path(what, ns, name)
        opts = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy:
            opts["propagationPolicy"] = propagation_policy
        if uid:
            opts["preconditions"] = {"uid": uid}
        status, reply = self.request("DELETE", p, opts)
        if status == 404 and missing_ok:
            return None
        return self._check("DELETE", p, status, reply)

    def watch(self, what, ns=None, resource_version=None, timeout_seconds=None, label_selector=None,
              field_selector=None, bookmarks=True, stop=None, on_connect=None):
        """Yield (type, object) watch events on a dedicated connection until the server
        ends the watch (timeout_seconds) or stop (a threading.Event) is set. An ERROR
        event is yielded as is (e.g. a 410 Status: relist). on_connect(conn) is called
        once the watch is open (e.g. to keep conn and shut its socket to end the watch
        from another thread)."""
        p = self.path(what, ns)
        q = {
            "watch": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "allowWatchBookmarks": "true" if bookmarks else None,
        }
        conn = self.new_connection(timeout=(timeout_seconds or 3600) + 30)
        try:
            conn.request("GET", self.url_path(p, q), headers=self.headers())
            resp = conn.getresponse()
            if resp.status != 200:
                raw = resp.read().decode("utf-8", "replace")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                raise ApiError("WATCH", p, resp.status, body)
            if on_connect:
                on_connect(conn)
            buf = b""
            while stop is None or not stop.is_set():
                chunk = resp.read1(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        ev = json.loads(line)
                        yield ev.get("type"), ev.get("object")
        finally:
            conn.close()

    # --- helpers for tests ---

    def wait_for(self, predicate, timeout=30.0, interval=0.2, message=None):
        """Call predicate() until it returns something truthy and return that. ApiError
        from predicate counts as not yet. TimeoutError after timeout seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = predicate()
                if last:
                    return last
            except ApiError as e:
                last = e
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{message or 'condition'} not met after {timeout} s (last: {last!r:.300})")
            time.sleep(interval)

    def create_namespace(self, name, annotations=None, labels=None, wait_sa=True, timeout=120.0):
        """Create a namespace; with wait_sa, wait until the controller-manager has made
        its default ServiceAccount and that account's token Secret: until then the
        ServiceAccount admission plugin refuses pods ("No API token found for service
        account", a 500). The deadline is long: a controller-manager that has just
        lost its apiserver (a restart test) backs off before it catches up."""
        ns = self.create(
            "namespaces",
            {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}}},
        )
        if wait_sa:
            self.wait_for(
                lambda: (self.get("serviceaccounts", ns=name, name="default", missing_ok=True) or {}).get("secrets"),
                timeout, message=f"default ServiceAccount in {name}",
            )
        return ns

    @staticmethod
    def containers_spec(containers):
        """Container names or dicts -> container dicts (a name gets DEFAULT_IMAGE)."""
        out = []
        for c in containers:
            c = {"name": c} if isinstance(c, str) else dict(c)
            c.setdefault("image", DEFAULT_IMAGE)
            out.append(c)
        return out

    def pod_manifest(self, ns, name, containers=None, labels=None, annotations=None,
                     init_containers=None, spec=None):
        s = {"containers": self.containers_spec(containers or ["app"]),
             "terminationGracePeriodSeconds": 30}
        if init_containers:
            s["initContainers"] = self.containers_spec(init_containers)
        s.update(spec or {})
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": labels or {},
                             "annotations": annotations or {}},
                "spec": s}

    def create_pod(self, ns, name, containers=None, labels=None, annotations=None,
                   init_containers=None, spec=None):
        """Create a pod. containers / init_containers: names or container dicts
        (default one container "app"); spec: extra pod spec fields."""
        return self.create("pods", self.pod_manifest(ns, name, containers, labels, annotations,
                                                     init_containers, spec), ns=ns)

    def create_deployment(self, ns, name, replicas=1, labels=None, annotations=None,
                          pod_annotations=None, containers=None, spec=None):
        """Create an apps/v1 Deployment. labels are the selector and the pod template's
        labels (default {"app": name}); annotations go on the Deployment,
        pod_annotations on its pod template (e.g. {"kloompas.io/sim": "crashloop"})."""
        labels = labels or {"app": name}
        d = {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": name, "namespace": ns, "labels": dict(labels),
                          "annotations": annotations or {}},
             "spec": {"replicas": replicas,
                      "selector": {"matchLabels": dict(labels)},
                      "template": {"metadata": {"labels": dict(labels),
                                                "annotations": pod_annotations or {}},
                                   "spec": {"containers": self.containers_spec(containers or ["app"]),
                                            "terminationGracePeriodSeconds": 30}}}}
        d["spec"].update(spec or {})
        return self.create("deployments", d, ns=ns)

    def scale(self, what, ns, name, replicas):
        """Set spec.replicas through the scale subresource (deployments, replicasets...)."""
        return self.patch(what, {"spec": {"replicas": replicas}}, name=name, ns=ns, sub="scale")

    def bulk_create_pods(self, ns, n, concurrency=32, prefix="bulk-", start=0, containers=None,
                         labels=None, annotations=None, spec=None):
        """Create pods PREFIX{start}..PREFIX{start+n-1} in ns with concurrency threads,
        each on its own keep-alive connection. Returns the names created; raises the
        first ApiError (after all threads end) if any create failed. self.last_bulk
        holds {"created", "seconds", "rate"}."""
        names = [f"{prefix}{i}" for i in range(start, start + n)]
        manifests = [json.dumps(self.pod_manifest(ns, nm, containers, labels, annotations, None, spec)).encode()
                     for nm in names]
        p = self.path("pods", ns)
        lock = threading.Lock()
        next_i = [0]
        created, errors = [], []

        def worker():
            conn = self.new_connection()
            try:
                while True:
                    with lock:
                        i = next_i[0]
                        next_i[0] += 1
                    if i >= n:
                        return
                    for attempt in range(3):
                        try:
                            status, body = self.request("POST", p, manifests[i], conn=conn)
                        except (OSError, http.client.HTTPException) as e:
                            conn.close()
                            if attempt == 2:
                                with lock:
                                    errors.append(e)
                                break
                            continue
                        if (status == 429 or status >= 500) and attempt < 2:
                            time.sleep(0.1 * (attempt + 1))
                            continue
                        with lock:
                            # A 409 after a retry: the lost reply's create did happen.
                            if status < 400 or (status == 409 and attempt > 0):
                                created.append(i)
                            else:
                                errors.append(ApiError("POST", p, status, body))
                        break
            finally:
                conn.close()

        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(concurrency, n)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        secs = time.monotonic() - t0
        self.last_bulk = {"created": len(created), "seconds": secs, "rate": len(created) / secs if secs else 0.0}
        if errors:
            raise errors[0]
        return [names[i] for i in sorted(created)]


def condition(obj, ctype):
    """status.conditions[type == ctype] or {}."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return {}


def pod_ready(pod):
    return condition(pod, "Ready").get("status") == "True"
