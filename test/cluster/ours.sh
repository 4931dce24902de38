# test/cluster/ours.sh - sourced by down.sh and node_down.sh: which recorded pid is
# still one of this cluster's processes. A pid file alone is not enough: the process
# may be gone and its pid reused by anything on the machine, so the command line must
# name the cluster's folder too. Every server is stopped by its pid, never by name.

# ours NAME: print the pid in $DIR/NAME.pid if that process is alive and its command
# line names $DIR; else return 1.
ours() {
	local f=$DIR/$1.pid pid
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/" || return 1
	printf '%s\n' "$pid"
}
