# shellcheck shell=bash disable=SC2154,SC2034  # up.sh's variables
# The real node of up.sh --real-node: kube-scheduler, containerd + runc + CNI
# bridge and kubelet 1.20.2, joined to the control plane that up.sh starts.
# Sourced by up.sh (it uses up.sh's log, die, fail, launch, running, wait_for,
# sign and the variables DIR, here, bin, pki, APISERVER_PORT).
#
# Design: nothing of the machine changes but what down.sh takes back.
# - containerd and the kubelet run in one private mount namespace (node_ns.sh)
#   where copies of the sysctls the kubelet would write are bind-mounted over
#   /proc/sys, and the fixed paths they use (/var/lib/kubelet, /var/log/pods,
#   /var/log/containers, /var/lib/cni, /run/containerd) are folders of DIR.
# - Everything else is configured into DIR/node: containerd's root, socket,
#   opt and runc state, CNI config and IPAM data, kubelet certificates.
# - One cgroup, /kloompas-<id of DIR>, in every hierarchy: containerd and the
#   kubelet live in its node/ child (so the shims do too) and the kubelet puts
#   the pods under it; down.sh stops whatever is left in it by pid.
# - A bridge of our own (10.244.N.1/24, N free here) is the node's IP; no
#   gateway, masquerade, port mapping or iptables rule: pods reach the host and
#   each other, nothing else. containerd gets a proxy on a closed loopback port:
#   a pull of a missing image stays here too. The kubelet starts with
#   AWS_EC2_METADATA_DISABLED and makeIPTablesUtilChains false; with
#   KL_NODE_STRACE=1 it runs under strace -e connect, for check_connect.sh.
# - Images come from images.sh (no registry), pulled never; image GC 100/99.
#
# Env: KL_NODE_NAME (default kl-node-1), KL_NODE_STRACE=1, KL_NODE_IMAGES
# ("a.tar b.tar": more docker-archive tars to import before the kubelet starts).

