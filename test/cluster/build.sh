#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager, kube-scheduler and kubelet from
# Debian's kubernetes source package (1.20.2, dependencies vendored) for the
# local real cluster that the e2e tests and the demo run against (the scheduler
# and the kubelet only run with up.sh --real-node).
#
# Design: everything lives in a cache folder outside the repository, keyed by
# the source package version and the one patch we apply (the vendored
# modern-go/reflect2 1.0.1, which faults at random under Go >= 1.18, is
# replaced by Debian's 1.0.2). The machine's apt configuration is never
# changed: apt-get gets its own sources list and lists folder for the deb-src
# line. When the binaries already exist the script only prints their folder.
#
# Usage: build.sh            progress on stderr, the bin folder on stdout
# Env:   KLOOMPAS_CACHE      cache root (default /var/cache/kloompas)
set -euo pipefail

CACHE=${KLOOMPAS_CACHE:-/var/cache/kloompas}
PATCH_TAG=reflect2-1.0.2
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2

log() {
	printf 'build.sh: %s\n' "$*" >&2
}

die() {
	log "error: $*"
	exit 1
}

BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet)

have_bins() {
	local b
	for b in "${BINS[@]}"; do
		[[ -x $1/$b ]] || return 1
	done
}

# Fast path: any finished build of this patch level.
for bin in "$CACHE"/k8s-*-"$PATCH_TAG"/bin; do
	if have_bins "$bin"; then
		log "binaries already built"
		printf '%s\n' "$bin"
		exit 0
	fi
done

# --- packages -----------------------------------------------------------------

need_pkgs=()
for p in golang-go golang-github-modern-go-reflect2-dev etcd-server etcd-client dpkg-dev \
	openssl curl python3 make rsync; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		need_pkgs+=("$p")
	fi
done
# Debian's kubectl is kubernetes-client; a kubectl installed by another
# package owns /usr/bin/kubectl already and would make the install fail.
if ! command -v kubectl >/dev/null 2>&1; then
	need_pkgs+=(kubernetes-client)
fi
if ((${#need_pkgs[@]})); then
	log "installing: ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends "${need_pkgs[@]}" >&2
fi
[[ -d $REFLECT2_SRC ]] || die "$REFLECT2_SRC missing (golang-github-modern-go-reflect2-dev)"

# --- our own deb-src line -------------------------------------------------------

# shellcheck disable=SC1091
codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-bookworm}")

read -r mirror signed_by < <(bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/debian_mirror.sh" "$codename") ||
	die "no deb line for $codename in /etc/apt/sources.list{,.d/}"
[[ -n $mirror ]] || die "no deb line for $codename in /etc/apt/sources.list{,.d/}"
log "mirror: $mirror $codename (signed-by: $signed_by)"

aptdir=$CACHE/apt
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
if [[ $signed_by != - && -f $signed_by ]]; then
	line="deb-src [signed-by=$signed_by] $mirror $codename main"
else
	line="deb-src $mirror $codename main"
fi
printf '%s\n' "$line" >"$aptdir/sources.list"
apt_opts=(
	-o "Dir::Etc::SourceList=$aptdir/sources.list"
	-o "Dir::Etc::SourceParts=-"
	-o "Dir::State::Lists=$aptdir/lists"
	-o "Dir::Cache=$aptdir/cache"
	-o "APT::Sandbox::User=root"
)
log "apt-get update (own sources list: $line)"
apt-get "${apt_opts[@]}" update >&2

version=$(apt-cache "${apt_opts[@]}" showsrc kubernetes |
	awk '/^Version:/ { print $2; exit }')
[[ -n $version ]] || die "kubernetes source package not found"
top=$CACHE/k8s-$version-$PATCH_TAG
bin=$top/bin
if have_bins "$bin"; then
	printf '%s\n' "$bin"
	exit 0
fi
log "kubernetes source package $version, work dir $top"

# --- fetch, extract, patch --------------------------------------------------------

mkdir -p "$top/dl"
if ! compgen -G "$top/dl/kubernetes_*.dsc" >/dev/null; then
	log "apt-get source --download-only kubernetes=$version"
	(cd "$top/dl" && apt-get "${apt_opts[@]}" source --download-only "kubernetes=$version") >&2
fi
dsc=$(compgen -G "$top/dl/kubernetes_*.dsc" | head -n 1)

src=$top/src
if [[ ! -f $src/.kloompas-patched ]]; then
	rm -rf "$src"
	log "extracting $(basename "$dsc")"
	dpkg-source -x "$dsc" "$src" >&2
	log "replacing vendored reflect2 with $REFLECT2_SRC"
	rm -rf "$src/vendor/github.com/modern-go/reflect2"
	cp -r "$REFLECT2_SRC" "$src/vendor/github.com/modern-go/reflect2"
	rm -f "$src/vendor/github.com/modern-go/reflect2/go.mod"
	find "$src/vendor/github.com/modern-go/reflect2" -name '*_test.go' -delete
	touch "$src/.kloompas-patched"
fi

# --- build ---------------------------------------------------------------------------

mkdir -p "$top/.go/src/k8s.io" "$top/home"
ln -sfn "$src" "$top/.go/src/k8s.io/kubernetes"
log "building ${BINS[*]} (8-14 min on 2 cores)"
start=$SECONDS
(
	cd "$top/.go/src/k8s.io/kubernetes"
	# A failed earlier run can leave empty tool stubs that make takes as built.
	if [[ -e _output/bin ]]; then
		find -H _output/bin -type f -size 0 -delete
	fi
	export GOPATH=$top/.go GO111MODULE=off CGO_ENABLED=0 HOME=$top/home
	export GOCACHE=$top/home/.cache/go-build GOFLAGS=
	make WHAT="${BINS[*]/#/cmd/}"
) >&2 || die "make failed"
log "build took $((SECONDS - start)) s"

out=$src/_output/bin
have_bins "$out" || die "binaries not found in $out"
rm -rf "$bin.tmp"
mkdir -p "$bin.tmp"
for b in "${BINS[@]}"; do
	cp "$out/$b" "$bin.tmp/"
done
rm -rf "$bin"
mv -T "$bin.tmp" "$bin"
log "done"
printf '%s\n' "$bin"
