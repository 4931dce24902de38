#!/usr/bin/env bash
# Did a cluster leave the machine as it found it? up.sh --real-node runs
# containerd and a kubelet, which by default change firewall rules, sysctls,
# mounts, cgroups and fixed paths for the whole machine; our node must not.
# Take a snapshot before up.sh, compare after down.sh: the e2e test and anyone
# by hand use it.
#
# Design: the snapshot is a sorted text file of "section<TAB>value" lines, so
# comparing is a set difference and the message names what changed:
#   iptables   iptables/ip6tables -S for filter, nat, mangle (and nft ruleset)
#   sysctl     /proc/sys kernel, vm, net/{core,ipv4,ipv6,bridge,netfilter}
#              (per-interface entries only for all/default; counters left out)
#   link, addr, route, netns   ip -j output, by name (not index)
#   mount      /proc/self/mounts of the machine's mount namespace
#   path       existence and type of the fixed paths a kubelet or containerd uses
#   cgroup     folders one level down in every cgroup hierarchy, and any
#              kloompas-* folder up to three levels down
#   module     /proc/modules names, when the kernel has modules
# compare leaves out lines that match the extended regex CHECK_CLEAN_IGNORE,
# on both sides (for work that runs beside on purpose, e.g. a buildah build's
# mounts: CHECK_CLEAN_IGNORE=/var/cache/kloompas/image/).
# compare also fails for any process left in a kloompas-* cgroup and, given
# DIR, any process whose command line names DIR.
#
# Usage: check_clean.sh snapshot FILE
#        check_clean.sh compare FILE [DIR]
# Exit:  0 clean (or snapshot written), 1 differences (listed on stderr),
#        2 usage or snapshot errors.
set -euo pipefail

usage() {
	echo "usage: check_clean.sh snapshot FILE | check_clean.sh compare FILE [DIR]" >&2
	exit 2
}

snapshot() {
	python3 - <<'EOF'
import glob, json, os, shutil, subprocess

lines = set()

def add(section, value):
    lines.add(f"{section}\t{value}")

def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None

for tool in ("iptables", "ip6tables"):
    if not shutil.which(tool):
        add("iptables", f"{tool}: not installed")
        continue
    for table in ("filter", "nat", "mangle"):
        out = run(tool, "-t", table, "-S")
        for l in (out or f"(cannot list)\n").splitlines():
            add("iptables", f"{tool} -t {table}: {l}")
if shutil.which("nft"):
    for l in (run("nft", "list", "ruleset") or "").splitlines():
        add("iptables", f"nft: {l.strip()}")

VOLATILE = {"kernel/ns_last_pid", "kernel/random/uuid", "kernel/random/entropy_avail",
            "kernel/pty/nr", "net/netfilter/nf_conntrack_count"}
for top in ("kernel", "vm", "net/core", "net/ipv4", "net/ipv6", "net/bridge", "net/netfilter"):
    for dp, dn, fn in os.walk("/proc/sys/" + top):
        parts = os.path.relpath(dp, "/proc/sys").split("/")
        if len(parts) >= 4 and parts[0] == "net" and parts[2] in ("conf", "neigh") \
                and parts[3] not in ("all", "default"):
            dn[:] = []
            continue
        for f in fn:
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, "/proc/sys")
            if rel in VOLATILE:
                continue
            try:
                with open(p) as fh:
                    v = " ".join(fh.read().split())
            except OSError:
                continue
            add("sysctl", f"{rel} = {v}")

def ipj(*args):
    return json.loads(run("ip", "-j", *args) or "[]")

for l in ipj("-d", "link", "show"):
    kind = (l.get("linkinfo") or {}).get("info_kind", l.get("link_type", ""))
    add("link", f"{l['ifname']} {kind} master={l.get('master', '-')}")
for l in ipj("addr", "show"):
    for a in l.get("addr_info", []):
        add("addr", f"{l['ifname']} {a['local']}/{a['prefixlen']}")