NODE_NAME=${KL_NODE_NAME:-kl-node-1}
NODE_PAUSE_IMAGE=localhost/kloompas/pause:3.4
# node_prepare: packages, names, cgroup and bridge. Runs before the apiserver
# starts, as the apiserver listens on the bridge address too.
node_prepare() {
	local p need=()
	for p in containerd runc containernetworking-plugins iproute2 iptables util-linux strace \
		busybox-static gcc libc6-dev; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			need+=("$p")
		fi
	done
	if ((${#need[@]})); then
		log "installing: ${need[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
	fi
	for p in kube-scheduler kubelet; do
		[[ -x $bin/$p ]] || die "$bin/$p missing (build.sh builds it)"
	done

	NODE_DIR=$DIR/node
	# containerd's ttrpc socket is the longest unix socket path (limit 108).
	((${#NODE_DIR} + 24 < 108)) || die "$DIR is too long a path for containerd's sockets"
	mkdir -p "$NODE_DIR"
	local id
	id=$(printf '%s' "$DIR" | sha256sum | cut -c1-8)
	NODE_CGROUP=/kloompas-$id
	NODE_BRIDGE=klbr-$id
	printf '%s\n' "$NODE_CGROUP" >"$NODE_DIR/cgroup"
	printf '%s\n' "$NODE_BRIDGE" >"$NODE_DIR/bridge"

	if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
		node_pick_subnet
		log "creating bridge $NODE_BRIDGE $NODE_IP/24"
		ip link add name "$NODE_BRIDGE" type bridge || die "ip link add $NODE_BRIDGE failed"
		ip addr add "$NODE_IP/24" dev "$NODE_BRIDGE"
		ip link set "$NODE_BRIDGE" up
	fi
	NODE_IP=$(ip -4 -o addr show dev "$NODE_BRIDGE" | awk '{ split($4, a, "/"); print a[1]; exit }')
	[[ -n $NODE_IP ]] || die "bridge $NODE_BRIDGE has no IPv4 address"
	NODE_SUBNET=${NODE_IP%.*}.0/24
	printf '%s\n' "$NODE_SUBNET" >"$NODE_DIR/subnet"
}

# Set NODE_IP to x.1 of the first 10.244.N.0/24 that no address or route here
# overlaps; a restarted DIR keeps its subnet when it is still free.
node_pick_subnet() {
	local prev=
	[[ -f $NODE_DIR/subnet ]] && prev=$(<"$NODE_DIR/subnet")
	NODE_IP=$(python3 - "$prev" <<'EOF'
import ipaddress, json, subprocess, sys
used = []
for args in (["-4", "-j", "addr"], ["-4", "-j", "route", "show", "table", "all"]):
    for e in json.loads(subprocess.run(["ip"] + args, capture_output=True, text=True).stdout or "[]"):
        for a in e.get("addr_info", []):
            used.append(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False))
        dst = e.get("dst")
        if dst and dst != "default":
            used.append(ipaddress.ip_network(dst, strict=False))
cands = [sys.argv[1]] if sys.argv[1] else []
cands += [f"10.244.{n}.0/24" for n in range(1, 255)]
for c in cands:
    net = ipaddress.ip_network(c)
    if not any(net.overlaps(u) for u in used):
        print(net.network_address + 1)
        break
EOF
)
	[[ -n $NODE_IP ]] || die "no free 10.244.N.0/24 for the node's bridge"
}

# node_certs: the apiserver's serving cert must name the bridge address; the
# kubelet gets a node identity, the apiserver a client cert for the kubelet.
node_certs() {
	if ! openssl x509 -in "$pki/apiserver.crt" -noout -ext subjectAltName 2>/dev/null |
		grep -qF "IP Address:$NODE_IP,"; then
		log "serving certificate for $NODE_IP too"
		(
			umask 077
			sign apiserver "/CN=kube-apiserver" \
				"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:$NODE_IP,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
		) || die "openssl failed"
	fi
	local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
	(
		umask 077
		[[ -f $pki/apiserver-kubelet-client.crt ]] ||
			sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
		[[ -f $pki/kubelet-$NODE_NAME.crt ]] ||
			sign "kubelet-$NODE_NAME" "/O=system:nodes/CN=system:node:$NODE_NAME" "$client"
	) || die "openssl failed"
	NODE_APISERVER_ARGS=(
		--bind-address="$NODE_IP"
		--advertise-address="$NODE_IP"
		--kubelet-client-certificate="$pki/apiserver-kubelet-client.crt"
		--kubelet-client-key="$pki/apiserver-kubelet-client.key"
	)
}

# Print N free TCP ports on address $1.
node_free_ports() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[2]))]
for s in ss:
    s.bind((sys.argv[1], 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
EOF
}

# node_cgroups: DIR's cgroup and its node/ child in every hierarchy (runc
# uses the unified one too, next to the v1 ones); cpuset needs cpus and mems
# copied down before anything can join.
node_cgroups() {
	local h
	: >"$NODE_DIR/cgroup-hierarchies"
	while read -r h; do
		mkdir -p "$h$NODE_CGROUP/node"
		if [[ -f $h/cpuset.cpus ]]; then
			cat "$h/cpuset.cpus" >"$h$NODE_CGROUP/cpuset.cpus"
			cat "$h/cpuset.mems" >"$h$NODE_CGROUP/cpuset.mems"
			cat "$h/cpuset.cpus" >"$h$NODE_CGROUP/node/cpuset.cpus"
			cat "$h/cpuset.mems" >"$h$NODE_CGROUP/node/cpuset.mems"
		fi
		printf '%s\n' "$h" >>"$NODE_DIR/cgroup-hierarchies"
	done < <(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts)
}

node_write_configs() {
	local nd=$NODE_DIR
	mkdir -p "$nd/containerd/root" "$nd/containerd/opt" "$nd/runc" "$nd/cni/net.d" \
		"$nd/cni/ipam" "$nd/kubelet-pki" "$nd/volume-plugins" "$nd/sysctl"
	cat >"$nd/containerd.toml" <<EOF
# Written by test/cluster/node.sh: containerd of the real node of $DIR.
version = 2
root = "$nd/containerd/root"
# /run/containerd is a folder of DIR inside the node's mount namespace: the
# shims put their sockets in /run/containerd/s whatever the state setting says.
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$CONTAINERD_SOCKET"

[plugins."io.containerd.internal.v1.opt"]
  path = "$nd/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$NODE_PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "$NODE_STREAM_PORT"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$nd/runc"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$nd/cni/net.d"
    max_conf_num = 1
EOF
	cat >"$nd/cni/net.d/10-kloompas.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kloompas",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": false,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$NODE_SUBNET", "rangeStart": "${NODE_IP%.*}.10",
                      "rangeEnd": "${NODE_IP%.*}.250" }]],
        "dataDir": "$nd/cni/ipam"
      }
    }
  ]
}
EOF
	# Name lookups stay inside the pod (or, with hostNetwork, on loopback). A
	# file without nameserver would not do: containerd then copies the
	# machine's /etc/resolv.conf into the pod.
	printf '# kloompas test node: no DNS beyond loopback\nnameserver 127.0.0.1\n' >"$nd/resolv.conf"
	cat >"$nd/kubelet.yaml" <<EOF
