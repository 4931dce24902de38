#!/usr/bin/env bash
# Did the kubelet connect anywhere but this machine? up.sh --real-node with
# KL_NODE_STRACE=1 runs it under `strace -f -e trace=connect -o
# DIR/node/kubelet.strace`; this reads that file. A kubelet must reach only
# unix sockets (containerd), loopback (the apiserver) and the node's bridge
# (the pods, for probes); its in-tree cloud code would otherwise ask the EC2
# metadata address, which AWS_EC2_METADATA_DISABLED=true prevents.
#
# Design: every connect() line is judged by its address family and address;
# AF_UNIX, AF_NETLINK and AF_UNSPEC (a UDP disconnect) are local by nature;
# AF_INET/AF_INET6 must be in 127.0.0.0/8, ::1 (or v4-mapped loopback) or one
# of the allowed networks. Any other family, or a connect line we cannot
# parse, counts as a failure: better a false alarm than a missed one.
#
# Usage: check_connect.sh STRACE-FILE [CIDR...]
#        check_connect.sh --dir DIR      file and bridge subnet from DIR/env
# Exit:  0 only local connects (their count on stderr), 1 others (listed),
#        2 usage error or no such file.
set -euo pipefail

usage() {
	echo "usage: check_connect.sh STRACE-FILE [CIDR...] | check_connect.sh --dir DIR" >&2
	exit 2
}

(($#)) || usage
if [[ $1 == --dir ]]; then
	[[ $# == 2 && -f $2/env ]] || usage
	# shellcheck disable=SC1091
	set -- "$2/node/kubelet.strace" "$(. "$2/env" && printf '%s' "${NODE_SUBNET:?not a --real-node DIR}")"
fi
[[ -f $1 ]] || { echo "check_connect: no file $1 (KL_NODE_STRACE=1 makes it)" >&2; exit 2; }

python3 - "$@" <<'PY'
import ipaddress, re, sys

path, nets = sys.argv[1], [ipaddress.ip_network(c, strict=False) for c in sys.argv[2:]]
local = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")] + nets
bad, n, fams = [], 0, {}
for line in open(path, errors="replace"):
    if "connect(" not in line:
        continue
    if "resumed>" in line and "sa_family" not in line:
        continue  # the end of an unfinished call, judged at its start
    n += 1
    m = re.search(r"sa_family=(AF_\w+)", line)
    if not m:
        bad.append("unparsed: " + line.strip())
        continue
    fam = m.group(1)
    fams[fam] = fams.get(fam, 0) + 1
    if fam in ("AF_UNIX", "AF_NETLINK", "AF_UNSPEC"):
        continue
    if fam == "AF_INET":
        a = re.search(r'inet_addr\("([^"]+)"\)', line)
    elif fam == "AF_INET6":
        a = re.search(r'inet_pton\(AF_INET6, "([^"]+)"', line)
    else:
        a = None
    if not a:
        bad.append("unexpected: " + line.strip())
        continue
    ip = ipaddress.ip_address(a.group(1))
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    if not any(ip in net for net in local):
        bad.append(f"{ip}: " + line.strip())
summary = ", ".join(f"{k} {v}" for k, v in sorted(fams.items()))
if bad:
    print(f"check_connect: {len(bad)} of {n} connects leave loopback/unix/{sys.argv[2:]}:",
          file=sys.stderr)
    for b in bad[:50]:
        print("  " + b, file=sys.stderr)
    sys.exit(1)
if n == 0:
    print(f"check_connect: no connect() in {path}: was strace running?", file=sys.stderr)
    sys.exit(1)
print(f"check_connect: all {n} connects local ({summary})", file=sys.stderr)
PY
