#!/usr/bin/env bash
# Ground truth for BuildKit's inline cache (issue 13): build HEALTHY inline-cache images with the
# real dockerd 20.10 and its BuildKit, make POISONED sources from some of them (only the record
# indices of the cache rewritten as BuildKit v0.8.0/v0.8.1 wrote them after a registry import),
# and rebuild with --cache-from the poisoned image: the CORRUPT rebuild loses the layer no record
# claims (the seed's lost `COPY rootfs /`). Every archive and what the engine reported about it
# is recorded in OUTDIR/poisoned-cache/TRUTH.json (tools/poisoned_cache.py writes it).
#
#   tools/poisoned-cache.sh OUTDIR        # writes OUTDIR/poisoned-cache/ (e.g. /tmp/imageforensics-real)
#
# Debian, root. Installs docker.io and busybox-static if missing (and docker-registry for the
# registry path, which is skipped when it cannot be had). Starts its own dockerd (and registry,
# listening on 127.0.0.1 only) under a private temp dir and stops them by the PIDs it started.
# No network: the base image is a `docker import` of a busybox-static rootfs. Re-running reuses
# the result while this script, its helper and dockerd's version are unchanged. About 1 minute.
#
# Exit status: 0 archives ready; 3 the tools cannot be installed or started (skip); anything
# else is a failure of this script. Whether the corruption reproduced is recorded, not fatal.
set -Eeuo pipefail
umask 022
trap 'echo "[poisoned-cache] error (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

EXIT_UNAVAILABLE=3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
HELPER=$here/poisoned_cache.py