# Written by test/cluster/node.sh: kubelet of the real node of $DIR.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: $NODE_CGROUP
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
# The sysctls it writes are copies inside its mount namespace (node_ns.sh).
protectKernelDefaults: false
makeIPTablesUtilChains: false
hairpinMode: none
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
volumePluginDir: $nd/volume-plugins
resolvConf: $nd/resolv.conf
serializeImagePulls: false
# Ready 2 s after registration instead of 10 s; the status is still sent only
# when it changes, or every 5 min (the default once the above is set).
nodeStatusUpdateFrequency: 2s
nodeStatusReportFrequency: 5m
EOF
	cat >"$nd/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kloompas
  cluster:
    server: $APISERVER_URL
    certificate-authority: $pki/ca.crt
users:
- name: $NODE_NAME
  user:
    client-certificate: $pki/kubelet-$NODE_NAME.crt
    client-key: $pki/kubelet-$NODE_NAME.key
contexts:
- name: kloompas
  context: {cluster: kloompas, user: $NODE_NAME}
current-context: kloompas
EOF
}

# Ready, as posted by this kubelet: a restarted DIR has the Node of the last
# run, Ready until the node lifecycle controller notices (40 s).
node_ready() {
	"${curl_admin[@]}" "$APISERVER_URL/api/v1/nodes/$NODE_NAME" | python3 -c '
import datetime, json, sys
n = json.load(sys.stdin)
since = int(sys.argv[1])
def fresh(c):
    t = datetime.datetime.strptime(c["lastHeartbeatTime"], "%Y-%m-%dT%H:%M:%SZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp() >= since
sys.exit(0 if any(c["type"] == "Ready" and c["status"] == "True" and fresh(c)
                  for c in n["status"].get("conditions", [])) else 1)' "$NODE_KUBELET_START"
}

# node_start: scheduler, containerd, images, kubelet; returns once the node is Ready.
node_start() {
	local port
	read -r SCHEDULER_PORT NODE_STREAM_PORT KUBELET_HEALTHZ_PORT < <(node_free_ports 127.0.0.1 3)
	read -r KUBELET_PORT < <(node_free_ports "$NODE_IP" 1)
	for port in 10250 10248; do
		[[ $KUBELET_PORT != "$port" && $KUBELET_HEALTHZ_PORT != "$port" ]] || die "port $port"
	done
	log "ports: scheduler $SCHEDULER_PORT, kubelet $NODE_IP:$KUBELET_PORT (healthz $KUBELET_HEALTHZ_PORT), containerd streams $NODE_STREAM_PORT"

	log "starting kube-scheduler"
	mkdir -p "$DIR/scheduler-certs"
	launch kube-scheduler "$bin/kube-scheduler" \
		--kubeconfig="$DIR/kubeconfig" \
		--authentication-kubeconfig="$DIR/kubeconfig" \
		--authorization-kubeconfig="$DIR/kubeconfig" \
		--leader-elect=false \
		--port=0 \
		--bind-address=127.0.0.1 \
		--secure-port="$SCHEDULER_PORT" \
		--cert-dir="$DIR/scheduler-certs"

	CONTAINERD_SOCKET=$NODE_DIR/containerd.sock
	node_cgroups
	node_write_configs

	log "starting containerd (private mount namespace)"
	# A pull (of an image not imported) goes through this proxy to a closed
	# port on loopback, never out of the machine: containerd 1.6 has no
	# registry setting that covers every host.
	launch containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
		NO_PROXY=localhost,127.0.0.1 \
		unshare -m --propagation private -- \
		bash "$here/node_ns.sh" "$DIR" mount \
		containerd --config "$NODE_DIR/containerd.toml"
	wait_for containerd 30 ctr -a "$CONTAINERD_SOCKET" version
	readlink "/proc/$(<"$DIR/containerd.pid")/ns/mnt" >"$NODE_DIR/mntns"

	bash "$here/images.sh" import "$CONTAINERD_SOCKET" || fail containerd "images.sh import failed"
	local tar
	for tar in ${KL_NODE_IMAGES:-}; do
		bash "$here/node_import.sh" "$DIR" "$tar" || fail containerd "importing $tar failed"
	done

	wait_for kube-scheduler 30 "${curl_admin[@]}" -k "https://127.0.0.1:$SCHEDULER_PORT/healthz"

	log "starting kubelet as $NODE_NAME"
	NODE_KUBELET_START=$(($(date +%s) - 1))
	local trace=()
	rm -f "$NODE_DIR/kubelet.strace" "$DIR/kubelet-strace.pid"
	if [[ ${KL_NODE_STRACE:-0} == 1 ]]; then
		trace=(strace -f -qq -e trace=connect -e signal=none -o "$NODE_DIR/kubelet.strace")
	fi
	launch kubelet env AWS_EC2_METADATA_DISABLED=true \
		nsenter -t "$(<"$DIR/containerd.pid")" -m -- \
		bash "$here/node_ns.sh" "$DIR" join "${trace[@]}" \
		"$bin/kubelet" \
		--config="$NODE_DIR/kubelet.yaml" \
		--kubeconfig="$NODE_DIR/kubelet.kubeconfig" \
		--container-runtime=remote \
		--container-runtime-endpoint="unix://$CONTAINERD_SOCKET" \
		--root-dir=/var/lib/kubelet \
		--cert-dir="$NODE_DIR/kubelet-pki" \
		--hostname-override="$NODE_NAME" \
		--node-ip="$NODE_IP" \
		--v=1
	if ((${#trace[@]})); then
		node_strace_child
	fi
	wait_for kubelet 120 node_ready
}

# Under strace, kubelet.pid is strace's: keep it as kubelet-strace.pid and
# record the kubelet's own pid (strace's child) in kubelet.pid.
node_strace_child() {
	local spid child i
	spid=$(<"$DIR/kubelet.pid")
	for ((i = 0; i < 100; i++)); do
		# shellcheck disable=SC2013 # pids separated by spaces
		for child in $(cat "/proc/$spid/task/"*/children 2>/dev/null); do
			if [[ $(tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null) == "$bin/kubelet "* ]]; then
				printf '%s\n' "$spid" >"$DIR/kubelet-strace.pid"
				printf '%s\n' "$child" >"$DIR/kubelet.pid"
				return 0
			fi
		done
		sleep 0.1
	done
	fail kubelet "kubelet did not start under strace"
}

# Lines for DIR/env.
node_env() {
	local v val
	for v in REAL_NODE NODE_NAME NODE_IP NODE_SUBNET NODE_BRIDGE NODE_CGROUP APISERVER_POD_URL \
		KUBELET_PORT KUBELET_HEALTHZ_PORT SCHEDULER_PORT CONTAINERD_SOCKET \
		KUBELET_PID CONTAINERD_PID SCHEDULER_PID; do
		case $v in
		REAL_NODE) val=1 ;;
		APISERVER_POD_URL) val=https://$NODE_IP:$APISERVER_PORT ;;
		KUBELET_PID) val=$(<"$DIR/kubelet.pid") ;;
		CONTAINERD_PID) val=$(<"$DIR/containerd.pid") ;;
		SCHEDULER_PID) val=$(<"$DIR/kube-scheduler.pid") ;;
		*) val=${!v} ;;
		esac
		printf '%s=%q\n' "$v" "$val"
	done
}
