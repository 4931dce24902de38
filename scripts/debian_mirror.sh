#!/usr/bin/env bash
# scripts/debian_mirror.sh SUITE - prints "URI SIGNED-BY" of the first enabled deb entry
# of the machine's apt sources for SUITE (e.g. bookworm, bookworm-security), from
# one-line .list files and deb822 .sources files; SIGNED-BY is "-" when there is none.
# Prints nothing when no entry matches.
#
# Why: test/cluster/build.sh (its private deb-src line for the kubernetes source
# package) and scripts/image_base.sh (the mirror debootstrap fetches from) both need
# the mirror this machine already uses, without touching its apt configuration.
set -euo pipefail

find_mirror() { # SUITE
	local f suite=$1
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		awk -v cn="$suite" '
			/^[[:space:]]*deb[[:space:]]/ {
				opts = ""; i = 2
				if ($2 ~ /^\[/) {
					while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } i++ }
				}
				uri = $i; suite = $(i + 1)
				if (suite != cn) next
				sb = "-"
				if (match(opts, /signed-by=[^] ]+/))
					sb = substr(opts, RSTART + 10, RLENGTH - 10)
				print uri, sb; exit
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		awk -v cn="$suite" '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " cn " ") &&
				    enabled != "no" && uri != "")
					{ print uri, (sb == "" ? "-" : sb); found = 1; exit }
				types = suites = uri = sb = enabled = ""
			}
			/^[[:space:]]*#/ { next }
			/^[[:space:]]*$/ { flush(); next }
			{
				key = tolower($1); sub(/:$/, "", key)
				val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
				if (key == "types") types = val
				else if (key == "suites") suites = val
				else if (key == "uris") { split(val, u, " "); uri = u[1] }
				else if (key == "signed-by") sb = val
				else if (key == "enabled") enabled = tolower(val)
			}
			END { if (!found) flush() }' "$f"
	done
}

find_mirror "${1:?usage: debian_mirror.sh SUITE}" | head -n 1
