#!/usr/bin/env bash
# test/cluster/restart.sh DIR NAME [stop|start|restart] - stops and/or starts one
# process of a control plane made by up.sh (etcd, kube-apiserver,
# kube-controller-manager), with the command line up.sh saved in DIR/NAME.cmd.
# Fault tests use it: an apiserver restart empties its watch cache, so watches
# from older resourceVersions get 410 and informers must relist.
# "start" of kube-apiserver returns once /readyz answers ok.
set -euo pipefail
DIR=${1:?usage: restart.sh DIR NAME [stop|start|restart]}
NAME=${2:?usage: restart.sh DIR NAME [stop|start|restart]}
WHAT=${3:-restart}
DIR=$(cd "$DIR" && pwd)
[[ -f $DIR/$NAME.cmd ]] || { echo "restart.sh: no $DIR/$NAME.cmd (made by up.sh)" >&2; exit 1; }

stop() {
	local pid
	[[ -s $DIR/$NAME.pid ]] || return 0
	pid=$(<"$DIR/$NAME.pid")
	[[ -r /proc/$pid/cmdline ]] || return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 20); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	# the apiserver waits up to 60 s for open watches: do not wait for it
	kill -KILL "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; do
		sleep 0.05
	done
	rm -f "$DIR/$NAME.pid"
}

start() {
	local -a cmd
	mapfile -d '' cmd <"$DIR/$NAME.cmd"
	printf '=== %s restart.sh: starting %s\n' "$(date -Is)" "$NAME" >>"$DIR/$NAME.log"
	# shellcheck disable=SC2016 # expanded by the inner shell
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$DIR/$NAME.pid" "${cmd[@]}" \
		</dev/null >>"$DIR/$NAME.log" 2>&1 &
	if [[ $NAME == kube-apiserver ]]; then
		# shellcheck disable=SC1091
		. "$DIR/env"
		for _ in $(seq 240); do
			if curl -sf --cacert "$CA_FILE" --cert "$ADMIN_CERT" --key "$ADMIN_KEY" \
				"$APISERVER_URL/readyz" 2>/dev/null | grep -qx ok; then
				return 0
			fi
			sleep 0.25
		done
		echo "restart.sh: kube-apiserver not ready after 60 s" >&2
		tail -n 20 "$DIR/$NAME.log" >&2
		return 1
	fi
}

case $WHAT in
stop) stop ;;
start) start ;;
restart) stop; start ;;
*) echo "restart.sh: unknown action $WHAT" >&2; exit 2 ;;
esac
