#!/usr/bin/env bash
# Make Docker usable on a machine that can reach Debian's and PyPI's package registries but no
# image registry, and build the project's server image (keras-to-serving/server) on a locally
# bootstrapped Debian base. Idempotent: every step is skipped when its result already exists,
# so a rerun takes seconds.
#
#   scripts/docker_setup.sh            # everything
#   scripts/docker_setup.sh --daemon   # only make a Docker daemon answer
#
# Environment:
#   KTS_CACHE_DIR     where the base rootfs tarball and the wheelhouse are kept
#                     (default ~/.cache/keras-to-serving)
#   KTS_BASE_IMAGE    base image tag   (default keras-to-serving/base:bookworm)
#   KTS_SERVER_IMAGE  server image tag (default keras-to-serving/server:latest)
#   DEBIAN_MIRROR     mirror for debootstrap (default: the first one apt uses, else deb.debian.org)
#   PYTHON            interpreter whose pip builds the wheelhouse (default .venv/bin/python, else python3);
#                     it must be CPython 3.11 like Debian bookworm's python3.
# Exit status: 0 ready; 3 no Docker daemon could be started (callers may skip Docker work); 1 other error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KTS_CACHE_DIR:-$HOME/.cache/keras-to-serving}"
BASE_IMAGE="${KTS_BASE_IMAGE:-keras-to-serving/base:bookworm}"
SERVER_IMAGE="${KTS_SERVER_IMAGE:-keras-to-serving/server:latest}"
TOOLS_IMAGE="keras-to-serving/busybox:static"   # deploy/image/model_image.py's LOCAL_TOOLS_IMAGE
DEB_PACKAGES="python3,python3-venv,libgomp1"

log() { printf '[docker_setup %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
    command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

start_daemon() {
    if docker info >/dev/null 2>&1; then
        return 0
    fi
    command -v dockerd >/dev/null || { log "dockerd is not installed"; return 3; }
    mkdir -p "$CACHE"
    log "no Docker daemon answers; starting dockerd --bridge=none --iptables=false (log: $CACHE/dockerd.log)"
    # setsid: the daemon must outlive this script and the shell that ran it.
    as_root setsid dockerd --bridge=none --iptables=false >"$CACHE/dockerd.log" 2>&1 < /dev/null &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && { log "dockerd is up"; return 0; }
        sleep 0.5
    done
    log "dockerd did not come up; last lines of its log:"
    tail -n 5 "$CACHE/dockerd.log" >&2 || true
    return 3
}

debian_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    uri="$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v security | head -n 1 | awk '{print $2}')" || true
    echo "${uri:-http://deb.debian.org/debian}"
}

build_base_image() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        return 0
    fi
    local tarball="$CACHE/bookworm-minbase.tar"
    if [ ! -s "$tarball" ]; then
        local rootfs="$CACHE/rootfs.tmp"
        as_root rm -rf "$rootfs"
        log "debootstrap --variant=minbase bookworm (+$DEB_PACKAGES) from $(debian_mirror)"
        as_root debootstrap --variant=minbase --include="$DEB_PACKAGES" bookworm "$rootfs" "$(debian_mirror)" \
            >"$CACHE/debootstrap.log" 2>&1 || { tail -n 20 "$CACHE/debootstrap.log" >&2; return 1; }
        as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        as_root tar -C "$rootfs" --numeric-owner -cf "$tarball.part" .
        mv "$tarball.part" "$tarball"
        as_root rm -rf "$rootfs"
    fi
    log "docker import $tarball as $BASE_IMAGE"
    docker import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' "$tarball" "$BASE_IMAGE" >/dev/null
}

build_tools_image() {
    # A static busybox on scratch (Debian's busybox-static): what `python -m deploy.image.model_image`
    # copies into model images where the upstream busybox image cannot be pulled.
    if docker image inspect "$TOOLS_IMAGE" >/dev/null 2>&1; then
        return 0
    fi
    local dir="$CACHE/busybox"
    if [ ! -x "$dir/bin/busybox" ]; then
        log "apt-get download busybox-static"
        rm -rf "$dir" && mkdir -p "$dir/deb"
        (cd "$dir/deb" && apt-get download busybox-static >/dev/null 2>&1) \
            || { as_root apt-get update -qq && (cd "$dir/deb" && apt-get download busybox-static >/dev/null 2>&1); } \
            || { log "cannot download busybox-static"; return 1; }
        dpkg-deb -x "$dir"/deb/busybox-static_*.deb "$dir/root"
        mkdir -p "$dir/bin" && cp "$dir/root/bin/busybox" "$dir/bin/busybox"
    fi
    printf 'FROM scratch\nCOPY bin/busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' > "$dir/Dockerfile"
    log "docker build $TOOLS_IMAGE"
    DOCKER_BUILDKIT=0 docker build -q --network none -t "$TOOLS_IMAGE" "$dir" >/dev/null 2>&1 \
        || { log "building $TOOLS_IMAGE failed"; return 1; }
}