for fam in ("-4", "-6"):
    for r in ipj(fam, "route", "show", "table", "all"):
        r.pop("expires", None)
        add("route", json.dumps(r, sort_keys=True))
for n in ipj("netns", "list"):
    add("netns", n.get("name", str(n)))
if os.path.isdir("/run/netns"):
    for n in os.listdir("/run/netns"):
        add("netns", "/run/netns/" + n)

with open("/proc/self/mounts") as fh:
    for l in fh:
        add("mount", l.strip())

for p in ("/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/var/lib/cni",
          "/opt/containerd", "/run/containerd", "/var/lib/containerd", "/etc/containerd",
          "/etc/cni", "/opt/cni", "/run/netns", "/run/runc", "/var/run/kubernetes",
          "/etc/kubernetes", "/var/lib/dockershim", "/var/lib/containers",
          "/run/xtables.lock", "/usr/libexec/kubernetes", "/etc/cdi", "/var/run/cdi"):
    kind = ("dir" if os.path.isdir(p) else "file") if os.path.lexists(p) else "absent"
    add("path", f"{p} {kind}")

for m in open("/proc/self/mounts"):
    dev, mnt, fstype = m.split()[:3]
    if fstype not in ("cgroup", "cgroup2") or not mnt.startswith("/sys/fs/cgroup"):
        continue
    for d in sorted(os.listdir(mnt)):
        if os.path.isdir(os.path.join(mnt, d)):
            add("cgroup", f"{mnt}/{d}")
    for depth in ("*/kloompas-*", "*/*/kloompas-*", "*/*/*/kloompas-*"):
        for d in glob.glob(os.path.join(mnt, depth)):
            add("cgroup", d)

if os.path.exists("/proc/modules"):
    for l in open("/proc/modules"):
        add("module", l.split()[0])

print("\n".join(sorted(lines)))
EOF
}

# Print processes that a stopped cluster must not have left.
leftovers() {
	python3 - "${1:-}" <<'EOF'
import os, sys
d = sys.argv[1]
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/cgroup") as fh:
            cg = fh.read()
    except OSError:
        continue
    if pid == str(os.getpid()) or pid == str(os.getppid()):
        continue
    if "/kloompas-" in cg:
        print(f"process\tpid {pid} in a kloompas cgroup: {cmd[:200]}")
    elif d and (d + "/") in cmd:
        print(f"process\tpid {pid} names {d}: {cmd[:200]}")
EOF
}

case ${1:-} in
snapshot)
	[[ $# == 2 ]] || usage
	snapshot >"$2.tmp" || { echo "check_clean: snapshot failed" >&2; exit 2; }
	mv "$2.tmp" "$2"
	echo "check_clean: snapshot of $(wc -l <"$2") lines in $2" >&2
	;;
compare)
	[[ $# == 2 || $# == 3 ]] || usage
	[[ -f $2 ]] || { echo "check_clean: no snapshot $2" >&2; exit 2; }
	dir=
	if [[ $# == 3 ]]; then
		dir=$3
		[[ $dir == /* ]] || dir=$PWD/$dir
		dir=${dir%/}
	fi
	now=$(snapshot) || { echo "check_clean: snapshot failed" >&2; exit 2; }
	keep() {
		if [[ -n ${CHECK_CLEAN_IGNORE:-} ]]; then
			grep -Ev -- "$CHECK_CLEAN_IGNORE" | sort
		else
			sort
		fi
	}
	diffs=$(
		comm -13 <(keep <"$2") <(printf '%s\n' "$now" | keep) | sed 's/^/+ /'
		comm -23 <(keep <"$2") <(printf '%s\n' "$now" | keep) | sed 's/^/- /'
		leftovers "$dir" | sed 's/^/+ /'
	)
	if [[ -n $diffs ]]; then
		echo "check_clean: NOT clean; differences from $2 (+ now, - before):" >&2
		printf '%s\n' "$diffs" | sed 's/\t/: /' >&2
		exit 1
	fi
	echo "check_clean: clean ($(wc -l <"$2") lines as before, no processes left)" >&2
	;;
*) usage ;;
esac