say() { printf '[poisoned-cache %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
unavailable() { say "TOOLS UNAVAILABLE: $*"; exit "$EXIT_UNAVAILABLE"; }
die() { say "FAILED: $*"; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1"
TOP=$(cd "$1" && pwd -P)
case "$TOP/" in
    "$(cd "$repo" && pwd -P)"/*) die "OUTDIR $TOP is inside the repository $repo; give a folder outside it" ;;
esac
FINAL=$TOP/poisoned-cache
mkdir -p "$TOP/.state"
LOG=$TOP/.state/poisoned-cache.log
STAMP=$TOP/.state/poisoned-cache.done

# ---------------------------------------------------------------- prerequisites
[ "$(id -u)" = 0 ] || unavailable "not root (apt-get and dockerd need root)"
[ -r /etc/debian_version ] || unavailable "not a Debian machine (/etc/debian_version missing)"
command -v python3 >/dev/null || unavailable "python3 missing"

DOCKER=/usr/bin/docker          # Debian's client, matching the daemon (not a newer one on PATH)
DOCKERD=/usr/sbin/dockerd
REGISTRY=/usr/bin/docker-registry
apt_install() {  # apt_install PACKAGE...: quietly, waiting for another apt-get's lock
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >>"$LOG" 2>&1 && return 0
    apt-get -o DPkg::Lock::Timeout=600 update >>"$LOG" 2>&1 || return 1
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >>"$LOG" 2>&1
}
if [ ! -x "$DOCKER" ] || [ ! -x "$DOCKERD" ] || [ ! -x /bin/busybox ]; then
    say "installing docker.io, busybox-static (apt-get; log in $LOG)"
    apt_install docker.io containerd runc busybox-static iptables \
        || unavailable "apt-get install docker.io failed (see $LOG)"
fi
if [ ! -x "$REGISTRY" ]; then
    # The registry is optional: without it the registry path is recorded as skipped.
    say "installing docker-registry (apt-get; log in $LOG)"
    apt_install docker-registry || say "docker-registry could not be installed (see $LOG)"
fi

DOCKERD_VERSION=$("$DOCKERD" --version | sed 's/^Docker version //; s/,.*//')
key=$(cat "${BASH_SOURCE[0]}" "$HELPER" | sha256sum | cut -c1-32)
key="$key $DOCKERD_VERSION"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ] && [ -f "$FINAL/TRUTH.json" ]; then
    say "reusing $FINAL (same script, helper and dockerd $DOCKERD_VERSION)"
    exit 0
fi

# ---------------------------------------------------------------- work area
mkdir -p "$TOP/.work"
W=$(mktemp -d "$TOP/.work/poison.XXXXXX")
EXEC=$W/exec
if [ ${#EXEC} -gt 60 ]; then EXEC=$(mktemp -d /tmp/ifpc.XXXXXX); fi
OUT=$TOP/poisoned-cache.tmp       # moved to $FINAL when complete
rm -rf "$OUT" "$STAMP"
mkdir -p "$OUT"
RECORDS=$OUT/records.jsonl   # what the run did; `poisoned_cache.py truth DIR DIR/records.jsonl` re-derives TRUTH.json
: >"$RECORDS"
DOCKERD_PID=""
REGISTRY_PID=""

stop_pid() {  # stop_pid PID NAME: TERM, wait up to 30 s, then KILL
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    say "stopping $2 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    stop_pid "$REGISTRY_PID" docker-registry
    if [ -n "$DOCKERD_PID" ]; then
        stop_pid "$DOCKERD_PID" dockerd
        # dockerd runs its own containerd as a child; make sure that one is gone too.
        if [ -s "$EXEC/containerd/containerd.pid" ]; then
            stop_pid "$(cat "$EXEC/containerd/containerd.pid")" containerd
        fi
    fi
    awk -v w="$W/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$W" 2>/dev/null || true
    [ "$EXEC" != "$W/exec" ] && rm -rf "$EXEC" 2>/dev/null || true
    [ $rc -eq 0 ] || rm -rf "$OUT" 2>/dev/null || true
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run() {  # run CMD... with output to the log; fail loudly with the log tail
    echo "+ $*" >>"$LOG"
    if ! "$@" >>"$LOG" 2>&1; then
        say "command failed: $*"
        tail -n 25 "$LOG" | sed 's/^/    | /'
        return 1
    fi
}
py() { python3 "$HELPER" "$@"; }

export DOCKER_HOST=unix://$W/docker.sock
start_dockerd() {
    say "starting a private dockerd $DOCKERD_VERSION (vfs) under $W"
    mkdir -p "$W/root" "$EXEC"
    "$DOCKERD" --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
        --experimental --data-root "$W/root" --exec-root "$EXEC" --pidfile "$W/dockerd.pid" \
        -H "unix://$W/docker.sock" >"$W/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 120); do
        "$DOCKER" version >/dev/null 2>&1 && break
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.5
    done
    if ! "$DOCKER" version >/dev/null 2>&1; then
        tail -n 20 "$W/dockerd.log" | sed 's/^/    | /'
        unavailable "dockerd did not start"
    fi
}

start_registry() {  # a private registry on 127.0.0.1; sets REG (host:port) or returns 1
    [ -x "$REGISTRY" ] || return 1
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$W/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $W/registry-data
http:
  addr: 127.0.0.1:$port
EOF
    "$REGISTRY" serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
    REGISTRY_PID=$!
    for _ in $(seq 60); do
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
            "http://127.0.0.1:$port/v2/" 2>/dev/null && { REG=127.0.0.1:$port; return 0; }
        kill -0 "$REGISTRY_PID" 2>/dev/null || break
        sleep 0.5
    done
    cat "$W/registry.log" >>"$LOG"
    return 1
}

warnings() { grep -c "invalid image config with unaccounted layers" "$W/dockerd.log" || true; }

# build NAME REF CONTEXT [DOCKER-BUILD-ARGS...]: a BuildKit build with the inline cache; its log
# and the dockerd warnings it caused go next to the archive that save_image writes for NAME.
build() {
    local name=$1 ref=$2 ctx=$3; shift 3
    local before; before=$(warnings)
    mkdir -p "$W/logs"
    echo "+ docker build $* -t $ref $ctx" >>"$LOG"
    if ! DOCKER_BUILDKIT=1 "$DOCKER" build --network none --progress plain \
        --build-arg BUILDKIT_INLINE_CACHE=1 "$@" -t "$ref" "$ctx" >"$W/logs/$name.build.log" 2>&1; then
        cat "$W/logs/$name.build.log" >>"$LOG"
        die "docker build of $ref failed (see $LOG)"
    fi
    cat "$W/logs/$name.build.log" >>"$LOG"
    echo $(( $(warnings) - before )) >"$W/logs/$name.warnings"
}

# save_image NAME ROLE REF REL HOW [KEY=VALUE...]: docker save (unless REL exists: an archive
# written by poisoned_cache.py), reports, and one record for TRUTH.json.
save_image() {
    local name=$1 role=$2 ref=$3 rel=$4 how=$5; shift 5
    local dir=$OUT/$rel.reports
    mkdir -p "$(dirname "$OUT/$rel")" "$dir"
    [ -e "$OUT/$rel" ] || run "$DOCKER" save -o "$OUT/$rel" "$ref"
    "$DOCKER" image inspect "$ref" >"$dir/docker-inspect.json"
    "$DOCKER" history --no-trunc --format '{{json .}}' "$ref" >"$W/history.jsonl"
    py lines-to-array "$W/history.jsonl" "$dir/docker-history.json"
    "$DOCKER" history --no-trunc --human=false "$ref" >"$dir/docker-history.txt"
    local reports="{\"docker_inspect\": \"$rel.reports/docker-inspect.json\", \"docker_history\": \"$rel.reports/docker-history.json\", \"docker_history_text\": \"$rel.reports/docker-history.txt\""
    local extra=()
    if [ -f "$W/logs/$name.build.log" ]; then
        cp "$W/logs/$name.build.log" "$dir/build.log"
        reports="$reports, \"build_log\": \"$rel.reports/build.log\""
        extra+=("dockerd_warnings=$(cat "$W/logs/$name.warnings")")
        extra+=("build_log_pulling=$(py pulled "$dir/build.log")")
    fi
    py record "$RECORDS" kind=image name="$name" role="$role" ref="$ref" archive="$rel" how="$how" \
        "reports=$reports}" "${extra[@]}" "$@"
}

# ls_check NAME REF PATH: does the image hold PATH? (docker run ls, the seed's own test)
ls_check() {
    local rc=0 outp
    outp=$("$DOCKER" run --rm --network none --entrypoint /bin/ls "$2" -l "$3" 2>&1) || rc=$?
    py record "$RECORDS" kind=ls_check name="$1" ref="$2" path="$3" exit_status="$rc" output="$outp"
}

# ---------------------------------------------------------------- build contexts
make_contexts() {
    local C=$OUT/contexts
    rm -rf "$C"; mkdir -p "$C"
    # The base: a busybox-static root filesystem for `docker import` (RUN needs a shell).
    local R=$W/rootfs
    # /dev, /proc, /sys: else the first RUN step's layer holds these mount points and is not empty.
    mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root" "$R/dev" "$R/proc" "$R/sys"
    cp /bin/busybox "$R/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$R/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
    printf 'root:x:0:\n' >"$R/etc/group"
    chmod 1777 "$R/tmp"

    # seed: the seed's shape. One empty layer (WORKDIR of a directory RUN made) and a metadata
    # step (EXPOSE) before a final COPY of a tree: the poison shifts the COPY's index by one.
    mkdir -p "$C/seed/rootfs/usr/local/bin" "$C/seed/rootfs/etc/app" "$C/seed/rootfs/opt/tomcat/conf"
    printf '#!/bin/sh\necho install\n' >"$C/seed/rootfs/usr/local/bin/install-war-into-tomcat.sh"
    chmod 755 "$C/seed/rootfs/usr/local/bin/install-war-into-tomcat.sh"
    echo "setting=1" >"$C/seed/rootfs/etc/app/app.conf"
    echo "<Context/>" >"$C/seed/rootfs/opt/tomcat/conf/context.xml"
    cat >"$C/seed/Dockerfile" <<'EOF'
FROM pc/base:1
RUN mkdir -p /opt/tomcat && echo "server" > /opt/tomcat/server.xml
WORKDIR /opt/tomcat
EXPOSE 8080
COPY rootfs /
EOF

    # two-empty: two empty layers (WORKDIR, RUN true) and ENV before the final COPY: shift two.
    mkdir -p "$C/two-empty/app/lib"
    echo "main" >"$C/two-empty/app/main.sh"
    echo "lib" >"$C/two-empty/app/lib/lib.sh"
    cat >"$C/two-empty/Dockerfile" <<'EOF'
FROM pc/base:1
RUN mkdir -p /srv/app && echo v1 > /srv/app/version
WORKDIR /srv/app
RUN true
ENV MODE=prod
COPY app/ /srv/app/
EOF

    # empty-last: the empty layer is the last step; the poison loses only that empty layer.
    mkdir -p "$C/empty-last/conf"
    echo "a=1" >"$C/empty-last/conf/a.conf"
    cat >"$C/empty-last/Dockerfile" <<'EOF'
FROM pc/base:1
COPY conf/ /etc/conf/
RUN true
EOF

    # add: ADD of a local tarball (unpacked) and of plain files, a final ADD after an empty layer.
    mkdir -p "$W/pkg/pkg/doc"
    echo "from the tarball" >"$W/pkg/pkg/doc/readme.txt"
    echo "bin" >"$W/pkg/pkg/tool"
    mkdir -p "$C/add"
    tar --sort=name --mtime=@1600000000 --owner=0 --group=0 --numeric-owner -C "$W/pkg" -czf "$C/add/pkg.tar.gz" pkg
    echo "plain" >"$C/add/plain.txt"
    echo "last" >"$C/add/last.txt"
    cat >"$C/add/Dockerfile" <<'EOF'
FROM pc/base:1
ADD pkg.tar.gz /opt/
ADD plain.txt /opt/plain.txt
WORKDIR /opt
ADD last.txt /opt/last.txt
EOF

    # multistage: COPY --from a build stage (whose own layers are not in the image), an empty
    # layer in both stages, a final COPY.
    mkdir -p "$C/multistage"
    echo "extra" >"$C/multistage/extra.txt"
    cat >"$C/multistage/Dockerfile" <<'EOF'
FROM pc/base:1 AS build
RUN mkdir -p /out/bin && echo built > /out/artifact.txt && cp /bin/busybox /out/bin/busybox
WORKDIR /out
RUN true
FROM pc/base:1
WORKDIR /tmp
COPY --from=build /out/ /app/
ENV PATH=/app/bin:/bin
COPY extra.txt /app/extra.txt
EOF

    # noempty: no empty layer; ENV, EXPOSE, LABEL, CMD are not layers.
    mkdir -p "$C/noempty/files"
    echo "hello" >"$C/noempty/files/hello.txt"
    cat >"$C/noempty/Dockerfile" <<'EOF'
FROM pc/base:1
ENV APP=/app
RUN mkdir -p /app && echo hi > /app/hi.txt
EXPOSE 80
COPY files/ /app/files/
LABEL org.example.case=noempty
CMD ["cat", "/app/hi.txt"]
EOF

    # empty-first: the first step is empty (WORKDIR of a directory the base has).
    mkdir -p "$C/empty-first"
    echo "note" >"$C/empty-first/note.txt"
    cat >"$C/empty-first/Dockerfile" <<'EOF'
FROM pc/base:1
WORKDIR /tmp
RUN echo data > /tmp/data.txt
COPY note.txt /tmp/note.txt
EOF

    # scratch: no base layer, so a record claims index 0; an empty layer in the middle.
    mkdir -p "$C/scratch/data"
    echo "one" >"$C/scratch/data/one.txt"
    echo "more" >"$C/scratch/more.txt"
    cat >"$C/scratch/Dockerfile" <<'EOF'
FROM scratch
COPY data/ /data/
WORKDIR /data
COPY more.txt /data/more.txt
EOF
}

# ---------------------------------------------------------------- the cases
# poison_case CASE COPY_SRC COPY_DEST LS_PATH: poisoned source from healthy/CASE.tar, then the
# rebuild from it (and from that rebuild). COPY_SRC/COPY_DEST: the final step's context source
# and destination (empty when the final step copies nothing); LS_PATH: a file it copied.
poison_case() {
    local case=$1 copy_src=$2 copy_dest=$3 ls_path=$4
    local ctx=$OUT/contexts/$case poisoned=pc/$case:poisoned
    say "$case: poisoned source, rebuild from it, rebuild from the rebuild"
    mkdir -p "$OUT/poisoned" "$OUT/corrupt"
    py poison "$OUT/healthy/$case.tar" "$OUT/poisoned/$case.tar" "$poisoned" >"$W/poisoned.id"
    run "$DOCKER" load -i "$OUT/poisoned/$case.tar"
    [ "$("$DOCKER" image inspect --format '{{.Id}}' "$poisoned")" = "$(cat "$W/poisoned.id")" ] \
        || die "docker load of poisoned/$case.tar gave another image ID"
    save_image "$case.poisoned" poisoned "$poisoned" "poisoned/$case.tar" \
        "tools/poisoned_cache.py poison healthy/$case.tar (record indices as BuildKit v0.8.0/0.8.1 wrote them); docker load" \
        derived_from="$case.healthy"
    # Nothing else may supply the layers: no build cache, no healthy image.
    run "$DOCKER" builder prune -af
    run "$DOCKER" rmi "pc/$case:healthy"
    build "$case.rebuilt" "pc/$case:rebuilt" "$ctx" --cache-from "$poisoned"
    save_image "$case.rebuilt" corrupt "pc/$case:rebuilt" "corrupt/$case.rebuilt.tar" \
        "builder prune -af; rmi pc/$case:healthy; docker build --cache-from $poisoned" derived_from="$case.poisoned"
    [ -z "$ls_path" ] || ls_check "$case.rebuilt" "pc/$case:rebuilt" "$ls_path"
    # The corrupt image's own cache carries the poison on.
    run "$DOCKER" builder prune -af
    run "$DOCKER" rmi "$poisoned"
    build "$case.rebuilt-again" "pc/$case:rebuilt-again" "$ctx" --cache-from "pc/$case:rebuilt"
    save_image "$case.rebuilt-again" corrupt "pc/$case:rebuilt-again" "corrupt/$case.rebuilt-again.tar" \
        "builder prune -af; rmi $poisoned; docker build --cache-from pc/$case:rebuilt" derived_from="$case.rebuilt"
    local corrupt='["'$case'.rebuilt", "'$case'.rebuilt-again"'
    if [ "$case" = seed ]; then
        REGISTRY_DONE=0
        registry_path "$case" "$ls_path"
        [ "$REGISTRY_DONE" = 1 ] && corrupt="$corrupt"', "'$case'.rebuilt-registry"'
    fi
    local controls='[]'
    [ "$case" = seed ] && controls='["seed.control"]'
    py record "$RECORDS" kind=case case="$case" context="contexts/$case" healthy="$case.healthy" \
        poisoned="$case.poisoned" "corrupt=$corrupt]" "controls=$controls" \
        copy_src="$copy_src" copy_dest="$copy_dest" ls_path="$ls_path"
}

# registry_path CASE LS_PATH: the bug's own path. Push the poisoned source to a registry on
# 127.0.0.1 (the empty layer goes up as the 4f4fb700 gzip blob), remove every local image of the
# case and the build cache, and build --cache-from the registry image. Sets REGISTRY_DONE=1.
registry_path() {
    local case=$1 ls_path=$2
    if ! start_registry; then
        say "SKIPPED registry path: docker-registry is not available or did not start (see $LOG)"
        py record "$RECORDS" kind=skipped section=registry-path \
            reason="docker-registry is not available or did not start"
        return 0
    fi
    say "$case: registry path via $REG"
    local remote=$REG/pc/$case:poisoned
    run "$DOCKER" load -i "$OUT/poisoned/$case.tar"
    run "$DOCKER" tag "pc/$case:poisoned" "$remote"
    run "$DOCKER" push "$remote"
    py registry-manifest "http://$REG/v2/pc/$case/manifests/poisoned" "$OUT/poisoned/$case.tar.reports/registry-manifest.json"
    run "$DOCKER" rmi "pc/$case:poisoned" "$remote" "pc/$case:rebuilt" "pc/$case:rebuilt-again"
    run "$DOCKER" builder prune -af
    build "$case.rebuilt-registry" "pc/$case:rebuilt-registry" "$OUT/contexts/$case" --cache-from "$remote"
    save_image "$case.rebuilt-registry" corrupt "pc/$case:rebuilt-registry" "corrupt/$case.rebuilt-registry.tar" \
        "docker push $remote (docker-registry $REGISTRY_VERSION); rmi every pc/$case image; builder prune -af; docker build --cache-from $remote" \
        derived_from="$case.poisoned" registry_manifest="poisoned/$case.tar.reports/registry-manifest.json"
    [ -z "$ls_path" ] || ls_check "$case.rebuilt-registry" "pc/$case:rebuilt-registry" "$ls_path"
    stop_pid "$REGISTRY_PID" docker-registry
    REGISTRY_PID=""
    REGISTRY_DONE=1
}

# ================================================================ main
T0=$SECONDS
say "writing into $FINAL"
start_dockerd
make_contexts
tar --sort=name --mtime=@1600000000 --owner=0 --group=0 --numeric-owner -C "$W/rootfs" -cf "$W/rootfs.tar" .
run "$DOCKER" import -c 'CMD ["/bin/sh"]' -m "busybox-static rootfs" "$W/rootfs.tar" pc/base:1
if ! "$DOCKER" run --rm --network none pc/base:1 /bin/true >>"$LOG" 2>&1; then
    unavailable "dockerd cannot start a container here (runc); see $LOG"
fi
REGISTRY_VERSION=$([ -x "$REGISTRY" ] && "$REGISTRY" --version 2>/dev/null | awk '{print $NF}' || echo none)

say "healthy: building the inline-cache images"
cases="seed two-empty empty-last add multistage noempty empty-first scratch"
for c in $cases; do
    build "$c.healthy" "pc/$c:healthy" "$OUT/contexts/$c"
    save_image "$c.healthy" healthy "pc/$c:healthy" "healthy/$c.tar" \
        "docker build --build-arg BUILDKIT_INLINE_CACHE=1 contexts/$c" dockerfile="contexts/$c/Dockerfile"
done
ls_check seed.healthy pc/seed:healthy /usr/local/bin/install-war-into-tomcat.sh

# Control: a rebuild from the healthy cache keeps every layer.
run "$DOCKER" builder prune -af
build seed.control pc/seed:control "$OUT/contexts/seed" --cache-from pc/seed:healthy
save_image seed.control control pc/seed:control healthy/seed.control.tar \
    "builder prune -af; docker build --cache-from pc/seed:healthy" derived_from=seed.healthy
run "$DOCKER" rmi pc/seed:control

poison_case seed rootfs / /usr/local/bin/install-war-into-tomcat.sh
poison_case two-empty app/ /srv/app/ /srv/app/main.sh
poison_case empty-last "" "" ""
poison_case add last.txt /opt/last.txt /opt/last.txt
poison_case multistage extra.txt /app/extra.txt /app/extra.txt

meta=$(python3 -c 'import json, sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' \
    dockerd "$DOCKERD_VERSION" docker_client "$("$DOCKER" version --format '{{.Client.Version}}')" \
    dockerd_vendored_buildkit "$(grep -q -a 'remotecache/v1.EmptyLayerRemovalSupported' "$DOCKERD" \
        && echo 'v0.8.2 or later (has v1.EmptyLayerRemovalSupported, the fix of BuildKit PR #1993)' \
        || echo 'unknown (no v1.EmptyLayerRemovalSupported symbol)')" \
    docker_registry "$REGISTRY_VERSION" \
    dockerd_log_warning "invalid image config with unaccounted layers")
py record "$RECORDS" kind=meta "versions=$meta" took_seconds=$((SECONDS - T0))
py truth "$OUT" "$RECORDS"
cp "$W/dockerd.log" "$OUT/dockerd.log"

rm -rf "$FINAL"
mv "$OUT" "$FINAL"
printf '%s' "$key" >"$STAMP"
say "done in $((SECONDS - T0)) s: $FINAL/TRUTH.json"