python_for_wheels() {
    local py="${PYTHON:-}"
    if [ -z "$py" ]; then
        if [ -x "$ROOT/.venv/bin/python" ]; then py="$ROOT/.venv/bin/python"; else py=python3; fi
    fi
    local version
    version="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [ "$version" != "3.11" ]; then
        log "$py is Python $version; the image's Debian bookworm python3 is 3.11: set PYTHON to a 3.11 interpreter"
        return 1
    fi
    echo "$py"
}

build_wheelhouse() {
    # The server's dependencies (the [server] extra: no Keras, no Docker SDK), keyed by pyproject.toml
    # so a changed dependency list gets a fresh set; the project's own wheel is rebuilt every time.
    local py key
    py="$(python_for_wheels)"
    key="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    WHEELHOUSE="$CACHE/wheelhouse-$key"
    if [ ! -f "$WHEELHOUSE/deps/.complete" ]; then
        log "pip wheel: dependencies of the project's [server] extra into $WHEELHOUSE/deps"
        rm -rf "$WHEELHOUSE/deps"
        mkdir -p "$WHEELHOUSE/deps"
        "$py" -m pip wheel -q --disable-pip-version-check --wheel-dir "$WHEELHOUSE/deps" "$ROOT[server]" 2>&1 \
            | grep -vE "is ignored: it is neither|BuildBackendWarning|return '.n'.join" >&2 || true
        rm -f "$WHEELHOUSE"/deps/keras_to_serving-*.whl
        ls "$WHEELHOUSE"/deps/tensorflow-*.whl >/dev/null 2>&1 || { log "pip wheel did not produce tensorflow"; return 1; }
        touch "$WHEELHOUSE/deps/.complete"
        find "$CACHE" -maxdepth 1 -name 'wheelhouse-*' ! -path "$WHEELHOUSE" -exec rm -rf {} +  # superseded
    fi
    rm -rf "$WHEELHOUSE/project"
    mkdir -p "$WHEELHOUSE/project"
    "$py" -m pip wheel -q --disable-pip-version-check --no-deps \
        --wheel-dir "$WHEELHOUSE/project" "$ROOT" 2>&1 | grep -vE "BuildBackendWarning|return '.n'.join" >&2 || true
    ls "$WHEELHOUSE"/project/*.whl >/dev/null
}

source_hash() {
    # What the server image is built from: the packaged sources, the Dockerfile and the dependency list.
    (cd "$ROOT" && find protocol export serving clients deploy/__init__.py deploy/image pyproject.toml -type f \
        -not -path '*/__pycache__/*' -print0 \
        | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-32)
}

build_server_image() {
    local hash
    hash="$(source_hash)"
    if [ "$(docker image inspect -f '{{index .Config.Labels "keras-to-serving.source"}}' "$SERVER_IMAGE" 2>/dev/null)" = "$hash" ]; then
        log "$SERVER_IMAGE is up to date with the sources"
        return 0
    fi
    build_wheelhouse
    log "docker build $SERVER_IMAGE (BASE=$BASE_IMAGE, no network inside the build)"
    local output rc=0
    output="$(DOCKER_BUILDKIT=0 docker build -q --network none --label "keras-to-serving.source=$hash" \
        --build-arg BASE="$BASE_IMAGE" -f "$ROOT/deploy/image/Dockerfile" -t "$SERVER_IMAGE" "$WHEELHOUSE" 2>&1)" || rc=$?
    if [ $rc -ne 0 ]; then
        printf '%s\n' "$output" | grep -vE "DEPRECATED: The legacy builder|BuildKit is currently disabled|environment-variable" >&2
        log "docker build failed"
        return 1
    fi
    # Earlier builds of the server image are now untagged; the deps stage stays cached.
    docker image prune -f --filter label=keras-to-serving.source >/dev/null 2>&1 || true
    log "built $SERVER_IMAGE"
}

main() {
    local started=$SECONDS
    install_packages
    local rc=0
    start_daemon || rc=$?
    if [ $rc -ne 0 ]; then
        log "Docker cannot start here; Docker-based steps skipped"
        exit $rc
    fi
    if [ "${1:-}" = "--daemon" ]; then
        exit 0
    fi
    mkdir -p "$CACHE"
    build_base_image
    build_tools_image
    build_server_image
    log "ready in $((SECONDS - started)) s: base $BASE_IMAGE, tools $TOOLS_IMAGE, server $SERVER_IMAGE"
}

main "$@"
