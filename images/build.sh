#!/usr/bin/env bash
# Builds the two images of images/*/Dockerfile without a container engine: the same static
# binaries, the same FROM-scratch layout and config (read from the Dockerfiles' final stages by
# images/assemble.py), written as a docker-archive and an OCI image layout per image:
#
#   target/images/oomsday-leaker-VERSION.tar   docker-archive: docker load -i, ctr images import,
#   target/images/oomsday-VERSION.tar                          kind load image-archive
#   target/images/oomsday-leaker-VERSION.oci/  OCI layout: skopeo copy oci:DIR:TAG docker://TAG
#   target/images/oomsday-VERSION.oci/
#
# Usage: images/build.sh [--check]
#   --check   then verify both images (config, exactly the expected files, digests, size).
# Environment:
#   REGISTRY           image names are REGISTRY/oomsday-leaker:VERSION, REGISTRY/oomsday:VERSION
#                      (default ghcr.io/oomsday)
#   SOURCE_DATE_EPOCH  creation time (default: the commit time of HEAD); the same binaries and
#                      time give byte-identical images.
#   CARGO_TARGET_DIR   as for cargo (default target/)
#
# Needs cargo, git, python3 (standard library only). The binaries are glibc-static
# (+crt-static for the host triple, `file`: "static-pie linked") where the Dockerfiles build
# musl-static: the musl target is often not installed, and a machine without a container engine
# usually cannot add it. Static glibc still resolves names (a Prometheus URL such as
# prometheus.monitoring.svc) with its built-in files and dns lookups, from the /etc/resolv.conf
# and /etc/hosts the kubelet mounts into every container; nothing looks up user names.
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: images/build.sh [--check]" >&2; exit 2 ;;
esac

registry=${REGISTRY:-ghcr.io/oomsday}
registry=${registry%/}
target_dir=${CARGO_TARGET_DIR:-target}
out=$target_dir/images
triple=$(rustc -vV | sed -n 's/^host: //p')
revision=$(git rev-parse HEAD)
created=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
if ! git diff --quiet HEAD -- 2>/dev/null; then
  echo "note: the working tree differs from HEAD; the revision label still says $revision" >&2
fi

version_of() { # the package's version from Cargo.toml
  cargo metadata --no-deps --format-version 1 --locked |
    python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == sys.argv[1]))' "$1"
}

# The Dockerfiles' builds, with the host triple so +crt-static stays away from the proc-macros.
# Two cargo runs because the leaker's Dockerfile overrides the release profile (opt-level s, fat
# LTO, panic=abort, strip) and the controller's does not: one run would give both the same
# profile. The overrides are read from the Dockerfile's ENV so the two builds cannot drift.
export RUSTFLAGS='-C target-feature=+crt-static'
echo "--- cargo build --release --target $triple -p oomsday-leaker (profile overrides from images/leaker/Dockerfile)"
profile=$(python3 images/assemble.py --build-env images/leaker/Dockerfile)
mapfile -t leaker_env <<<"$profile"
env "${leaker_env[@]}" cargo build --release --locked --target "$triple" -p oomsday-leaker
echo "--- cargo build --release --target $triple -p oomsday --bin oomsday"
cargo build --release --locked --target "$triple" -p oomsday --bin oomsday
bin=$target_dir/$triple/release
# The Dockerfiles' smoke tests.
"$bin/oomsday-leaker" --help >/dev/null
"$bin/oomsday" --version >/dev/null

mkdir -p "$out"
# name  package  Dockerfile  COPY source  size limit of the docker-archive (MiB, for --check)
# Measured (uncompressed docker-archive, glibc-static, x86_64): the leaker 1.3 MiB (stripped, LTO,
# opt-level s), the controller 38 MiB (symbols kept, as its Dockerfile does not strip; 31 MiB
# stripped). The limits leave room to grow (3x, 1.7x) and still catch what must not happen: a
# debug build (the leaker's is 7.7 MiB), a base image or a second binary sneaking in.
images=(
  "oomsday-leaker oomsday-leaker images/leaker/Dockerfile /oomsday-leaker 4"
  "oomsday oomsday images/oomsday/Dockerfile /oomsday 64"
)
# The kubectl plugin for krew: the same static binary named kubectl-oomsday, alone in a
# tar.gz, and .krew.yaml rendered for it (the URI of the release, the archive's sha256).
version=$(version_of oomsday)
plugin=$out/kubectl-oomsday_v${version}_linux_amd64.tar.gz
staging=$(mktemp -d)
cp "$bin/oomsday" "$staging/kubectl-oomsday"
tar -C "$staging" --owner=0 --group=0 --mtime="@$created" -czf "$plugin" kubectl-oomsday
rm -rf "$staging"
python3 images/krew.py .krew.yaml "v$version" "$plugin" >"$out/oomsday.krew.yaml"
if ((check)); then
  python3 images/krew.py --check "$out/oomsday.krew.yaml" "$plugin"
fi
echo "kubectl plugin: $plugin, manifest $out/oomsday.krew.yaml"

for image in "${images[@]}"; do
  read -r name package dockerfile source limit <<<"$image"
  version=$(version_of "$package")
  args=(
    --dockerfile "$dockerfile"
    --tag "$registry/$name:$version"
    --version "$version"
    --revision "$revision"
    --docker-archive "$out/$name-$version.tar"
    --oci-layout "$out/$name-$version.oci"
  )
  python3 images/assemble.py "${args[@]}" --created "$created" --file "$source=$bin/${source#/}"
  if ((check)); then
    python3 images/assemble.py --check "${args[@]}" --max-size $((limit * 1024 * 1024))
  fi
done
