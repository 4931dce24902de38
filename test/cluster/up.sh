#!/usr/bin/env bash
# Start a local real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager) on 127.0.0.1 for the e2e tests and the demo.
#
# Design: all state lives in DIR (certificates, tokens, etcd data, logs, pid
# files, kubeconfig, env), nothing is written elsewhere except the build cache
# of build.sh. Ports are free ones picked at start, so several clusters can run
# at once; a DIR that was stopped without --clean is started again with the
# same certificates, tokens, data and (if still free) ports. The processes run
# in their own sessions and outlive this script; stop them with down.sh DIR.
#
# With --real-node it also starts kube-scheduler and a real node (containerd,
# runc, a CNI bridge and kubelet) isolated from the machine: see node.sh. The
# apiserver then listens on the node's bridge address instead of 127.0.0.1 (one
# address only, and one that exists on this machine alone), so that pods reach it
# there too: APISERVER_URL and APISERVER_POD_URL are both https://NODE_IP:PORT.
#
# Usage: up.sh DIR [--real-node]
# Then:  . DIR/env; kubectl --kubeconfig "$KUBECONFIG" get ns
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
start_time=$SECONDS

log() {
	printf 'up.sh: %s\n' "$*" >&2
}

die() {
	log "error: $*"
	exit 1
}

real_node=0
dir=
for a in "$@"; do
	case $a in
	--real-node) real_node=1 ;;
	-*) die "usage: up.sh DIR [--real-node]" ;;
	*)
		[[ -z $dir ]] || die "usage: up.sh DIR [--real-node]"
		dir=$a
		;;
	esac
done
[[ -n $dir ]] || die "usage: up.sh DIR [--real-node]"
mkdir -p "$dir"
DIR=$(cd "$dir" && pwd)
cd "$DIR"

# --- binaries ------------------------------------------------------------------------

bin=$(bash "$here/build.sh") || die "build.sh failed"
for b in kube-apiserver kube-controller-manager; do
	[[ -x $bin/$b ]] || die "$bin/$b missing"
done
command -v etcd >/dev/null || die "etcd missing (run build.sh: it installs etcd-server)"
for tool in openssl curl python3; do
	command -v "$tool" >/dev/null || die "$tool missing (run build.sh)"
done

