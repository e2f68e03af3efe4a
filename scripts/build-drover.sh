#!/usr/bin/env bash
# Builds bin/drover, the multi-call binary of `drover up` and the six
# daemons, and its drover-<daemon> links.
#
# It links a patched copy of etcd's server module (third_party/etcd-server,
# which says why) and grpc without x/net/trace (grpcnotrace), so that Go's
# linker can drop unused methods: bin/drover then maps 71 MB of code and
# read-only data instead of 93 MB, in every process of a cluster. The build
# fails if a dependency turns that off again.
set -euo pipefail
bin="${1:?usage: build-drover.sh <bin-dir>}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/.build"
mkdir -p "$bin" "$build"
cd "$root/services/drover"

ver="$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
patch="$root/third_party/etcd-server/$ver.patch"
if [ ! -f "$patch" ]; then
  echo "build-drover: no $patch; carry the patch over to etcd server $ver" >&2
  exit 1
fi
etcd="$build/etcd-server-$ver"
stamp="$(sha256sum "$patch" | cut -d' ' -f1)"
if [ "$(cat "$etcd/.drover-patch" 2>/dev/null)" != "$stamp" ]; then
  go mod download go.etcd.io/etcd/server/v3
  rm -rf "$etcd"
  cp -r "$(go list -m -f '{{.Dir}}' go.etcd.io/etcd/server/v3)" "$etcd"
  chmod -R u+w "$etcd"
  (cd "$root" && git apply --directory="${etcd#"$root"/}" "$patch")
  echo "$stamp" > "$etcd/.drover-patch"
fi

# The repository's workspace, with the patched module in place of etcd's.
sed -E 's#^(\s*)\./#\1../#; s#^use \./#use ../#' "$root/go.work" > "$build/go.work"
echo "replace go.etcd.io/etcd/server/v3 $ver => ./${etcd#"$build"/}" >> "$build/go.work"
cp "$root/go.work.sum" "$build/go.work.sum" 2>/dev/null || true

# The kubelet in drover needs cgo (libcontainer) and libseccomp.
GOWORK="$build/go.work" CGO_ENABLED=1 go build -tags seccomp,grpcnotrace \
  -ldflags=-dumpdep -o "$bin/drover" . 2> "$build/drover.deps"
if grep -q '<ReflectMethod>' "$build/drover.deps"; then
  echo "build-drover: these functions look methods up by reflection, so the linker keeps every exported method:" >&2
  grep '<ReflectMethod>' "$build/drover.deps" | grep -v '^type:' | cut -d' ' -f1 | sort -u | head -20 >&2
  echo "(dependency chains in $build/drover.deps)" >&2
  exit 1
fi
rm -f "$build/drover.deps"
for d in apiserver controller-manager scheduler proxy dns kubelet; do
  ln -sfn drover "$bin/drover-$d"
done
