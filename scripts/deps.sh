#!/usr/bin/env bash
# scripts/deps.sh - installs the Debian 12 packages Kloompas builds and tests with.
# Idempotent: packages already present are left alone; needs root (or sudo).
set -euo pipefail

PKGS=(
  gcc pkg-config meson ninja-build
  libuv1-dev libcurl4-openssl-dev libyajl-dev libyaml-dev libssl-dev libhttp-parser-dev
  libcmocka-dev python3 python3-pytest python3-yaml prometheus prometheus-alertmanager curl
  clang libclang-rt-14-dev python3-aiosmtpd openssl
  nanopb libnanopb-dev protobuf-compiler
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}"
$SUDO apt-get update -q
# prometheus is only needed for promtool; keep its service from starting where it could
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