# Is the process in PIDFILE alive and one of ours (its command line names DIR)?
running() {
	local pid
	[[ -f $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/"
}

for p in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet; do
	if running "$DIR/$p.pid"; then
		die "$p already running for $DIR (pid $(<"$DIR/$p.pid")): run down.sh $DIR first"
	fi
done

# --- ports -----------------------------------------------------------------------------

# With --real-node the apiserver listens on the bridge address (made later): its
# port must be free on every address.
port_host=127.0.0.1
((real_node)) && port_host=0.0.0.0

port_free() {
	python3 - "$1" "$port_host" <<'EOF'
import socket, sys
s = socket.socket()
# Like the servers do, so that a port in TIME_WAIT counts as free.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[2], int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

# A restarted DIR keeps its ports when it can: etcd remembers its peer URL.
ETCD_CLIENT_PORT='' ETCD_PEER_PORT='' APISERVER_PORT='' KCM_PORT=''
if [[ -f $DIR/env ]]; then
	eval "$(grep -E '^(ETCD_CLIENT_PORT|ETCD_PEER_PORT|APISERVER_PORT|KCM_PORT)=[0-9]+$' "$DIR/env")"
	for p in "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$KCM_PORT"; do
		if [[ -z $p ]] || ! port_free "$p"; then
			ETCD_CLIENT_PORT=
			break
		fi
	done
fi
if [[ -z $ETCD_CLIENT_PORT ]]; then
	read -r ETCD_CLIENT_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT < <(python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(4)]
for s in ss:
    s.bind((sys.argv[1], 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$port_host")
fi
log "ports: etcd $ETCD_CLIENT_PORT/$ETCD_PEER_PORT, apiserver $APISERVER_PORT, controller-manager $KCM_PORT"

# --- certificates and tokens -------------------------------------------------------

pki=$DIR/pki
mkdir -p "$pki"

# sign NAME SUBJECT EXTENSIONS: NAME.key and NAME.crt signed by the CA.
sign() {
	openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -subj "$2" \
		-out "$pki/$1.csr" 2>/dev/null
	printf '%s\n' "$3" >"$pki/$1.ext"
	openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
		-CAcreateserial -days 3650 -sha256 -extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>/dev/null
	rm -f "$pki/$1.csr" "$pki/$1.ext"
}

if [[ ! -f $pki/ca.crt ]]; then
	log "generating CA, serving, client and service-account keys"
	(
		umask 077
		openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/ca.key" \
			-subj "/CN=kloompas-test-ca" -days 3650 -sha256 \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" \
			-out "$pki/ca.crt" 2>/dev/null
		sign apiserver "/CN=kube-apiserver" \
			"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
		sign admin "/O=system:masters/CN=kloompas-admin" \
			"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
		openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
		openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
	) || die "openssl failed"
fi

if [[ ! -f $DIR/tokens.csv ]]; then
	(
		umask 077
		printf '%s,kloompas-admin-token,uid-kloompas-admin-token,"system:masters"\n' \
			"$(openssl rand -hex 24)"
		printf '%s,test-user,uid-test-user\n' "$(openssl rand -hex 24)"
	) >"$DIR/tokens.csv"
fi
NODE_APISERVER_ARGS=()
if ((real_node)); then
	# shellcheck source=node.sh
	. "$here/node.sh"
	node_prepare
	node_certs
fi

# shellcheck disable=SC2034 # written to DIR/env through ${!v}
ADMIN_TOKEN=$(awk -F, '$2 == "kloompas-admin-token" { print $1 }' "$DIR/tokens.csv")
USER_TOKEN=$(awk -F, '$2 == "test-user" { print $1 }' "$DIR/tokens.csv")

APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
((real_node)) && APISERVER_URL=https://$NODE_IP:$APISERVER_PORT
cat >"$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kloompas
  cluster:
    server: $APISERVER_URL
    certificate-authority: $pki/ca.crt
users:
- name: kloompas-admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
- name: test-user
  user:
    token: $USER_TOKEN
contexts:
- name: kloompas
  context:
    cluster: kloompas
    user: kloompas-admin
- name: test-user
  context:
    cluster: kloompas
    user: test-user
current-context: kloompas
EOF
chmod 600 "$DIR/kubeconfig"

# --- processes ----------------------------------------------------------------------

# launch NAME BINARY ARGS...: run in a new session, detached from this script,
# output to DIR/NAME.log; the process writes its own pid (exec keeps it).
launch() {
	local name=$1
	shift
	rm -f "$DIR/$name.pid"
	# the command line, NUL-separated, for restart.sh
	printf '%s\0' "$@" >"$DIR/$name.cmd"
	printf '=== %s up.sh: starting %s\n' "$(date -Is)" "$name" >>"$DIR/$name.log"
	# shellcheck disable=SC2016 # expanded by the inner shell
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$DIR/$name.pid" "$@" \
		</dev/null >>"$DIR/$name.log" 2>&1 &
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -s $DIR/$name.pid ]] && return 0
		sleep 0.1
	done
	die "$name did not start"
}

# On failure show why and stop whatever this run started.
fail() {
	local name=$1
	shift
	log "error: $*"
	log "last lines of $DIR/$name.log:"
	tail -n 40 "$DIR/$name.log" >&2 || true
	bash "$here/down.sh" "$DIR" >&2 || true
	exit 1
}

# wait_for NAME SECONDS COMMAND...: until COMMAND succeeds, NAME still running.
wait_for() {
	local name=$1 secs=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		running "$DIR/$name.pid" || fail "$name" "$name exited"
		((SECONDS < deadline)) || fail "$name" "$name not ready after $secs s"
		sleep 0.25
	done
}

log "starting etcd"
mkdir -p "$DIR/etcd"
chmod 700 "$DIR/etcd"
launch etcd etcd \
	--name=kloompas \
	--data-dir="$DIR/etcd" \
	--listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster="kloompas=http://127.0.0.1:$ETCD_PEER_PORT" \
	--quota-backend-bytes=$((4 * 1024 * 1024 * 1024))
ETCD_ENDPOINTS=http://127.0.0.1:$ETCD_CLIENT_PORT
wait_for etcd 30 sh -c "curl -fsS '$ETCD_ENDPOINTS/health' | grep -q '\"health\":\"true\"'"

log "starting kube-apiserver"
mkdir -p "$DIR/apiserver-certs"
launch kube-apiserver "$bin/kube-apiserver" \
	--etcd-servers="$ETCD_ENDPOINTS" \
	--insecure-port=0 \
	--bind-address=127.0.0.1 \
	--secure-port="$APISERVER_PORT" \
	--cert-dir="$DIR/apiserver-certs" \
	--tls-cert-file="$pki/apiserver.crt" \
	--tls-private-key-file="$pki/apiserver.key" \
	--client-ca-file="$pki/ca.crt" \
	--token-auth-file="$DIR/tokens.csv" \
	--requestheader-client-ca-file="$pki/ca.crt" \
	--requestheader-allowed-names=front-proxy-client \
	--requestheader-username-headers=X-Remote-User \
	--requestheader-group-headers=X-Remote-Group \
	--requestheader-extra-headers-prefix=X-Remote-Extra- \
	--authorization-mode=Node,RBAC \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$pki/sa.pub" \
	--service-account-signing-key-file="$pki/sa.key" \
	--service-cluster-ip-range=10.0.0.0/24 \
	--kubelet-preferred-address-types=InternalIP \
	--endpoint-reconciler-type=none \
	--allow-privileged=true \
	"${NODE_APISERVER_ARGS[@]}"
curl_admin=(curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
wait_for kube-apiserver 60 sh -c '"$@" | grep -qx ok' sh "${curl_admin[@]}" "$APISERVER_URL/readyz"

log "starting kube-controller-manager"
mkdir -p "$DIR/controller-manager-certs"
launch kube-controller-manager "$bin/kube-controller-manager" \
	--kubeconfig="$DIR/kubeconfig" \
	--authentication-kubeconfig="$DIR/kubeconfig" \
	--authorization-kubeconfig="$DIR/kubeconfig" \
	--use-service-account-credentials \
	--service-account-private-key-file="$pki/sa.key" \
	--root-ca-file="$pki/ca.crt" \
	--cluster-signing-cert-file="$pki/ca.crt" \
	--cluster-signing-key-file="$pki/ca.key" \
	--controllers='*' \
	--leader-elect=false \
	--port=0 \
	--bind-address=127.0.0.1 \
	--secure-port="$KCM_PORT" \
	--cert-dir="$DIR/controller-manager-certs"
wait_for kube-controller-manager 60 \
	"${curl_admin[@]}" "$APISERVER_URL/api/v1/namespaces/default/serviceaccounts/default"

if ((real_node)); then
	node_start
fi

# --- env -------------------------------------------------------------------------------

{
	echo "# Written by test/cluster/up.sh; source it (only KUBECONFIG is exported)."
	for v in KLOOMPAS_CLUSTER_DIR KUBE_BIN_DIR KUBECONFIG APISERVER_URL APISERVER_PORT \
		ETCD_ENDPOINTS ETCD_CLIENT_PORT ETCD_PEER_PORT KCM_PORT \
		ETCD_PID APISERVER_PID KCM_PID ADMIN_TOKEN USER_TOKEN CA_FILE ADMIN_CERT ADMIN_KEY; do
		case $v in
		KLOOMPAS_CLUSTER_DIR) val=$DIR ;;
		KUBE_BIN_DIR) val=$bin ;;
		KUBECONFIG) val=$DIR/kubeconfig ;;
		ETCD_PID) val=$(<"$DIR/etcd.pid") ;;
		APISERVER_PID) val=$(<"$DIR/kube-apiserver.pid") ;;
		KCM_PID) val=$(<"$DIR/kube-controller-manager.pid") ;;
		CA_FILE) val=$pki/ca.crt ;;
		ADMIN_CERT) val=$pki/admin.crt ;;
		ADMIN_KEY) val=$pki/admin.key ;;
		*) val=${!v} ;;
		esac
		printf '%s=%q\n' "$v" "$val"
	done
	if ((real_node)); then
		node_env
	fi
	echo "export KUBECONFIG"
} >"$DIR/env.tmp"
chmod 600 "$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"

log "up in $((SECONDS - start_time)) s: $APISERVER_URL; . $DIR/env"
