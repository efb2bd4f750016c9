#!/usr/bin/env bash
# Build a varied set of images with the real tools (dockerd 20.10 with BuildKit
# and the classic builder, containerd's ctr, buildah, podman, skopeo, umoci),
# save them in every layout those tools write, and record next to each archive
# what the tool itself reports about it. tests/interop compares imageforensics'
# reading of these archives with those reports. The pairs stage makes pairs of
# images for the diff (hardlinks, buildah/podman squashes, builders' spellings,
# the first diverging step, corrupt copies, versions), each with its truth read
# from the layer tars (MANIFEST.json "pairs", "pair_archives").
#
#   tools/real-archives.sh OUTDIR
#
# Debian, root. Installs what it needs with apt-get. Starts its own dockerd with
# everything under a private temp dir and stops it by the PID it started. No
# registry, no network: base images come from `docker import` of a
# busybox-static rootfs, or FROM scratch. Writes only under OUTDIR (which must
# be outside the repository); re-running reuses every stage already done.
#
# Exit status: 0 archives ready; 3 the tools cannot be installed or started
# (the interop tier is skipped); anything else is a failure of this script.
set -Eeuo pipefail
umask 022
trap 'echo "[real-archives] error (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

EXIT_UNAVAILABLE=3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
script_sha=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)

say() { printf '[real-archives %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
unavailable() { say "TOOLS UNAVAILABLE: $*"; exit "$EXIT_UNAVAILABLE"; }
die() { say "FAILED: $*"; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1"
OUT=$(cd "$1" && pwd -P)
case "$OUT/" in
    "$(cd "$repo" && pwd -P)"/*) die "OUTDIR $OUT is inside the repository $repo; give a folder outside it" ;;
esac
STATE=$OUT/.state
mkdir -p "$STATE"
LOG=$STATE/log.txt
: >>"$LOG"

# ---------------------------------------------------------------- prerequisites
[ "$(id -u)" = 0 ] || unavailable "not root (apt-get and dockerd need root)"
[ -r /etc/debian_version ] || unavailable "not a Debian machine (/etc/debian_version missing)"
command -v python3 >/dev/null || unavailable "python3 missing"

DOCKER=/usr/bin/docker          # Debian's client, matching the daemon (not a newer one on PATH)
DOCKERD=/usr/sbin/dockerd
PACKAGES="docker.io containerd runc crun uidmap skopeo buildah podman umoci fuse-overlayfs
  slirp4netns containernetworking-plugins conmon catatonit golang-github-containers-common
  busybox-static iptables zstd xz-utils rpm"

need_install=0
for tool in "$DOCKER" "$DOCKERD" /usr/bin/ctr /usr/bin/skopeo /usr/bin/buildah /usr/bin/podman \
    /usr/bin/umoci /bin/busybox /usr/bin/zstd /usr/bin/xz /usr/bin/rpm /usr/bin/rpmbuild; do
    [ -x "$tool" ] || need_install=1
done
if [ "$need_install" = 1 ]; then
    say "installing Debian packages (apt-get; log in $LOG)"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt-get may hold the dpkg lock on a shared machine: wait for it.
    apt-get -o DPkg::Lock::Timeout=600 update >>"$LOG" 2>&1 \
        || unavailable "apt-get update failed (see $LOG)"
    # shellcheck disable=SC2086
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends $PACKAGES >>"$LOG" 2>&1 \
        || unavailable "apt-get install failed (see $LOG)"
fi

# ---------------------------------------------------------------- work area
# Everything temporary lives under OUTDIR/.work, except the daemon's exec-root
# when that path would make its unix sockets longer than the kernel allows.
mkdir -p "$OUT/.work"
W=$(mktemp -d "$OUT/.work/run.XXXXXX")
EXEC=$W/exec
if [ ${#EXEC} -gt 60 ]; then EXEC=$(mktemp -d /tmp/ifrt.XXXXXX); fi
DOCKERD_PID=""
PAIR_JOB=""   # the pairs stage's buildah/podman job, while it runs

cleanup() {
    local rc=$?
    if [ -n "$PAIR_JOB" ] && kill -0 "$PAIR_JOB" 2>/dev/null; then
        say "stopping the pairs stage's buildah/podman job (pid $PAIR_JOB)"
        local child
        for child in $(ps -o pid= --ppid "$PAIR_JOB" 2>/dev/null); do kill "$child" 2>/dev/null || true; done
        kill "$PAIR_JOB" 2>/dev/null || true
        wait "$PAIR_JOB" 2>/dev/null || true
    fi
    if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        say "stopping dockerd (pid $DOCKERD_PID)"
        kill "$DOCKERD_PID" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$DOCKERD_PID" 2>/dev/null || true
        # dockerd runs its own containerd as a child; make sure that one is gone too.
        if [ -s "$EXEC/containerd/containerd.pid" ]; then
            local cpid
            cpid=$(cat "$EXEC/containerd/containerd.pid")
            kill -0 "$cpid" 2>/dev/null && kill "$cpid" 2>/dev/null || true
        fi
    fi
    # Anything still mounted under the scratch area was mounted by this run
    # (the overlay store, dockerd's data-root): unmount it, deepest first.
    awk -v w="$W/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$W" 2>/dev/null || true
    [ "$EXEC" != "$W/exec" ] && rm -rf "$EXEC" 2>/dev/null || true
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

export DOCKER_HOST=unix://$W/docker.sock
export DOCKER_BUILDKIT=1
start_dockerd() {
    [ -n "$DOCKERD_PID" ] && return 0
    say "starting a private dockerd (vfs, experimental) under $W"
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
    CTR_SOCK=$EXEC/containerd/containerd.sock
}

CS=$W/cs
BUILDAH=(buildah --root "$CS/root" --runroot "$CS/run" --storage-driver vfs)
PODMAN=(podman --root "$CS/root" --runroot "$CS/run" --storage-driver vfs
    --cgroup-manager cgroupfs --events-backend file --tmpdir "$CS/tmp")
# A second store on the overlay driver: only overlay diffs write opaque
# directories (.wh..wh..opq); vfs diffs list a whiteout per deleted file.
BUILDAH_OV=(buildah --root "$CS/ovroot" --runroot "$CS/ovrun" --storage-driver overlay)
PODMAN_OV=(podman --root "$CS/ovroot" --runroot "$CS/ovrun" --storage-driver overlay
    --cgroup-manager cgroupfs --events-backend file --tmpdir "$CS/tmp")
export BUILDAH_ISOLATION=chroot
mkdir -p "$CS/tmp"

# ---------------------------------------------------------------- helpers (Python, stdlib only)
PYH=$W/helper.py
cat >"$PYH" <<'PY'
"""JSON bookkeeping for real-archives.sh: records, reports, the MANIFEST."""
import hashlib
import json
import os
import sys


def record(records_file, archive, layout, tool, kind, compression, images_json, notes):
    """Append one archive record (images: list of {name, lineage, spec, refs, reports})."""
    entry = {
        "path": archive,
        "layout": layout,
        "tool": tool,
        "kind": kind,
        "compression": compression,
        "images": json.loads(images_json),
        "notes": notes,
    }
    with open(records_file, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")


def lines_to_array(src, dst):
    """`docker history --format '{{json .}}'` prints JSON lines; store them as one array."""
    with open(src, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1, sort_keys=True)


def field(path, *keys):
    """Print a field of a JSON file (keys: names or integer indexes)."""
    with open(path, encoding="utf-8") as f:
        value = json.load(f)
    for key in keys:
        value = value[int(key)] if isinstance(value, list) else value[key]
    print(value if not isinstance(value, (dict, list)) else json.dumps(value))


def report_for(records_file, archive, lineage, key):
    """Print the path of report KEY of the image of LINEAGE in ARCHIVE's record."""
    with open(records_file, encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            if entry.get("path") == archive:
                for image in entry["images"]:
                    if image["lineage"] == lineage:
                        print(image["reports"][key])
                        return
    raise SystemExit(f"no {key} report for {lineage} in {archive}")


def origin_by_id(records_file, archive, image_id):
    """Print "LINEAGE NAME" of the image with this ID in ARCHIVE's record (by its docker inspect Id)."""
    with open(records_file, encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            if entry.get("path") != archive:
                continue
            for image in entry["images"]:
                with open(os.path.join(os.path.dirname(os.path.dirname(records_file)),
                                       image["reports"]["docker_inspect"]), encoding="utf-8") as g:
                    if json.load(g)[0]["Id"] == image_id:
                        print(image["lineage"], image["name"])
                        return
    raise SystemExit(f"no image {image_id} in {archive}")


def listing(rootfs, dst):
    """The unpacked root filesystem as umoci wrote it to disk: one row per path."""
    import stat
    rows = []
    inodes = {}
    for top, dirs, files in os.walk(rootfs):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(top, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, rootfs)
            row = {"path": rel, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                   "mtime_ns": st.st_mtime_ns}
            fmt = stat.S_IFMT(st.st_mode)
            if fmt == stat.S_IFREG:
                with open(full, "rb") as f:
                    row.update(type="file", size=st.st_size,
                               sha256="sha256:" + hashlib.sha256(f.read()).hexdigest())
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            elif fmt == stat.S_IFDIR:
                row["type"] = "dir"
            elif fmt == stat.S_IFLNK:
                row.update(type="symlink", link=os.readlink(full))
            elif fmt == stat.S_IFIFO:
                row["type"] = "fifo"
            elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
                row.update(type="char" if fmt == stat.S_IFCHR else "block",
                           devmajor=os.major(st.st_rdev), devminor=os.minor(st.st_rdev))
            else:
                row["type"] = "other"
            rows.append(row)
    groups = sorted(sorted(paths) for paths in inodes.values() if len(paths) > 1)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump({"entries": rows, "hardlink_groups": groups}, f, indent=0, sort_keys=True,
                  ensure_ascii=False)


def sha256_file(path):
    with open(path, "rb") as f:
        print("sha256:" + hashlib.sha256(f.read()).hexdigest())


def _records(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def manifest(out, versions_json, *records_files):
    """Write OUTDIR/MANIFEST.json from every stage's records.

    After "--pairs": the pairs stage's archive records (MANIFEST "pair_archives",
    kept out of "archives", which tests/interop takes as healthy images) and
    its pairs (MANIFEST "pairs").
    """
    pair_files = []
    if "--pairs" in records_files:
        i = records_files.index("--pairs")
        records_files, pair_files = records_files[:i], records_files[i + 1:]
    archives, skipped, rootfs, pair_archives, pairs, packages = [], [], {}, [], [], {}
    for rf in records_files:
        for entry in _records(rf):
            if "rootfs" in entry:
                rootfs[entry["rootfs"]] = entry
                continue
            if "packages" in entry:
                packages[entry["packages"]] = entry
                continue
            (skipped if "skipped" in entry else archives).append(entry)
    if pair_files:
        marks = {}
        for entry in _records(pair_files[0]):
            if "of" in entry:  # {"tampered": how, "of": path}: that archive is corrupt by design
                marks[entry["of"]] = entry["tampered"]
                continue
            (skipped if "skipped" in entry else pair_archives).append(entry)
        for entry in pair_archives:
            if entry["path"] in marks:
                entry["tampered"] = marks[entry["path"]]
        pairs = _records(pair_files[1])
    for entry in archives + pair_archives:
        for image in entry["images"]:
            for name, rel in image.get("reports", {}).items():
                if not os.path.exists(os.path.join(out, rel)):
                    raise SystemExit(f"{entry['path']}: report {name} missing: {rel}")
    recorded = {e["path"] for e in pair_archives}
    for p in pairs:
        for side in ("a", "b"):
            if p[side]["path"] not in recorded:
                raise SystemExit(f"pair {p['pair']}: {p[side]['path']} is not a recorded pair archive")
    doc = {
        "generator": "tools/real-archives.sh",
        "versions": json.loads(versions_json),
        "archives": sorted(archives, key=lambda e: e["path"]),
        "skipped": skipped,
        "rootfs": rootfs,
        "pair_archives": sorted(pair_archives, key=lambda e: e["path"]),
        "pairs": pairs,
        "packages": packages,
    }
    extra = os.path.join(out, ".state", "facts.json")
    if os.path.exists(extra):
        with open(extra, encoding="utf-8") as f:
            doc["facts"] = json.load(f)
    tmp = os.path.join(out, "MANIFEST.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "MANIFEST.json"))
    print(f"{len(archives)} archives, {sum(len(e['images']) for e in archives)} images, "
          f"{len(pair_archives)} pair archives, {len(pairs)} pairs, {len(skipped)} skipped sections")


def fact(out, key, value_json):
    """Record a fact about the run (e.g. whether the cache-from corruption reproduced)."""
    path = os.path.join(out, ".state", "facts.json")
    facts = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            facts = json.load(f)
    facts[key] = json.loads(value_json)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(facts, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
PY
py() { python3 "$PYH" "$@"; }

# Stages are idempotent: each writes a stamp holding this script's hash and the
# stamps of the stages it derives from; a stage whose stamp matches is reused.
stamp_of() { cat "$STATE/$1.done" 2>/dev/null || true; }
stage_key() {  # stage_key STAGE DEPS... -> the stamp this stage should have
    local s=$1; shift
    # The stage's own code (and the shared helpers') decides whether its outputs are stale.
    local code
    code=$(declare -f "stage_$s" make_contexts docker_build docker_save img \
        commit_record skopeo_reports docker_reports podman_reports umoci_reports | sha256sum | cut -c1-16)
    local k="$s $code"
    for d in "$@"; do k="$k|$(stamp_of "$d" | cut -c1-200)"; done
    printf '%s' "$k" | sha256sum | cut -c1-32
}
stage_done() { [ -f "$STATE/$1.done" ] && [ "$(stamp_of "$1")" = "$2" ]; }
stage_begin() {  # remove the stage's previous outputs (and the index naming them)
    rm -f "$OUT/MANIFEST.json" "$STATE/$1.done" "$STATE/$1.records.jsonl"
    rm -rf "${OUT:?}/$1"
    mkdir -p "$OUT/$1"
}
stage_finish() { printf '%s' "$2" >"$STATE/$1.done"; }
skip_section() {  # skip_section STAGE SECTION REASON: recorded in MANIFEST.json "skipped"
    say "SKIPPED $2: $3"
    python3 -c 'import json,sys; print(json.dumps({"skipped": sys.argv[1], "reason": sys.argv[2]}))' \
        "$2" "$3" >>"$STATE/$1.records.jsonl"
}

# images_json collects the per-image records of the archive being written.
IMAGES=()
img() {  # img NAME LINEAGE SPEC REFS_CSV REPORT=PATH... (paths relative to OUT)
    local name=$1 lineage=$2 spec=$3 refs=$4; shift 4
    IMAGES+=("$(python3 - "$name" "$lineage" "$spec" "$refs" "$@" <<'PY'
import json, sys
name, lineage, spec, refs, *reports = sys.argv[1:]
print(json.dumps({
    "name": name, "lineage": lineage, "skopeo_spec": spec,
    "refs": [r for r in refs.split(",") if r],
    "reports": dict(r.split("=", 1) for r in reports),
}))
PY
)")
}
commit_record() {  # commit_record STAGE ARCHIVE LAYOUT TOOL KIND COMPRESSION NOTES
    local joined
    joined="[$(IFS=,; echo "${IMAGES[*]}")]"
    py record "$STATE/$1.records.jsonl" "$2" "$3" "$4" "$5" "$6" "$joined" "$7"
    IMAGES=()
}

# skopeo_reports REL_ARCHIVE SPEC TAG: exact config bytes, raw manifest, summary.
# Prints REPORT=PATH words for img(). Missing reports are noted, not fatal:
# the test then says which report it lacks.
skopeo_reports() {
    local rel=$1 spec=$2 tag=$3 dir="$OUT/$1.reports" out=""
    mkdir -p "$dir"
    if skopeo inspect --raw --config "$spec" >"$dir/$tag.skopeo-config.raw.json" 2>>"$LOG"; then
        out="$out skopeo_config_raw=$rel.reports/$tag.skopeo-config.raw.json"
    else rm -f "$dir/$tag.skopeo-config.raw.json"; echo "skopeo inspect --config failed: $spec" >>"$LOG"; fi
    if skopeo inspect --raw "$spec" >"$dir/$tag.skopeo-manifest.raw.json" 2>>"$LOG"; then
        out="$out skopeo_manifest_raw=$rel.reports/$tag.skopeo-manifest.raw.json"
    else rm -f "$dir/$tag.skopeo-manifest.raw.json"; fi
    if skopeo inspect "$spec" >"$dir/$tag.skopeo-inspect.json" 2>>"$LOG"; then
        out="$out skopeo_inspect=$rel.reports/$tag.skopeo-inspect.json"
    else rm -f "$dir/$tag.skopeo-inspect.json"; fi
    echo "$out"
}

# docker_reports REL_ARCHIVE IMAGE TAG: docker image inspect + docker history.
docker_reports() {
    local rel=$1 image=$2 tag=$3 dir="$OUT/$1.reports"
    mkdir -p "$dir"
    "$DOCKER" image inspect "$image" >"$dir/$tag.docker-inspect.json"
    "$DOCKER" history --no-trunc --format '{{json .}}' "$image" >"$W/history.jsonl"
    py lines_to_array "$W/history.jsonl" "$dir/$tag.docker-history.json"
    echo "docker_inspect=$rel.reports/$tag.docker-inspect.json docker_history=$rel.reports/$tag.docker-history.json"
}

podman_reports() {  # podman_reports REL_ARCHIVE IMAGE TAG [STORAGE_DRIVER]
    local rel=$1 image=$2 tag=$3 dir="$OUT/$1.reports"
    local p=("${PODMAN[@]}")
    [ "${4:-vfs}" = overlay ] && p=("${PODMAN_OV[@]}")
    mkdir -p "$dir"
    "${p[@]}" history --format json "$image" >"$dir/$tag.podman-history.json"
    "${p[@]}" image inspect "$image" >"$dir/$tag.podman-inspect.json"
    echo "podman_history=$rel.reports/$tag.podman-history.json podman_inspect=$rel.reports/$tag.podman-inspect.json"
}

umoci_reports() {  # umoci_reports REL_ARCHIVE LAYOUT_DIR TAG
    local rel=$1 layout=$2 tag=$3 dir="$OUT/$1.reports"
    mkdir -p "$dir"
    umoci stat --json --image "$layout:$tag" >"$dir/$tag.umoci-stat.json"
    echo "umoci_stat=$rel.reports/$tag.umoci-stat.json"
}

safe() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }

# ================================================================ stage: docker
# Build contexts are written from here-documents, so the images are the same
# kind of image on every run (times and IDs differ, as they do for real).
make_contexts() {
    local C=$W/ctx
    rm -rf "$C"; mkdir -p "$C"
    # A busybox-static root filesystem for `docker import` (RUN needs a shell).
    mkdir -p "$C/rootfs/bin" "$C/rootfs/etc" "$C/rootfs/tmp" "$C/rootfs/root"
    cp /bin/busybox "$C/rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$C/rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1234:5678::/tmp:/bin/sh\n' >"$C/rootfs/etc/passwd"
    printf 'root:x:0:\nusers:x:5678:\n' >"$C/rootfs/etc/group"
    chmod 1777 "$C/rootfs/tmp"

    # fs: every filesystem feature a layer tar can carry.
    mkdir -p "$C/fs/files/sub" "$C/fs/tarball/pkg"
    echo "hello from COPY" >"$C/fs/files/hello.txt"
    echo "nested" >"$C/fs/files/sub/nested.txt"
    python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 64)' >"$C/fs/files/binary.bin"
    echo "from the tarball" >"$C/fs/tarball/pkg/readme.txt"
    echo "second" >"$C/fs/tarball/pkg/second.txt"
    tar --sort=name --mtime=@1600000000 --owner=0 --group=0 -C "$C/fs/tarball" -czf "$C/fs/app.tar.gz" pkg
    rm -rf "$C/fs/tarball"
    cat >"$C/fs/Dockerfile" <<'EOF'
FROM rt/base:1
LABEL org.example.role="filesystem features" org.example.empty=""
ENV APP_HOME=/opt/app PATH=/opt/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /opt/app/data /opt/app/gone/deep /opt/app/replaced /opt/app/bin \
 && echo one > /opt/app/data/one.txt && echo two > /opt/app/gone/deep/two.txt \
 && echo keep > /opt/app/replaced/keep.txt && echo temp > /etc/temp.conf \
 && echo "symlink target" > /opt/app/data/target.txt
COPY files/ /opt/app/files/
ADD app.tar.gz /opt/app/unpacked/
RUN rm -rf /opt/app/gone /etc/temp.conf \
 && rm -rf /opt/app/replaced && echo "now a file" > /opt/app/replaced \
 && echo "same layer" > /opt/app/data/linked.txt && ln /opt/app/data/linked.txt /opt/app/data/linked-hardlink.txt \
 && ln /opt/app/data/one.txt /opt/app/data/one-hardlink.txt \
 && ln -s ../data/target.txt /opt/app/files/target-symlink \
 && ln -s /nonexistent/target /opt/app/dangling-symlink \
 && mkfifo /opt/app/fifo \
 && mkdir -p "/opt/app/odd/with space" "/opt/app/odd/ünïcødé-名前" \
 && echo s > "/opt/app/odd/with space/file name.txt" \
 && echo u > "/opt/app/odd/ünïcødé-名前/ファイル.txt" \
 && echo tab > "/opt/app/odd/tab	and newline-free" \
 && long=$(printf 'd%.0s' $(seq 1 120)) && mkdir -p "/opt/app/odd/$long/$long" \
 && echo long > "/opt/app/odd/$long/$long/$(printf 'f%.0s' $(seq 1 150)).txt" \
 && printf '#!/bin/sh\necho tool\n' > /opt/app/bin/suid-tool && chmod 4755 /opt/app/bin/suid-tool \
 && printf '#!/bin/sh\necho sgid\n' > /opt/app/bin/sgid-tool && chmod 2755 /opt/app/bin/sgid-tool \
 && chmod 1777 /opt/app/data && chmod 0600 /opt/app/data/one.txt \
 && (mknod /opt/app/devnull c 1 3 || echo "mknod not permitted here" > /opt/app/no-device) \
 && chown -R 1234:5678 /opt/app/data && chown 4242:4343 /opt/app/files/hello.txt
RUN touch /opt/app/data/one.txt && echo appended >> /opt/app/files/hello.txt && rm /opt/app/unpacked/pkg/second.txt
USER 1234:5678
WORKDIR /opt/app
EXPOSE 8080 9090/udp
VOLUME /opt/app/data
HEALTHCHECK --interval=30s --timeout=3s CMD test -e /opt/app/files/hello.txt
STOPSIGNAL SIGINT
SHELL ["/bin/sh", "-e", "-c"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /opt/app/files/hello.txt"]
EOF

    # multistage: the final image has only what it copied from the build stage.
    mkdir -p "$C/multistage"
    cat >"$C/multistage/Dockerfile" <<'EOF'
FROM rt/base:1 AS build
RUN mkdir -p /out/bin && echo built > /out/artifact.txt && cp /bin/busybox /out/bin/busybox \
 && ln -s busybox /out/bin/sh && ln -s busybox /out/bin/cat
FROM scratch
COPY --from=build /out/ /
COPY --from=build /etc/passwd /etc/passwd
ENV PATH=/bin
CMD ["/bin/cat", "/artifact.txt"]
EOF

    # squash: the classic builder's --squash folds every layer after the parent into one.
    mkdir -p "$C/squash"
    cat >"$C/squash/Dockerfile" <<'EOF'
FROM rt/base:1
RUN mkdir -p /squashed && echo a > /squashed/a && echo b > /squashed/b && echo gone > /etc/gone.conf
RUN rm /squashed/b /etc/gone.conf && echo c > /squashed/c
LABEL squashed=yes
COPY Dockerfile /squashed/Dockerfile
EOF

    # cache: the seed's shape (RUN, WORKDIR, a no-op RUN, EXPOSE, COPY rootfs /),
    # built with an inline cache and rebuilt with --cache-from.
    mkdir -p "$C/cache/rootfs/usr/local/bin" "$C/cache/rootfs/etc/app"
    printf '#!/bin/sh\necho install\n' >"$C/cache/rootfs/usr/local/bin/install-war-into-tomcat.sh"
    chmod 755 "$C/cache/rootfs/usr/local/bin/install-war-into-tomcat.sh"
    echo "setting=1" >"$C/cache/rootfs/etc/app/app.conf"
    cat >"$C/cache/Dockerfile" <<'EOF'
FROM rt/base:1
RUN mkdir -p /opt/tomcat && echo "server" > /opt/tomcat/server.xml
WORKDIR /opt/tomcat
RUN true
EXPOSE 8080
COPY rootfs /
EOF

    # many: 40 layer-bearing steps (BuildKit COPY) over the base layer.
    mkdir -p "$C/many"
    {
        echo "FROM rt/base:1"
        for i in $(seq -w 1 40); do
            echo "layer $i" >"$C/many/f$i.txt"
            echo "COPY f$i.txt /many/f$i.txt"
        done
        echo 'CMD ["ls", "/many"]'
    } >"$C/many/Dockerfile"

    # family: a parent and a child (classic builder: Parent links), several tags.
    mkdir -p "$C/parent" "$C/child"
    cat >"$C/parent/Dockerfile" <<'EOF'
FROM rt/base:1
RUN mkdir /family && echo parent > /family/parent.txt
ENV FAMILY=parent
EOF
    cat >"$C/child/Dockerfile" <<'EOF'
FROM rt/parent:1
RUN echo child > /family/child.txt && rm /family/parent.txt
RUN true
ENV FAMILY=child
LABEL generation=2
EOF

    # opaque: a directory removed and made again in one step (overlay storage).
    mkdir -p "$C/opaque"
    cat >"$C/opaque/Containerfile" <<'EOF'
FROM rt-base
RUN mkdir -p /opq/sub /keep && echo a > /opq/a && echo b > /opq/sub/b && echo k > /keep/k
RUN rm -rf /opq && mkdir /opq && echo new > /opq/new && rm /keep/k
EOF

    # buildah: its own Containerfile (RUN under chroot isolation).
    mkdir -p "$C/bah"
    echo "copied by buildah" >"$C/bah/copied.txt"
    cat >"$C/bah/Containerfile" <<'EOF'
FROM rt-base
RUN mkdir -p /bah/dir && echo one > /bah/dir/one && echo two > /bah/two && ln -s two /bah/two-link
COPY copied.txt /bah/copied.txt
RUN rm -rf /bah/dir && echo replaced > /bah/dir && chmod 4711 /bah/two && chown 7:8 /bah/copied.txt
ENV BUILT_BY=buildah
LABEL tool=buildah
EXPOSE 7000
CMD ["cat", "/bah/copied.txt"]
EOF
}

docker_build() {  # docker_build builder(buildkit|classic) TAG CONTEXT [ARGS...]
    local builder=$1 tag=$2 ctx=$3; shift 3
    if [ "$builder" = buildkit ]; then
        DOCKER_BUILDKIT=1 run "$DOCKER" build --network none --progress plain -t "$tag" "$@" "$ctx"
    else
        DOCKER_BUILDKIT=0 run "$DOCKER" build --network none -t "$tag" "$@" "$ctx"
    fi
}

docker_save() {  # docker_save NAME NOTES REF=LINEAGE... : docker/NAME.tar with reports
    # `docker save` orders manifest.json by walking a map (random), and folds
    # several tags of one image into one item; so each item @N is matched to
    # its lineage by image ID, never by the order of the arguments.
    local name=$1 notes=$2; shift 2
    local rel=docker/$name.tar pair ref lineage
    local refs=() by_id=()
    for pair in "$@"; do
        ref=${pair%%=*}; lineage=${pair#*=}
        refs+=("$ref")
        by_id+=("$("$DOCKER" image inspect --format '{{.Id}}' "$ref")=$lineage")
    done
    run "$DOCKER" save -o "$OUT/$rel" "${refs[@]}"
    local items i id tags tag reports
    items=$(python3 -c 'import json,sys,tarfile
for item in json.load(tarfile.open(sys.argv[1]).extractfile("manifest.json")):
    print("sha256:" + item["Config"][:-len(".json")], ",".join(item["RepoTags"] or []))' "$OUT/$rel")
    i=0
    while read -r id tags; do
        lineage=""
        for pair in "${by_id[@]}"; do [ "${pair%%=*}" = "$id" ] && lineage=${pair#*=}; done
        [ -n "$lineage" ] || die "$rel: image $id was not asked for"
        ref=${tags%%,*}
        [ -n "$ref" ] || ref=$id          # saved by ID: RepoTags null
        tag=$(safe "$ref")
        reports="$(docker_reports "$rel" "$ref" "$tag") $(skopeo_reports "$rel" "docker-archive:$OUT/$rel:@$i" "$tag")"
        # shellcheck disable=SC2086
        img "$ref" "$lineage" "docker-archive:$rel:@$i" "$tags" $reports
        i=$((i + 1))
    done <<<"$items"
    commit_record docker "$rel" docker-legacy "docker save (dockerd $DOCKERD_VERSION)" file none "$notes"
}

stage_docker() {
    local key; key=$(stage_key docker)
    if stage_done docker "$key"; then say "docker: reusing $OUT/docker"; return; fi
    stage_begin docker
    start_dockerd
    DOCKERD_VERSION=$("$DOCKER" version --format '{{.Server.Version}}')
    make_contexts
    local C=$W/ctx t0=$SECONDS
    say "docker: importing the busybox base and building images"
    tar --sort=name --mtime=@1600000000 --owner=0 --group=0 --numeric-owner -C "$C/rootfs" -cf "$W/rootfs.tar" .
    run "$DOCKER" import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -m "busybox-static rootfs" "$W/rootfs.tar" rt/base:1
    # RUN steps need runc to start a container; where it cannot, the tools cannot run here.
    if ! "$DOCKER" run --rm --network none rt/base:1 /bin/true >>"$LOG" 2>&1; then
        unavailable "dockerd cannot start a container here (runc); see $LOG"
    fi
    # The same rootfs imported as another platform: a config that says arm64.
    run "$DOCKER" import --platform linux/arm64 -m "arm64 label only" "$W/rootfs.tar" rt/base-arm64:1 \
        || skip_section docker arm64-import "docker import --platform linux/arm64 failed"

    docker_build buildkit rt/fs:buildkit "$C/fs"
    docker_build classic rt/fs:classic "$C/fs"
    docker_build buildkit rt/multistage:1 "$C/multistage"
    docker_build classic rt/squash:1 "$C/squash" --squash
    docker_build buildkit rt/many:40 "$C/many"
    docker_build classic rt/parent:1 "$C/parent"
    docker_build classic rt/child:1 "$C/child"
    run "$DOCKER" tag rt/child:1 rt/child:latest
    run "$DOCKER" tag rt/child:1 rt/child:alias

    # The inline-cache build, then a rebuild that can only get its layers from
    # that image's inline cache (the local build cache is pruned in between).
    docker_build buildkit rt/cache:src "$C/cache" --build-arg BUILDKIT_INLINE_CACHE=1
    run "$DOCKER" builder prune -af
    echo "== cache-from rebuild" >>"$LOG"
    DOCKER_BUILDKIT=1 "$DOCKER" build --network none --progress plain --build-arg BUILDKIT_INLINE_CACHE=1 \
        --cache-from rt/cache:src -t rt/cache:rebuilt "$C/cache" >"$W/rebuild.log" 2>&1 \
        || { cat "$W/rebuild.log" >>"$LOG"; die "cache-from rebuild failed"; }
    cat "$W/rebuild.log" >>"$LOG"
    cp "$W/rebuild.log" "$STATE/cache-from-rebuild.log"
    say "docker: builds took $((SECONDS - t0)) s; saving"

    mkdir -p "$OUT/docker"
    docker_save base "" rt/base:1=base
    if "$DOCKER" image inspect rt/base-arm64:1 >/dev/null 2>&1; then
        docker_save base-arm64 "" rt/base-arm64:1=base-arm64
    fi
    docker_save fs-buildkit "" rt/fs:buildkit=fs-buildkit
    docker_save fs-classic "" rt/fs:classic=fs-classic
    docker_save multistage "" rt/multistage:1=multistage
    docker_save squash "" rt/squash:1=squash
    docker_save many40 "" rt/many:40=many40
    docker_save cache-src "" rt/cache:src=cache-src
    docker_save cache-rebuilt "" rt/cache:rebuilt=cache-rebuilt
    docker_save family "five refs, three images: child under three tags, its Parent image, the base" \
        rt/child:1=child rt/child:latest=child rt/child:alias=child rt/parent:1=parent rt/base:1=base
    docker_save multi "three images, one ref each" \
        rt/fs:buildkit=fs-buildkit rt/multistage:1=multistage rt/squash:1=squash
    local id; id=$("$DOCKER" image inspect --format '{{.Id}}' rt/multistage:1)
    docker_save by-id "saved by image ID: RepoTags null" "$id=multistage"

    # The same docker save compressed as a whole, and extracted to a directory.
    gzip -9 -n -c "$OUT/docker/fs-classic.tar" >"$OUT/docker/fs-classic.tar.gz"
    zstd -q -19 -c "$OUT/docker/fs-classic.tar" >"$OUT/docker/fs-classic.tar.zst"
    xz -6 -c "$OUT/docker/family.tar" >"$OUT/docker/family.tar.xz"
    mkdir -p "$OUT/docker/fs-buildkit.dir"
    tar -C "$OUT/docker/fs-buildkit.dir" -xf "$OUT/docker/fs-buildkit.tar"
    # These carry the reports of the archive they were made from.
    python3 - "$STATE/docker.records.jsonl" <<'PY'
import json, sys
path = sys.argv[1]
rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
by_path = {r["path"]: r for r in rows if "path" in r}
extra = [
    ("docker/fs-classic.tar.gz", "docker/fs-classic.tar", "docker-legacy", "file", "gzip", "gzip -9 -n of docker/fs-classic.tar"),
    ("docker/fs-classic.tar.zst", "docker/fs-classic.tar", "docker-legacy", "file", "zstd", "zstd -19 of docker/fs-classic.tar"),
    ("docker/family.tar.xz", "docker/family.tar", "docker-legacy", "file", "xz", "xz of docker/family.tar"),
    ("docker/fs-buildkit.dir", "docker/fs-buildkit.tar", "docker-dir", "dir", "none", "docker/fs-buildkit.tar extracted with tar -x"),
]
with open(path, "a", encoding="utf-8") as f:
    for new, old, layout, kind, comp, note in extra:
        r = dict(by_path[old], path=new, layout=layout, kind=kind, compression=comp, notes=note)
        r["derived_from"] = old
        f.write(json.dumps(r, sort_keys=True) + "\n")
PY

    # Did the --cache-from rebuild reproduce the lost-COPY-layer corruption?
    python3 - "$OUT" "$OUT/docker/cache-src.tar.reports" "$OUT/docker/cache-rebuilt.tar.reports" <<'PY'
import json, os, sys
out, src_dir, reb_dir = sys.argv[1:]
def cfg(d):
    name = [n for n in os.listdir(d) if n.endswith(".skopeo-config.raw.json")][0]
    return json.load(open(os.path.join(d, name), encoding="utf-8"))
a, b = cfg(src_dir), cfg(reb_dir)
lost = len(b["rootfs"]["diff_ids"]) < len(a["rootfs"]["diff_ids"])
flipped = [i for i, (x, y) in enumerate(zip(a.get("history", []), b.get("history", [])))
           if not x.get("empty_layer") and y.get("empty_layer")]
fact = {
    "reproduced": bool(lost or flipped),
    "source_layers": len(a["rootfs"]["diff_ids"]),
    "rebuilt_layers": len(b["rootfs"]["diff_ids"]),
    "steps_flipped_to_empty": flipped,
    "note": ("dockerd 20.10's own exporter keeps empty layers as the 1024-byte tar (5f70bf18) "
             "and a local --cache-from image binds layers by diff_id, so the registry-only "
             "removal of 4f4fb700 empty gzip blobs (BuildKit < 0.10) does not happen here"
             if not (lost or flipped) else "the rebuilt image lost layers its source has"),
}
print(json.dumps(fact))
open(os.path.join(out, ".state", "cache-from.json"), "w").write(json.dumps(fact, indent=1))
PY
    py fact "$OUT" cache_from "$(cat "$STATE/cache-from.json")"
    say "docker: done in $((SECONDS - t0)) s"
    stage_finish docker "$key"
}

# ================================================================ stage: containerd
stage_containerd() {
    local key; key=$(stage_key containerd docker)
    if stage_done containerd "$key"; then say "containerd: reusing $OUT/containerd"; return; fi
    stage_begin containerd
    start_dockerd
    local t0=$SECONDS
    say "containerd: ctr import --no-unpack / export"
    local CTR=(ctr -a "$CTR_SOCK")
    # ctr export (containerd 1.6): OCI layout + index.json + manifest.json.
    # Uncompressed import keeps docker save's raw layers; --compress-blobs gzips them.
    # --skip-manifest-json in ctr 1.6 still writes a manifest.json, with RepoTags null.
    local src variant ns rel refs n i info lineage name
    for src in fs-buildkit family many40 cache-src; do
        case "$src" in
            fs-buildkit) refs=(docker.io/rt/fs:buildkit) ;;
            cache-src) refs=(docker.io/rt/cache:src) ;;   # its two empty layers, gzipped by containerd
            many40) refs=(docker.io/rt/many:40) ;;
            family) refs=(docker.io/rt/child:1 docker.io/rt/child:alias docker.io/rt/parent:1 docker.io/rt/base:1) ;;
        esac
        for variant in plain gzip; do
            ns=ifrt-$variant
            local flags=(--no-unpack)
            [ "$variant" = gzip ] && flags+=(--compress-blobs)
            run "${CTR[@]}" -n "$ns" images import "${flags[@]}" "$OUT/docker/$src.tar"
            for mj in manifest-json skip-manifest-json; do
                rel=containerd/$src.$variant.tar
                local eflags=()
                if [ "$mj" = skip-manifest-json ]; then
                    rel=containerd/$src.$variant.skip-manifest-json.tar
                    eflags=(--skip-manifest-json)
                fi
                run "${CTR[@]}" -n "$ns" images export "${eflags[@]}" "$OUT/$rel" "${refs[@]}"
                # skopeo reads the manifest.json view (@N); c/image's oci transport
                # ignores index entries with Docker manifest media types.
                n=$(python3 -c 'import json,sys,tarfile; print(len(json.load(tarfile.open(sys.argv[1]).extractfile("manifest.json"))))' "$OUT/$rel")
                for i in $(seq 0 $((n - 1))); do
                    local reports tag id
                    tag=img$i
                    reports=$(skopeo_reports "$rel" "docker-archive:$OUT/$rel:@$i" "$tag")
                    id=$(py sha256_file "$OUT/$rel.reports/$tag.skopeo-config.raw.json")
                    info=$(py origin_by_id "$STATE/docker.records.jsonl" "docker/$src.tar" "$id")
                    lineage=${info%% *}
                    name=${info#* }
                    # The names containerd gave the image: io.containerd.image.name in index.json.
                    local cnames
                    cnames=$(python3 - "$OUT/$rel" "$OUT/$rel.reports/$tag.skopeo-config.raw.json" <<'PY'
import hashlib, json, sys, tarfile
t = tarfile.open(sys.argv[1])
config = "sha256:" + hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
names = []
for d in json.load(t.extractfile("index.json"))["manifests"]:
    m = json.load(t.extractfile("blobs/sha256/" + d["digest"].split(":")[1]))
    if m["config"]["digest"] == config:
        names.append(d.get("annotations", {}).get("io.containerd.image.name", ""))
print(",".join(n for n in names if n))
PY
)
                    # shellcheck disable=SC2086
                    img "$name" "$lineage" "docker-archive:$rel:@$i" "$cnames" $reports \
                        "docker_inspect=$(py report_for "$STATE/docker.records.jsonl" "docker/$src.tar" "$lineage" docker_inspect)" \
                        "docker_history=$(py report_for "$STATE/docker.records.jsonl" "docker/$src.tar" "$lineage" docker_history)"
                done
                local how="ctr images import --no-unpack"
                [ "$variant" = gzip ] && how="$how --compress-blobs"
                how="$how docker/$src.tar; ctr images export"
                [ "$mj" = skip-manifest-json ] && how="$how --skip-manifest-json"
                commit_record containerd "$rel" docker-oci-containerd "ctr images export (containerd $CTR_VERSION)" file none \
                    "$how ${refs[*]}"
            done
        done
    done
    say "containerd: done in $((SECONDS - t0)) s"
    stage_finish containerd "$key"
}

# ================================================================ stage: podman / buildah
podman_name() {  # podman_name NAME:TAG -> the full name podman load gave it (e.g. localhost/NAME:TAG)
    "${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}}' >"$W/podman-names"
    # awk reads the whole file: no early-closed pipe (SIGPIPE under pipefail).
    awk -v want="/$1" 'substr($0, length($0) - length(want) + 1) == want { print; exit }' "$W/podman-names"
}

stage_podman() {
    local key; key=$(stage_key podman docker)
    if stage_done podman "$key"; then say "podman: reusing $OUT/podman"; return; fi
    stage_begin podman
    rm -rf "${OUT:?}/buildah"
    local t0=$SECONDS
    [ -d "$W/ctx" ] || make_contexts
    say "podman/buildah: load, build, save in every format"
    if ! "${PODMAN[@]}" info >/dev/null 2>>"$LOG"; then
        skip_section podman podman "podman info failed (see $LOG)"
        stage_finish podman "$key"; return
    fi
    run "${PODMAN[@]}" load -i "$OUT/docker/fs-classic.tar"
    run "${PODMAN[@]}" load -i "$OUT/docker/family.tar"
    run "${PODMAN[@]}" load -i "$OUT/docker/base.tar"

    local rel fmt layout img_ref name
    # podman save, one image, every format.
    for spec in "fs-classic localhost/rt/fs:classic fs-classic" "child localhost/rt/child:1 child"; do
        set -- $spec
        name=$1 img_ref=$2 lineage=$3
        # podman load names a docker save's rt/x:1 localhost/rt/x:1; ask it rather than assume.
        local real_ref
        real_ref=$(podman_name "${img_ref#localhost/}")
        [ -n "$real_ref" ] || die "podman load did not name ${img_ref#localhost/}"
        for fmt in docker-archive oci-archive oci-dir docker-dir; do
            case $fmt in
                docker-archive) rel=podman/$name.docker.tar; layout=docker-containers-image ;;
                oci-archive) rel=podman/$name.oci.tar; layout=oci-archive ;;
                oci-dir) rel=podman/$name.oci-dir; layout=oci-dir ;;
                docker-dir) rel=podman/$name.docker-dir; layout=containers-dir ;;
            esac
            run "${PODMAN[@]}" save --format "$fmt" -o "$OUT/$rel" "$real_ref"
            local tag sspec reports kind=file
            tag=$(safe "$real_ref")
            case $fmt in
                docker-archive) sspec="docker-archive:$OUT/$rel" ;;
                oci-archive) sspec="oci-archive:$OUT/$rel" ;;
                oci-dir) sspec="oci:$OUT/$rel"; kind=dir ;;
                docker-dir) sspec="dir:$OUT/$rel"; kind=dir ;;
            esac
            reports="$(skopeo_reports "$rel" "$sspec" "$tag") $(podman_reports "$rel" "$real_ref" "$tag")"
            local names=$real_ref
            [ "$fmt" = docker-dir ] && names=""   # the dir: transport stores no name
            # shellcheck disable=SC2086
            img "$real_ref" "$lineage" "${sspec/$OUT\//}" "$names" $reports
            commit_record podman "$rel" "$layout" "podman save --format $fmt (podman $PODMAN_VERSION)" "$kind" none \
                "podman load -i docker/$( [ "$name" = child ] && echo family || echo fs-classic).tar; podman save"
        done
    done
    # podman save --uncompressed oci-archive: layers stay raw tar.
    rel=podman/fs-classic.oci-uncompressed.tar
    local fsref; fsref=$(podman_name rt/fs:classic)
    run "${PODMAN[@]}" save --format oci-archive --uncompressed -o "$OUT/$rel" "$fsref"
    reports="$(skopeo_reports "$rel" "oci-archive:$OUT/$rel" fs-classic) $(podman_reports "$rel" "$fsref" fs-classic)"
    # shellcheck disable=SC2086
    img "$fsref" fs-classic "oci-archive:$rel" "$fsref" $reports
    commit_record podman "$rel" oci-archive "podman save --format oci-archive --uncompressed" file none ""

    # podman save -m: several images (and two tags of one) in one docker-archive.
    rel=podman/multi.docker.tar
    local refs_m=()
    for r in rt/fs:classic rt/child:1 rt/child:alias rt/parent:1; do
        refs_m+=("$(podman_name "$r")")
    done
    run "${PODMAN[@]}" save -m --format docker-archive -o "$OUT/$rel" "${refs_m[@]}"
    local n i=0
    n=$(python3 -c 'import json,sys,tarfile; print(len(json.load(tarfile.open(sys.argv[1]).extractfile("manifest.json"))))' "$OUT/$rel")
    for i in $(seq 0 $((n - 1))); do
        local rtags first lineage2
        rtags=$(python3 -c 'import json,sys,tarfile; print(",".join(json.load(tarfile.open(sys.argv[1]).extractfile("manifest.json"))[int(sys.argv[2])]["RepoTags"] or []))' "$OUT/$rel" "$i")
        first=${rtags%%,*}
        case "$first" in */rt/fs:*) lineage2=fs-classic ;; */rt/child:*) lineage2=child ;; *) lineage2=parent ;; esac
        reports="$(skopeo_reports "$rel" "docker-archive:$OUT/$rel:@$i" "img$i") $(podman_reports "$rel" "$first" "img$i")"
        # shellcheck disable=SC2086
        img "$first" "$lineage2" "docker-archive:$rel:@$i" "$rtags" $reports
    done
    commit_record podman "$rel" docker-containers-image "podman save -m (podman $PODMAN_VERSION)" file none \
        "podman save -m of ${refs_m[*]}"

    # buildah: build from the loaded base (OCI and docker formats, layered and
    # single-layer, and a fixed --timestamp), push to docker-archive and oci-archive.
    local baseref; baseref=$(podman_name rt/base:1)
    run "${BUILDAH[@]}" tag "$baseref" rt-base
    local b
    for b in "oci-layers --format oci --layers" "docker-layers --format docker --layers" \
             "oci-single --format oci" "oci-timestamp --format oci --layers --timestamp 1600000000"; do
        set -- $b
        name=$1; shift
        run "${BUILDAH[@]}" bud --isolation chroot "$@" -f "$W/ctx/bah/Containerfile" -t "localhost/rt/bah:$name" "$W/ctx/bah"
        for fmt in docker-archive oci-archive; do
            local dest
            case $fmt in
                docker-archive) rel=buildah/$name.docker.tar; layout=docker-containers-image ;;
                oci-archive) rel=buildah/$name.oci.tar; layout=oci-archive ;;
            esac
            mkdir -p "$OUT/buildah"
            run "${BUILDAH[@]}" push "localhost/rt/bah:$name" "$fmt:$OUT/$rel:localhost/rt/bah:$name"
            reports="$(skopeo_reports "$rel" "$fmt:$OUT/$rel" "$name") $(podman_reports "$rel" "localhost/rt/bah:$name" "$name")"
            # shellcheck disable=SC2086
            img "localhost/rt/bah:$name" "bah-$name" "$fmt:$rel" "localhost/rt/bah:$name" $reports
            commit_record podman "$rel" "$layout" "buildah push $fmt (buildah $BUILDAH_VERSION)" file none \
                "buildah bud $*"
        done
    done
    # A buildah image pushed with zstd layers.
    rel=buildah/oci-layers.oci-zstd.tar
    run "${BUILDAH[@]}" push --compression-format zstd "localhost/rt/bah:oci-layers" "oci-archive:$OUT/$rel:localhost/rt/bah:oci-layers"
    reports="$(skopeo_reports "$rel" "oci-archive:$OUT/$rel" oci-layers) $(podman_reports "$rel" localhost/rt/bah:oci-layers oci-layers)"
    # shellcheck disable=SC2086
    img "localhost/rt/bah:oci-layers" bah-oci-layers "oci-archive:$rel" "localhost/rt/bah:oci-layers" $reports
    commit_record podman "$rel" oci-archive "buildah push --compression-format zstd" file none ""

    # buildah on the overlay driver: a directory removed and made again is an
    # opaque directory in the layer.
    local ovbase=""
    ovbase=$("${BUILDAH_OV[@]}" pull -q "docker-archive:$OUT/docker/base.tar" 2>>"$LOG") || ovbase=""
    if [ -n "$ovbase" ] && "${BUILDAH_OV[@]}" tag "$ovbase" rt-base >>"$LOG" 2>&1 \
        && run "${BUILDAH_OV[@]}" bud --isolation chroot --layers -f "$W/ctx/opaque/Containerfile" \
            -t localhost/rt/opaque:1 "$W/ctx/opaque"; then
        for fmt in docker-archive oci-archive; do
            case $fmt in
                docker-archive) rel=buildah/opaque.docker.tar; layout=docker-containers-image ;;
                oci-archive) rel=buildah/opaque.oci.tar; layout=oci-archive ;;
            esac
            run "${BUILDAH_OV[@]}" push localhost/rt/opaque:1 "$fmt:$OUT/$rel:localhost/rt/opaque:1"
            reports="$(skopeo_reports "$rel" "$fmt:$OUT/$rel" opaque) $(podman_reports "$rel" localhost/rt/opaque:1 opaque overlay)"
            # shellcheck disable=SC2086
            img localhost/rt/opaque:1 bah-opaque "$fmt:$rel" localhost/rt/opaque:1 $reports
            commit_record podman "$rel" "$layout" "buildah push $fmt (buildah $BUILDAH_VERSION, overlay storage)" file none \
                "buildah --storage-driver overlay bud --layers: opaque directory"
        done
        "${BUILDAH_OV[@]}" rm -a >>"$LOG" 2>&1 || true
    else
        skip_section podman overlay-opaque "buildah on the overlay storage driver failed here (see $LOG)"
    fi
    say "podman/buildah: done in $((SECONDS - t0)) s"
    stage_finish podman "$key"
}

# ================================================================ stage: skopeo
stage_skopeo() {
    local key; key=$(stage_key skopeo docker)
    if stage_done skopeo "$key"; then say "skopeo: reusing $OUT/skopeo"; return; fi
    stage_begin skopeo
    local t0=$SECONDS
    say "skopeo: conversions (docker-archive, oci-archive gzip/zstd, oci dir)"
    local conv rel src lineage dest layout sspec kind tag reports
    # name | source (relative) | lineage | destination transport | extra flags
    while IFS='|' read -r rel src lineage dest flags; do
        [ -n "$rel" ] || continue
        kind=file
        case $dest in
            docker-archive) layout=docker-containers-image; sspec="docker-archive:$OUT/$rel" ;;
            # No reference: c/image skips index entries with Docker media types
            # when it looks a name up (the v2s2 case), but takes a lone manifest.
            oci-archive) layout=oci-archive; sspec="oci-archive:$OUT/$rel" ;;
            oci) layout=oci-dir; sspec="oci:$OUT/$rel"; kind=dir ;;
        esac
        local dref=$dest:$OUT/$rel
        case $dest in
            docker-archive) dref="$dref:rt/$lineage:converted" ;;
            *) dref="$dref:rt/$lineage" ;;
        esac
        # shellcheck disable=SC2086
        run skopeo copy $flags "${src%%:*}:$OUT/${src#*:}" "$dref"
        tag=$(safe "$lineage")
        reports=$(skopeo_reports "$rel" "$sspec" "$tag")
        local refs="rt/$lineage"; [ "$dest" = docker-archive ] && refs="docker.io/rt/$lineage:converted"  # c/image writes the normalised name
        # shellcheck disable=SC2086
        img "$refs" "$lineage" "${sspec/$OUT\//}" "$refs" $reports
        commit_record skopeo "$rel" "$layout" "skopeo copy $flags (skopeo $SKOPEO_VERSION)" "$kind" none \
            "skopeo copy $flags ${src} $dest"
    done <<EOF
skopeo/fs-buildkit.oci.tar|docker-archive:docker/fs-buildkit.tar|fs-buildkit|oci-archive|
skopeo/fs-buildkit.oci-zstd.tar|docker-archive:docker/fs-buildkit.tar|fs-buildkit|oci-archive|--dest-compress-format zstd
skopeo/fs-buildkit.oci-v2s2.tar|docker-archive:docker/fs-buildkit.tar|fs-buildkit|oci-archive|--format v2s2
skopeo/fs-buildkit.docker.tar|docker-archive:docker/fs-buildkit.tar|fs-buildkit|docker-archive|
skopeo/fs-buildkit.oci-dir|docker-archive:docker/fs-buildkit.tar|fs-buildkit|oci|
skopeo/fs-buildkit.oci-dir-zstd|docker-archive:docker/fs-buildkit.tar|fs-buildkit|oci|--dest-compress-format zstd
skopeo/fs-buildkit.from-zstd.oci.tar|oci-archive:skopeo/fs-buildkit.oci-zstd.tar:rt/fs-buildkit|fs-buildkit|oci-archive|--dest-compress-format gzip
skopeo/fs-buildkit.from-oci.docker.tar|oci-archive:skopeo/fs-buildkit.oci.tar:rt/fs-buildkit|fs-buildkit|docker-archive|
skopeo/child.oci.tar|docker-archive:docker/family.tar:rt/child:1|child|oci-archive|
skopeo/squash.oci-zstd.tar|docker-archive:docker/squash.tar|squash|oci-archive|--dest-compress-format zstd
skopeo/many40.oci-zstd.tar|docker-archive:docker/many40.tar|many40|oci-archive|--dest-compress-format zstd
skopeo/cache-src.oci.tar|docker-archive:docker/cache-src.tar|cache-src|oci-archive|
skopeo/cache-rebuilt.oci.tar|docker-archive:docker/cache-rebuilt.tar|cache-rebuilt|oci-archive|
skopeo/multistage.oci.tar|docker-archive:docker/multistage.tar|multistage|oci-archive|--dest-compress-format gzip
EOF
    say "skopeo: done in $((SECONDS - t0)) s"
    stage_finish skopeo "$key"
}

# ================================================================ stage: umoci
stage_umoci() {
    local key; key=$(stage_key umoci docker)
    if stage_done umoci "$key"; then say "umoci: reusing $OUT/umoci"; return; fi
    stage_begin umoci
    local t0=$SECONDS
    say "umoci: layouts (new, raw add-layer, unpack/repack, config)"
    local L=$OUT/umoci/layout B=$W/bundle
    # Start from the busybox base converted to an OCI layout by skopeo.
    run skopeo copy "docker-archive:$OUT/docker/base.tar" "oci:$L:base"
    # unpack, change the rootfs (add, delete -> whiteout, chmod), repack.
    run umoci unpack --image "$L:base" "$B"
    mkdir -p "$B/rootfs/umoci"
    echo "added by umoci" >"$B/rootfs/umoci/added.txt"
    rm -f "$B/rootfs/etc/group"
    chmod 4755 "$B/rootfs/umoci/added.txt"
    # Changes in place: mode, owner, content, a symlink's target.
    chmod 0700 "$B/rootfs/bin/busybox"
    echo "extra:x:2:2::/:/bin/false" >>"$B/rootfs/etc/passwd"
    chown 1:1 "$B/rootfs/etc/passwd"
    ln -sfn /bin/busybox "$B/rootfs/bin/cat"
    run umoci repack --image "$L:base-modified" --refresh-bundle \
        --history.created_by "umoci repack: add /umoci/added.txt, delete /etc/group, change busybox, passwd, cat" \
        --history.created "2021-02-04T15:19:27.935272301+01:00" "$B"
    # Config-only change: a history entry with empty_layer, exact timestamps with an offset.
    run umoci config --image "$L:base-modified" --tag configured \
        --config.env "UMOCI=1" --config.label "made-by=umoci" --config.workingdir /umoci \
        --author "imageforensics interop" --created "2021-02-04T15:19:27.8456647Z" \
        --history.created "2021-02-04T15:19:27.8456647Z" --history.created_by "umoci config" \
        --history.comment "config only"
    # A scratch image built from raw layers, claiming another platform.
    run umoci new --image "$L:scratch"
    mkdir -p "$W/raw/etc" "$W/raw/srv"
    echo "raw layer" >"$W/raw/srv/raw.txt"
    echo "raw:x:1:1::/:/bin/false" >"$W/raw/etc/passwd"
    tar --sort=name --mtime=@1600000000 --owner=0 --group=0 --numeric-owner -C "$W/raw" -cf "$W/raw1.tar" etc srv
    mkdir -p "$W/raw2/srv"; : >"$W/raw2/srv/.wh.raw.txt"; echo two >"$W/raw2/srv/two.txt"
    tar --sort=name --mtime=@1600000001 --owner=0 --group=0 --numeric-owner -C "$W/raw2" -cf "$W/raw2.tar" srv
    run umoci raw add-layer --image "$L:scratch" --history.created_by "raw add-layer 1" "$W/raw1.tar"
    run umoci raw add-layer --image "$L:scratch" --history.created_by "raw add-layer 2 (whiteout)" "$W/raw2.tar"
    run umoci config --image "$L:scratch" --architecture arm64 --os linux --no-history \
        --config.cmd /srv/two.txt
    run umoci gc --layout "$L"
    local tag reports refs_all=""
    for tag in base base-modified configured scratch; do
        reports="$(skopeo_reports umoci/layout "oci:$L:$tag" "$tag") $(umoci_reports umoci/layout "$L" "$tag")"
        # shellcheck disable=SC2086
        img "$tag" "umoci-$tag" "oci:umoci/layout:$tag" "$tag" $reports
    done
    commit_record umoci umoci/layout oci-dir "umoci $UMOCI_VERSION" dir none \
        "one layout, four refs: base (skopeo), base-modified (repack), configured (config), scratch (raw add-layer, arm64)"
    # The same layout as an oci-archive (a tar of the directory, as skopeo writes it).
    (cd "$L" && tar --sort=name -cf "$OUT/umoci/layout.tar" oci-layout index.json blobs)
    for tag in base base-modified configured scratch; do
        reports="$(skopeo_reports umoci/layout.tar "oci-archive:$OUT/umoci/layout.tar:$tag" "$tag")"
        # shellcheck disable=SC2086
        img "$tag" "umoci-$tag" "oci-archive:umoci/layout.tar:$tag" "$tag" $reports \
            "umoci_stat=umoci/layout.reports/$tag.umoci-stat.json"
    done
    commit_record umoci umoci/layout.tar oci-archive "tar of the umoci layout" file none ""
    say "umoci: done in $((SECONDS - t0)) s"
    stage_finish umoci "$key"
}

# ================================================================ stage: rootfs
# What the image's merged filesystem really is: umoci unpacks it (applying
# whiteouts, hardlinks, owners, modes) and the listing is taken from disk.
stage_rootfs() {
    local key; key=$(stage_key rootfs docker podman umoci)
    if stage_done rootfs "$key"; then say "rootfs: reusing $OUT/rootfs"; return; fi
    stage_begin rootfs
    local t0=$SECONDS
    say "rootfs: umoci unpack of each image, listed from disk"
    local lineage src image L=$W/rootfs-layout
    while read -r lineage src; do
        [ -n "$lineage" ] || continue
        local file=${src#*:}
        file=${file%%:*}
        if [ ! -e "$OUT/$file" ]; then
            skip_section rootfs "rootfs-$lineage" "$file was not made (its section was skipped)"
            continue
        fi
        case "$src" in
            oci:*) image=$OUT/${src#oci:} ;;
            *) run skopeo copy "${src%%:*}:$OUT/${src#*:}" "oci:$L:$lineage"; image=$L:$lineage ;;
        esac
        rm -rf "$W/unpack"
        run umoci unpack --image "$image" "$W/unpack"
        py listing "$W/unpack/rootfs" "$OUT/rootfs/$lineage.json"
        rm -rf "$W/unpack"
        python3 -c 'import json,sys; print(json.dumps({"rootfs": sys.argv[1], "path": sys.argv[2], "source": sys.argv[3]}))' \
            "$lineage" "rootfs/$lineage.json" "$src" >>"$STATE/rootfs.records.jsonl"
    done <<LIST
base docker-archive:docker/base.tar
fs-buildkit docker-archive:docker/fs-buildkit.tar
fs-classic docker-archive:docker/fs-classic.tar
multistage docker-archive:docker/multistage.tar
squash docker-archive:docker/squash.tar
many40 docker-archive:docker/many40.tar
cache-src docker-archive:docker/cache-src.tar
cache-rebuilt docker-archive:docker/cache-rebuilt.tar
child docker-archive:docker/family.tar:rt/child:1
parent docker-archive:docker/family.tar:rt/parent:1
bah-oci-layers oci-archive:buildah/oci-layers.oci.tar
bah-oci-single oci-archive:buildah/oci-single.oci.tar
bah-opaque oci-archive:buildah/opaque.oci.tar
umoci-base-modified oci:umoci/layout:base-modified
umoci-scratch oci:umoci/layout:scratch
LIST
    say "rootfs: done in $((SECONDS - t0)) s"
    stage_finish rootfs "$key"
}

# ================================================================ stage: pairs
# Pairs of images for issue 14: each class of real image a diff must get right
# in both orders (hardlinks, buildah and podman conventions, the first step
# that diverges, the classic builder's spellings, builder artefacts of RUN,
# two copies of one corrupt image, versions). Every archive holds one image,
# under pairs/. MANIFEST.json lists them in "pair_archives" (records like
# "archives", kept apart because tests/interop takes every "archives" entry as
# a healthy image, and a few of these are corrupt by design), and each pair in
# "pairs": A, B, the class, what a right answer says ("expect", checked by
# pairs.py against the files), and the truth read from the layer tars with
# tarfile (merged files, hardlinks, the step that last touched each differing
# path, the first diverging step), cross-checked against `umoci unpack`.

pair_contexts() {
    local C=$W/pctx
    rm -rf "$C"; mkdir -p "$C"

    # 1. hardlinks: a pair whose content a later step changes through one name;
    # a link against a copy of the same bytes; a link made in a later layer
    # than its target (layered: a copy; squashed: a link).
    mkdir -p "$C/hl"
    cat >"$C/hl/one.Dockerfile" <<'EOF'
FROM rt/base:1
RUN mkdir /hl && echo v1 > /hl/data.txt && ln /hl/data.txt /hl/data-link.txt
EOF
    cat >"$C/hl/changed.Dockerfile" <<'EOF'
FROM rt/base:1
RUN mkdir /hl && echo v1 > /hl/data.txt && ln /hl/data.txt /hl/data-link.txt
RUN echo v2 > /hl/data.txt
EOF
    cat >"$C/hl/ln.Dockerfile" <<'EOF'
FROM rt/base:1
RUN mkdir /hl && echo same > /hl/a.txt && ln /hl/a.txt /hl/b.txt
EOF
    cat >"$C/hl/cp.Dockerfile" <<'EOF'
FROM rt/base:1
RUN mkdir /hl && echo same > /hl/a.txt && cp /hl/a.txt /hl/b.txt
EOF
    mkdir -p "$C/phl"
    cat >"$C/phl/Containerfile" <<'EOF'
FROM rt-base
RUN mkdir /hl && echo same > /hl/z.txt
RUN ln /hl/z.txt /hl/a.txt
EOF

    # 2. buildah and podman: the last step a COPY (buildah's single layer goes
    # to it); the same files by buildah from/copy/commit; podman's squashes.
    mkdir -p "$C/bah"
    echo "app v1" >"$C/bah/app.txt"; echo extra >"$C/bah/extra.txt"
    cat >"$C/bah/Containerfile" <<'EOF'
FROM rt-base
COPY app.txt /srv/app/app.txt
RUN mkdir -p /srv/app/conf && echo cfg > /srv/app/conf/config
ENV APP=1
COPY extra.txt /srv/app/extra.txt
EOF
    cat >"$C/bah/copy.Containerfile" <<'EOF'
FROM rt-base
COPY app.txt /srv/app/app.txt
EOF
    # The last step a RUN: without --layers buildah puts the build's one layer on it.
    cat >"$C/bah/run.Containerfile" <<'EOF'
FROM rt-base
COPY app.txt /srv/app/app.txt
ENV APP=1
RUN mkdir -p /srv/app/conf && echo cfg > /srv/app/conf/config
EOF
    mkdir -p "$C/pod"
    echo "site" >"$C/pod/site.txt"
    cat >"$C/pod/Containerfile" <<'EOF'
FROM rt-base
RUN mkdir -p /srv/web && echo hello > /srv/web/index.html
COPY site.txt /srv/web/site.txt
ENV SITE=1
CMD ["cat", "/srv/web/index.html"]
EOF

    # 3. the first diverging step: identical COPY and ENV, then a RUN that
    # deletes or overwrites a path the COPY wrote, differently in each build.
    mkdir -p "$C/div/app"
    echo x >"$C/div/app/x.txt"; echo y >"$C/div/app/y.txt"; echo keep >"$C/div/app/keep.txt"
    local v run
    for v in "del-x|rm /app/x.txt" "del-y|rm /app/y.txt" "over-one|echo one > /app/x.txt" "over-two|echo two > /app/x.txt"; do
        run=${v#*|}
        printf 'FROM rt/base:1\nCOPY app/ /app/\nENV STAGE=cleanup\nRUN %s\n' "$run" >"$C/div/${v%%|*}.Dockerfile"
    done

    # 4. the classic builder's spellings: one Dockerfile, two source trees.
    for v in v1 v2; do
        mkdir -p "$C/spell/$v/files/sub"
        echo "one $v" >"$C/spell/$v/files/one.txt"
        echo "two $v" >"$C/spell/$v/files/sub/two.txt"
        echo "single $v" >"$C/spell/$v/single.txt"
        cat >"$C/spell/$v/Dockerfile" <<'EOF'
FROM rt/base:1
COPY files/ /opt/files/
COPY --chown=1000:1000 files/ /opt/owned/
COPY single.txt /opt/single.txt
ADD single.txt /opt/added.txt
CMD ["cat", "/opt/single.txt"]
EOF
    done

    # 5. RUN steps through both builders (BuildKit's mount points, empty steps).
    mkdir -p "$C/run"
    cat >"$C/run/Dockerfile" <<'EOF'
FROM rt/base:1
RUN mkdir -p /work && echo a > /work/a.txt
WORKDIR /work
RUN echo b > b.txt && rm a.txt
RUN true
CMD ["cat", "/work/b.txt"]
EOF

    # 6. the image pairs.py tamper turns corrupt: its first COPY loses its layer.
    mkdir -p "$C/corrupt"
    echo app >"$C/corrupt/app.txt"; echo extra >"$C/corrupt/extra.txt"
    cat >"$C/corrupt/Dockerfile" <<'EOF'
FROM rt/base:1
RUN mkdir /app && echo run > /app/run.txt
COPY app.txt /app/app.txt
COPY extra.txt /app/extra.txt
CMD ["ls", "/app"]
EOF

    # 7. versions: v3 derives from v1 and deliberately deletes /app/old.
    mkdir -p "$C/app/v1/app/old" "$C/app/v3/app"
    echo "<h1>v1</h1>" >"$C/app/v1/app/index.html"
    printf '#!/bin/sh\necho app\n' >"$C/app/v1/app/run.sh"; chmod 0644 "$C/app/v1/app/run.sh"
    echo legacy >"$C/app/v1/app/old/legacy.txt"; echo notes >"$C/app/v1/app/old/notes.txt"
    echo "<h1>v3</h1>" >"$C/app/v3/app/index.html"
    echo ok >"$C/app/v3/app/health.txt"
    cat >"$C/app/v1/Dockerfile" <<'EOF'
FROM rt/base:1
COPY app/ /app/
RUN ln -s v1 /app/current
ENV VERSION=1
CMD ["/bin/sh", "/app/run.sh"]
EOF
    cat >"$C/app/v3/Dockerfile" <<'EOF'
FROM rt/pair-app:1
COPY app/ /app/
RUN rm -rf /app/old && chmod 0755 /app/run.sh && ln -sfn v3 /app/current
ENV VERSION=3
EOF
}

TRUTH_REPORTS=""
pair_files_truth() {  # pair_files_truth REL TAG SPEC: sets TRUTH_REPORTS (the tars read by pairs.py, umoci's unpack)
    local rel=$1 tag=$2 spec=$3 listing
    mkdir -p "$OUT/$rel.reports"
    echo "+ pairs.py truth $rel ($spec)" >>"$LOG"
    listing=$(python3 "$W/pairs.py" truth "$OUT" "$rel" "$rel.reports/$tag" "$spec" "${PAIR_WORK:-$W}" 2>>"$LOG") \
        || { tail -n 25 "$LOG" | sed 's/^/    | /'; die "pairs.py truth $rel failed (see $LOG)"; }
    TRUTH_REPORTS="files_truth=$rel.reports/$tag.files-truth.json umoci_rootfs=$listing"
}

pair_docker_save() {  # pair_docker_save LINEAGE REF NOTES [REL]: docker save to pairs/LINEAGE.tar, with reports
    local lineage=$1 ref=$2 notes=$3 rel=${4:-pairs/$1.tar} tag reports
    tag=$(safe "$ref")
    run "$DOCKER" save -o "$OUT/$rel" "$ref"
    pair_files_truth "$rel" "$tag" "docker-archive:$OUT/$rel"
    reports="$(docker_reports "$rel" "$ref" "$tag") $(skopeo_reports "$rel" "docker-archive:$OUT/$rel" "$tag") $TRUTH_REPORTS"
    # shellcheck disable=SC2086
    img "$ref" "$lineage" "docker-archive:$rel" "$ref" $reports
    commit_record pairs "$rel" docker-legacy "docker save (dockerd $DOCKERD_VERSION)" file none "$notes"
}

pair_podman_save() {  # pair_podman_save LINEAGE REF buildah|podman FORMAT NOTES: pairs/LINEAGE.{oci,docker}.tar
    local lineage=$1 ref=$2 tool=$3 fmt=$4 notes=$5 rel layout tag reports how
    case $fmt in
        oci-archive) rel=pairs/$lineage.oci.tar; layout=oci-archive ;;
        docker-archive) rel=pairs/$lineage.docker.tar; layout=docker-containers-image ;;
    esac
    tag=$(safe "$ref")
    if [ "$tool" = buildah ]; then
        run "${BUILDAH[@]}" push "$ref" "$fmt:$OUT/$rel:$ref"
        how="buildah push $fmt (buildah $BUILDAH_VERSION)"
    else
        run "${PODMAN[@]}" save --format "$fmt" -o "$OUT/$rel" "$ref"
        how="podman save --format $fmt (podman $PODMAN_VERSION)"
    fi
    pair_files_truth "$rel" "$tag" "$fmt:$OUT/$rel"
    reports="$(skopeo_reports "$rel" "$fmt:$OUT/$rel" "$tag") $(podman_reports "$rel" "$ref" "$tag") $TRUTH_REPORTS"
    # shellcheck disable=SC2086
    img "$ref" "$lineage" "$fmt:$rel" "$ref" $reports
    commit_record pairs "$rel" "$layout" "$how" file none "$notes"
}

pair_skopeo_oci() {  # pair_skopeo_oci LINEAGE [SRC_REL]: pairs/LINEAGE.skopeo.oci.tar, skopeo's OCI conversion
    local lineage=$1 src=${2:-pairs/$1.tar} rel=pairs/$1.skopeo.oci.tar reports
    run skopeo copy "docker-archive:$OUT/$src" "oci-archive:$OUT/$rel:rt/$lineage"
    pair_files_truth "$rel" "$lineage" "oci-archive:$OUT/$rel"
    reports="$(skopeo_reports "$rel" "oci-archive:$OUT/$rel" "$lineage") $TRUTH_REPORTS"
    # shellcheck disable=SC2086
    img "rt/$lineage" "$lineage" "oci-archive:$rel" "rt/$lineage" $reports
    commit_record pairs "$rel" oci-archive "skopeo copy (skopeo $SKOPEO_VERSION)" file none \
        "skopeo copy docker-archive:$src oci-archive:$rel"
}

pair_mark_tampered() {  # pair_mark_tampered REL HOW: REL was written by pairs.py tamper, or derives from such an archive
    # A line of its own (records are only ever appended: two jobs write them at once).
    python3 -c 'import json, sys; print(json.dumps({"tampered": sys.argv[2], "of": sys.argv[1]}, sort_keys=True))' \
        "$1" "$2" >>"$STATE/pairs.records.jsonl"
}

pair() {  # pair NAME CLASS ISSUE_ITEM A_REL B_REL CHECK EXPECT: one pair for MANIFEST.json "pairs"
    local field
    for field in "$@"; do
        case $field in *$'\t'*|*$'\n'*) die "pair $1: a tab or newline in a field" ;; esac
    done
    [ $# -eq 7 ] || die "pair $1: $# fields, 7 expected"
    (IFS=$'\t'; printf '%s\n' "$*") >>"$STATE/pairs.specs.tsv"
}

pair_python() {  # writes pairs.py, the truth of the pairs (stdlib only, independent of imageforensics)
    cat >"$W/pairs.py" <<'PY'
"""Ground truth for the pairs of real-archives.sh, read from the archives' own bytes.

Stdlib only and independent of imageforensics: the image's config and layer
tars are read with json and tarfile, the layers applied in order (whiteouts,
opaque directories, hardlinks resolved to the inode they share), and the
result cross-checked against what `umoci unpack` really wrote to disk.

    truth OUT REL STEM SPEC WORK        the files of one single-image archive (OUT/STEM.files-truth.json),
                                        checked against `umoci unpack` of SPEC (once per list of diff_ids);
                                        prints the listing's path relative to OUT
    tamper SRC.tar DST.tar              mark the first COPY step empty_layer and drop its layer (docker save layout)
    pairs OUT SPECS.tsv RECORDS.jsonl DST.jsonl     the truth of every pair, checked against its expectation
"""
import copy
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

ATTRS = ("type", "mode", "uid", "gid", "size", "sha256", "link", "devmajor", "devminor", "hardlinked_with")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def decompress(data):
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    return data


def read_image(path):
    """(config bytes, [uncompressed layer tars]) of the one image of a docker-save, docker-archive or oci-archive."""
    if os.path.isdir(path):
        def get(name):
            with open(os.path.join(path, name), "rb") as f:
                return f.read()
        names = set()
        for top, _, files in os.walk(path):
            names.update(os.path.relpath(os.path.join(top, n), path) for n in files)
    else:
        t = tarfile.open(path)
        names = set(t.getnames())

        def get(name):
            return t.extractfile(name).read()
    if "index.json" in names:
        def blob(desc):
            algo, hexd = desc["digest"].split(":", 1)
            return get(f"blobs/{algo}/{hexd}")
        m = json.loads(get("index.json"))
        while "manifests" in m:
            m = json.loads(blob(m["manifests"][0]))
        return blob(m["config"]), [decompress(blob(d)) for d in m["layers"]]
    items = json.loads(get("manifest.json"))
    assert len(items) == 1, f"{path}: {len(items)} images; the pairs use single-image archives"
    return get(items[0]["Config"]), [decompress(get(name)) for name in items[0]["Layers"]]


def norm(name):
    while name.startswith("./"):
        name = name[2:]
    name = name.strip("/")
    return "" if name == "." else name


def kind(m):
    if m.isreg():
        return "file"
    if m.islnk():
        return "hardlink"
    return {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.FIFOTYPE: "fifo",
            tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block"}.get(m.type, "other")


def layer_entries(data):
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t:
            path = norm(m.name)
            if not path:
                continue
            e = {"path": path, "type": kind(m), "mode": m.mode & 0o7777, "uid": m.uid, "gid": m.gid, "mtime": m.mtime}
            if m.isreg():
                body = t.extractfile(m).read()
                e.update(size=len(body), sha256=sha256(body))
            elif m.islnk():
                e["link"] = norm(m.linkname)
            elif m.issym():
                e["link"] = m.linkname
            elif m.ischr() or m.isblk():
                e.update(devmajor=m.devmajor, devminor=m.devminor)
            out.append(e)
    return out


def parent(path):
    return path.rsplit("/", 1)[0] if "/" in path else ""


def under(path, top):
    return top == "" or path == top or path.startswith(top + "/")


def image_truth(archive):
    config_bytes, blobs = read_image(archive)
    config = json.loads(config_bytes)
    diff_ids = config["rootfs"]["diff_ids"]
    layers = []
    for i, data in enumerate(blobs):
        if sha256(data) != diff_ids[i]:
            raise SystemExit(f"{archive}: layer {i} hashes to {sha256(data)}, diff_ids says {diff_ids[i]}")
        layers.append(layer_entries(data))
    steps, li = [], 0
    for i, h in enumerate(config.get("history", [])):
        empty = h.get("empty_layer", False) is True
        layer = None if empty or li >= len(layers) else li
        steps.append({"i": i, "created": h.get("created", ""), "created_by": h.get("created_by", ""),
                      "comment": h.get("comment", ""), "empty_layer": empty, "layer": layer,
                      "diff_id": diff_ids[layer] if layer is not None else None})
        if not empty:
            li += 1
    step_of = {s["layer"]: s["i"] for s in steps if s["layer"] is not None}

    state, actions, inode_of, inodes = {}, {}, {}, {}

    def act(path, step, what):
        actions.setdefault(path, []).append([step, what])

    def remove(top, step, what):
        for q in sorted(q for q in state if under(q, top)):
            del state[q]
            inode_of.pop(q, None)
            act(q, step, what)

    for li, entries in enumerate(layers):
        step = step_of.get(li)
        for e in entries:  # an opaque directory hides the lower layers only
            if e["path"].rsplit("/", 1)[-1] == ".wh..wh..opq":
                d = parent(e["path"])
                for q in sorted(q for q in state if q != d and under(q, d)):
                    del state[q]
                    inode_of.pop(q, None)
                    act(q, step, "removed (opaque directory)")
        for e in entries:
            path, base = e["path"], e["path"].rsplit("/", 1)[-1]
            if base == ".wh..wh..opq":
                continue
            if base.startswith(".wh."):
                remove("/".join(filter(None, (parent(path), base[4:]))), step, "deleted")
                continue
            old = state.get(path)
            if old is not None and old["type"] == "dir" and e["type"] != "dir":
                for q in sorted(q for q in state if q != path and under(q, path)):
                    del state[q]
                    inode_of.pop(q, None)
                    act(q, step, "deleted (parent replaced)")
            view = {k: v for k, v in e.items() if k != "path"}
            if e["type"] == "hardlink":
                target = e["link"]
                if target not in inode_of:
                    raise SystemExit(f"{archive}: layer {li}: hardlink {path} -> {target}, which does not exist")
                inode_of[path] = inode_of[target]
                view["stored_as"] = f"hardlink to {target} (layer {li})"
            elif e["type"] == "file":
                inode_of[path] = (li, path)
                inodes[(li, path)] = e
                view["stored_as"] = f"file (layer {li})"
            else:
                inode_of.pop(path, None)
                view["stored_as"] = f"{e['type']} (layer {li})"
            state[path] = view
            act(path, step, "added" if old is None else "modified")

    groups = {}
    for path, ino in inode_of.items():
        groups.setdefault(ino, []).append(path)
    merged = {}
    for path, view in sorted(state.items()):
        v = dict(view)
        if v["type"] == "hardlink":
            v["type"] = "file"
            v.pop("link")
        if path in inode_of:
            content = inodes[inode_of[path]]
            v["size"], v["sha256"] = content["size"], content["sha256"]
            others = sorted(p for p in groups[inode_of[path]] if p != path)
            if others:
                v["hardlinked_with"] = others
        merged[path] = v
    hardlinks = sorted(sorted(g) for g in groups.values() if len(g) > 1)
    return {
        "archive": archive,
        "image_id": sha256(config_bytes),
        "diff_ids": diff_ids,
        "steps": steps,
        "layers": [{"index": i, "step": step_of.get(i), "diff_id": diff_ids[i], "entries": entries}
                   for i, entries in enumerate(layers)],
        "merged": merged,
        "hardlink_groups": [{"paths": g, "sha256": merged[g[0]]["sha256"]} for g in hardlinks],
        "actions": actions,
    }


def truth(out, rel, stem, spec, work):
    """Read the archive's layers, unpack it with umoci (unless the same layers were), check the two agree."""
    t = image_truth(os.path.join(out, rel))
    with open(os.path.join(out, stem + ".files-truth.json"), "w", encoding="utf-8") as f:
        json.dump(t, f, indent=0, sort_keys=True, ensure_ascii=False)
    key = hashlib.sha256(" ".join(t["diff_ids"]).encode()).hexdigest()
    cache = os.path.join(work, "unpacked", key)
    if os.path.exists(cache):
        with open(cache, encoding="utf-8") as f:
            listing = f.read()
    else:
        from helper import listing as list_rootfs  # real-archives.sh's helper.py, beside this file
        listing = stem + ".umoci-rootfs.json"
        layout, bundle = os.path.join(work, "pair-layout"), os.path.join(work, "pair-unpack")
        for d in (layout, bundle):
            shutil.rmtree(d, ignore_errors=True)
        for argv in (["skopeo", "copy", spec, f"oci:{layout}:image"], ["umoci", "unpack", "--image", f"{layout}:image", bundle]):
            print("+ " + " ".join(argv), file=sys.stderr, flush=True)
            subprocess.run(argv, stdout=sys.stderr, check=True)
        list_rootfs(os.path.join(bundle, "rootfs"), os.path.join(out, listing))
        for d in (layout, bundle):
            shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache, "w", encoding="utf-8") as f:
            f.write(listing)
    with open(os.path.join(out, listing), encoding="utf-8") as f:
        crosscheck(t, json.load(f))
    print(listing)


def crosscheck(truth, listing):
    """Every path umoci unpacked, with the type, mode, owner, size, content and link our reading of the tars gives."""
    disk = {row["path"]: row for row in listing["entries"]}
    merged = truth["merged"]
    bad = []
    for p in sorted(set(merged) ^ set(disk)):
        bad.append(f"{p}: {'only in the tars' if p in merged else 'only on disk'}")
    for p in sorted(set(merged) & set(disk)):
        m, d = merged[p], disk[p]
        for k in ("type", "uid", "gid", "size", "sha256") + (("link",) if m["type"] == "symlink" else ("mode",)):
            if m.get(k) != d.get(k):
                bad.append(f"{p}: {k} {m.get(k)!r} in the tars, {d.get(k)!r} on disk")
    if [g["paths"] for g in truth["hardlink_groups"]] != listing["hardlink_groups"]:
        bad.append(f"hardlink groups {truth['hardlink_groups']} vs {listing['hardlink_groups']} on disk")
    if bad:
        raise SystemExit(f"{truth['archive']}: our reading of the layers disagrees with umoci unpack:\n  " + "\n  ".join(bad[:20]))


# ---------------------------------------------------------------- tamper
def tamper(src, dst):
    """Mark the first COPY step of a docker-save image empty_layer and drop its layer, keeping the archive consistent.

    The config is rewritten (so the image ID, its file name and manifest.json's
    Config change with it), the layer leaves rootfs.diff_ids, manifest.json's
    Layers and the archive, the next layer's v1 `parent` and `repositories` are
    mended. This is the shape the BuildKit < 0.10 cache-import corruption left.
    """
    t = tarfile.open(src)
    members = [(m, t.extractfile(m).read() if m.isreg() else None) for m in t.getmembers()]
    files = {m.name: data for m, data in members}
    manifest = json.loads(files["manifest.json"])
    item = manifest[0]
    config = json.loads(files[item["Config"]])
    li, target = 0, None
    for i, h in enumerate(config["history"]):
        if h.get("empty_layer"):
            continue
        if "COPY" in h.get("created_by", "").split(" # ")[0].split()[:4]:
            target = i
            break
        li += 1
    assert target is not None, "no COPY step with a layer"
    config["history"][target]["empty_layer"] = True
    del config["rootfs"]["diff_ids"][li]
    gone = item["Layers"].pop(li)
    gone_dir = gone.split("/")[0]
    gone_json = json.loads(files[gone_dir + "/json"])
    new_config = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    new_name = hashlib.sha256(new_config).hexdigest() + ".json"
    old_name = item["Config"]
    item["Config"] = new_name
    top = item["Layers"][-1].split("/")[0]
    out = []
    for m, data in members:
        if m.name == gone_dir or m.name.startswith(gone_dir + "/"):
            continue
        if m.name == old_name:
            m = copy.copy(m)
            m.name, data = new_name, new_config
        elif m.name == "manifest.json":
            data = json.dumps(manifest, separators=(",", ":")).encode()
        elif m.name == "repositories":
            repos = json.loads(data)
            data = json.dumps({r: {tag: top for tag in tags} for r, tags in repos.items()},
                              separators=(",", ":")).encode() + b"\n"
        elif m.name.endswith("/json"):
            v1 = json.loads(data)
            if v1.get("parent") == gone_dir:
                v1["parent"] = gone_json.get("parent")
                if v1["parent"] is None:
                    del v1["parent"]
                data = json.dumps(v1, separators=(",", ":")).encode()
        out.append((m, data))
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as w:
        for m, data in out:
            if data is not None:
                m.size = len(data)
                w.addfile(m, io.BytesIO(data))
            else:
                w.addfile(m)
    print(json.dumps({"step": target, "layer": li, "created_by": config["history"][target].get("created_by", ""),
                      "image_id": "sha256:" + new_name[:-5], "source_image_id": "sha256:" + old_name[:-5]}))


# ---------------------------------------------------------------- pairs
def fs_attrs(view):
    return {k: view.get(k) for k in ATTRS}


def step_key(s):
    return (s["created_by"], s["empty_layer"], s["diff_id"])


def first_diverging(sa, sb):
    """The first step, by position, whose instruction, empty_layer or layer differs (created times aside)."""
    for i in range(max(len(sa), len(sb))):
        a = sa[i] if i < len(sa) else None
        b = sb[i] if i < len(sb) else None
        if a is None or b is None:
            s = a or b
            return {"index_a": i if a else None, "index_b": i if b else None,
                    "created_by_a": a["created_by"] if a else None, "created_by_b": b["created_by"] if b else None,
                    "differs_in": ["only in " + ("A" if a else "B")]}
        if step_key(a) != step_key(b):
            return {"index_a": i, "index_b": i, "created_by_a": a["created_by"], "created_by_b": b["created_by"],
                    "differs_in": [k for k, x, y in zip(("created_by", "empty_layer", "layer"), step_key(a), step_key(b)) if x != y]}
    return None


def compact_steps(steps):
    return [{k: s[k] for k in ("i", "created", "created_by", "comment", "empty_layer", "layer", "diff_id")} for s in steps]


def layer_paths(img, other):
    out = []
    for layer in img["layers"]:
        if layer["diff_id"] in other["diff_ids"]:
            continue
        rows = [e["path"] + ("/" if e["type"] == "dir" else "") +
                (f" -> {e['link']}" if e["type"] == "symlink" else f" => {e['link']}" if e["type"] == "hardlink" else "")
                for e in layer["entries"]]
        out.append({"layer": layer["index"], "step": layer["step"], "entries": len(rows),
                    "paths": rows[:60] + ([f"... {len(rows) - 60} more"] if len(rows) > 60 else [])})
    return out


def pair_truth(A, B):
    """What differs between two images' merged filesystems and steps (paths without the leading /).

    same_files: the same paths with the same type, mode, owner, size, content,
    symlink target and hardlink structure (mtimes aside); same_bytes: the same
    paths, types, contents and symlink targets (link structure, modes, owners
    and mtimes aside). changed: path -> {attribute: [A, B]} for paths that differ
    in more than mtime (a hardlink has its inode's size and sha256; hardlinked_with
    names the other paths of its inode; mtime is added when it differs too);
    mtime_only: paths that differ in mtime alone. path_steps: for each path in
    only_a, only_b and changed, the [step, action] that touched it on each side.
    first_diverging_step: by position, the first step whose created_by,
    empty_layer or layer differs; created_differs: steps whose created time differs.
    """
    ma, mb = A["merged"], B["merged"]
    only_a = sorted(set(ma) - set(mb))
    only_b = sorted(set(mb) - set(ma))
    changed, mtime_only, stored = {}, {}, {}
    for p in sorted(set(ma) & set(mb)):
        fa, fb = fs_attrs(ma[p]), fs_attrs(mb[p])
        diff = {k: [fa[k], fb[k]] for k in ATTRS if fa[k] != fb[k]}
        if diff:
            if ma[p]["mtime"] != mb[p]["mtime"]:
                diff["mtime"] = [ma[p]["mtime"], mb[p]["mtime"]]
            changed[p] = diff
        elif ma[p]["mtime"] != mb[p]["mtime"]:
            mtime_only[p] = {"type": ma[p]["type"], "mtime": [ma[p]["mtime"], mb[p]["mtime"]]}
        if ma[p]["stored_as"].split(" (")[0] != mb[p]["stored_as"].split(" (")[0] and (diff or p in mtime_only):
            stored[p] = [ma[p]["stored_as"], mb[p]["stored_as"]]
    differing = only_a + only_b + sorted(changed)
    content = lambda v: (v["type"], v.get("sha256"), v.get("link") if v["type"] == "symlink" else None)
    return {
        "image_ids_equal": A["image_id"] == B["image_id"],
        "diff_ids_equal": A["diff_ids"] == B["diff_ids"],
        "same_files": not only_a and not only_b and not changed,
        "same_bytes": not only_a and not only_b and all(content(ma[p]) == content(mb[p]) for p in ma),
        "only_a": only_a,
        "only_b": only_b,
        "changed": changed,
        "mtime_only": mtime_only,
        "stored_as": {p: v for p, v in stored.items() if p in differing or p in mtime_only},
        "hardlinks": {"a": A["hardlink_groups"], "b": B["hardlink_groups"]},
        "path_steps": {p: {"a": A["actions"].get(p, []), "b": B["actions"].get(p, [])} for p in differing},
        "first_diverging_step": first_diverging(A["steps"], B["steps"]),
        "created_differs": [a["i"] for a, b in zip(A["steps"], B["steps"]) if a["created"] != b["created"]],
        "steps": {"a": compact_steps(A["steps"]), "b": compact_steps(B["steps"])},
        "layers_not_in_other": {"a": layer_paths(A, B), "b": layer_paths(B, A)},
    }


def _steps_of(t, side, word):
    return [s["i"] for s in t["steps"][side] if word in s["created_by"]]


def check(name, t, A, B):
    """The expectation written next to the pair holds on these files (else the pair is not what it claims)."""
    why = []

    def need(cond, what):
        if not cond:
            why.append(what)

    d = t["first_diverging_step"]
    links = lambda side: [g["paths"] for g in t["hardlinks"][side]]
    if name == "hardlink-content":
        need(links("a") and links("a") == links("b"), f"the same hardlink pair on both sides: {t['hardlinks']}")
        need(links("a") and t["hardlinks"]["a"][0]["sha256"] != t["hardlinks"]["b"][0]["sha256"], "the pair's content changed")
        need(set(t["changed"]) == {"hl/data.txt", "hl/data-link.txt"}, f"both names changed: {sorted(t['changed'])}")
        need(all(set(c) - {"mtime"} == {"sha256"} for c in t["changed"].values()), "only the content changed (same size)")
    elif name == "link-only":
        need(t["same_bytes"], "the same paths and bytes")
        need(bool(links("a")) != bool(links("b")), f"a hardlink on one side only: {t['hardlinks']}")
        need(t["changed"] and all(set(c) - {"mtime"} == {"hardlinked_with"} for c in t["changed"].values()),
             f"only the link structure differs: {t['changed']}")
    elif name == "same-files":
        need(t["same_files"], f"the same files, mtimes aside: changed {sorted(t['changed'])[:5]}, "
                              f"only in A {t['only_a'][:5]}, only in B {t['only_b'][:5]}")
    elif name == "same-bytes":
        need(t["same_bytes"], f"the same paths and bytes: changed {sorted(t['changed'])[:5]}, "
                              f"only in A {t['only_a'][:5]}, only in B {t['only_b'][:5]}")
    elif name == "bah-single":
        need(t["same_files"], f"the same files, mtimes aside: changed {sorted(t['changed'])[:5]}")
        need([s["i"] for s in A["steps"] if s["layer"] is not None] == [0, len(A["steps"]) - 1],
             "A: the base layer and one layer on the last step")
        need(any(s["empty_layer"] and "COPY" in s["created_by"] for s in A["steps"]), "A: a COPY step marked empty_layer")
        need(not any("buildkit" in s["comment"] for s in A["steps"] + B["steps"]), "no BuildKit comment in either")
    elif name == "bah-commit":
        need(t["same_bytes"], "the same paths and bytes")
        need(len(A["layers"]) == 2 and len(B["layers"]) == 2, "two layers each")
        need(not B["steps"][-1]["empty_layer"] and "COPY" not in B["steps"][-1]["created_by"],
             "B's last step has a layer and no COPY in created_by (buildah commit)")
    elif name == "diverge-3":
        need(d is not None and d["index_a"] == 3 and d["index_b"] == 3, f"the first diverging step is 3 (the RUN): {d}")
        need(A["steps"][1]["diff_id"] == B["steps"][1]["diff_id"], "step 1 (COPY) is the same layer in both")
        need(t["path_steps"] and all(s["a"][-1][0] == 3 or s["b"][-1][0] == 3 for s in t["path_steps"].values()),
             f"every differing path was last touched by step 3: {t['path_steps']}")
    elif name == "spelling-content":
        need(d is not None and d["index_a"] == 1, f"differs from step 1 (the first COPY): {d}")
        bare = lambda img: [s["created_by"].split(":")[0] for s in img["steps"]]
        need(bare(A) == bare(B), "the same instructions, content hashes aside")
        need(any("--chown=1000:1000dir:" in s["created_by"] for s in A["steps"]), "the classic builder's --chown spelling")
        need(not t["only_a"] and not t["only_b"], "the same paths")
    elif name == "run-builders":
        mount = {"dev", "proc", "sys"}
        need(mount <= set(t["only_b"]), f"BuildKit's RUN layer has /dev /proc /sys: only in B {t['only_b']}")
        need(not mount & set(A["merged"]), "the classic builder's image has none of them")
        need(not t["only_a"] and not t["changed"], f"otherwise the same files: {t['only_a']} {sorted(t['changed'])}")
    elif name in ("corrupt", "corrupt-identical"):
        for img in (A, B):
            need(any(s["empty_layer"] and "COPY" in s["created_by"] for s in img["steps"]), "a COPY step marked empty_layer")
        need(t["diff_ids_equal"] and t["same_files"], "the same layers and files")
        if name == "corrupt-identical":
            need(t["image_ids_equal"], "the same config bytes")
    elif name == "versions":
        need(d is not None and d["index_a"] is None and d["index_b"] == len(A["steps"]), f"B is A plus later steps: {d}")
        need(t["only_a"] and all(t["path_steps"][p]["b"][-1] == [6, "deleted"] for p in t["only_a"]),
             "every path only A has was deleted by B's step 6")
    else:
        why.append(f"no check named {name}")
    return why


def pairs(out, specs_path, records_path, dst):
    records, marks = {}, {}
    with open(records_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if "of" in r:
                    marks[r["of"]] = r["tampered"]
                elif "path" in r:
                    records[r["path"]] = r
    for path, how in marks.items():
        records[path]["tampered"] = how
    rows = []
    keys = ("name", "class", "item", "a", "b", "check", "expect")
    with open(specs_path, encoding="utf-8") as f:
        specs = [dict(zip(keys, line.rstrip("\n").split("\t"))) for line in f if line.strip()]
    specs.sort(key=lambda s: int(s["item"]))  # by the issue's item; stable within one
    for spec in specs:
        sides = []
        for rel in (spec["a"], spec["b"]):
            rec = records[rel]
            image = rec["images"][0]
            with open(os.path.join(out, image["reports"]["files_truth"]), encoding="utf-8") as f:
                truth = json.load(f)
            sides.append((rec, image, truth))
        (ra, ia, A), (rb, ib, B) = sides
        t = pair_truth(A, B)
        why = check(spec["check"], t, A, B)
        if why:
            raise SystemExit(f"pair {spec['name']} ({spec['a']} ~ {spec['b']}) is not what it claims: " + "; ".join(why))
        side = lambda rec, image, truth: {"path": rec["path"], "layout": rec["layout"], "lineage": image["lineage"],
                                          "image_id": truth["image_id"], "built_with": rec["notes"],
                                          "tampered": rec.get("tampered"), "reports": image["reports"]}
        rows.append({"pair": spec["name"], "class": spec["class"], "issue_item": int(spec["item"]),
                     "a": side(ra, ia, A), "b": side(rb, ib, B), "expect": spec["expect"],
                     "checked": spec["check"], "truth": t})
    with open(dst, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"{len(rows)} pairs")


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
PY
}

pair_podman_builds() {  # the buildah/podman pairs' images: run as a background job of stage_pairs
    # Its own scratch folder for pairs.py; records and reports go where the
    # docker side's go (whole-line appends to other files than the docker side's).
    PAIR_WORK=$W/pair-podman
    mkdir -p "$PAIR_WORK"
    local C=$W/pctx P=pairs v
    if ! "${PODMAN[@]}" info >/dev/null 2>>"$LOG"; then
        skip_section pairs pairs-podman "podman info failed (see $LOG)"
        return 0
    fi
    say "pairs: buildah and podman builds (beside the docker saves)"
    run "${PODMAN[@]}" load -i "$OUT/docker/base.tar"
    run "${BUILDAH[@]}" tag "$(podman_name rt/base:1)" rt-base
    run "${BUILDAH[@]}" bud --isolation chroot --format oci -f "$C/bah/Containerfile" -t localhost/rt/pair-bah:single "$C/bah"
    run "${BUILDAH[@]}" bud --isolation chroot --format oci --layers -f "$C/bah/Containerfile" -t localhost/rt/pair-bah:layers "$C/bah"
    run "${BUILDAH[@]}" bud --isolation chroot --format oci --layers -f "$C/bah/copy.Containerfile" -t localhost/rt/pair-bah:copy "$C/bah"
    run "${BUILDAH[@]}" bud --isolation chroot --format oci -f "$C/bah/run.Containerfile" -t localhost/rt/pair-bah:run-single "$C/bah"
    run "${BUILDAH[@]}" bud --isolation chroot --format oci --layers -f "$C/bah/run.Containerfile" -t localhost/rt/pair-bah:run-layers "$C/bah"
    local ctr
    ctr=$("${BUILDAH[@]}" from rt-base 2>>"$LOG")
    run "${BUILDAH[@]}" copy "$ctr" "$C/bah/app.txt" /srv/app/app.txt
    run "${BUILDAH[@]}" commit "$ctr" localhost/rt/pair-bah:commit
    run "${BUILDAH[@]}" rm "$ctr"
    run "${PODMAN[@]}" build --isolation chroot --layers -f "$C/pod/Containerfile" -t localhost/rt/pair-pod:layers "$C/pod"
    run "${PODMAN[@]}" build --isolation chroot --squash -f "$C/pod/Containerfile" -t localhost/rt/pair-pod:squash "$C/pod"
    run "${PODMAN[@]}" build --isolation chroot --squash-all -f "$C/pod/Containerfile" -t localhost/rt/pair-pod:squash-all "$C/pod"
    run "${PODMAN[@]}" build --isolation chroot --layers -f "$C/phl/Containerfile" -t localhost/rt/pair-phl:layers "$C/phl"
    run "${PODMAN[@]}" build --isolation chroot --squash -f "$C/phl/Containerfile" -t localhost/rt/pair-phl:squash "$C/phl"
    pair_podman_save pair-bah-single localhost/rt/pair-bah:single buildah oci-archive "buildah bud (no --layers): COPY, RUN, ENV, COPY last"
    pair_podman_save pair-bah-layers localhost/rt/pair-bah:layers buildah oci-archive "buildah bud --layers: the same Containerfile"
    pair_podman_save pair-bah-copy localhost/rt/pair-bah:copy buildah oci-archive "buildah bud --layers: FROM rt-base; COPY app.txt /srv/app/app.txt"
    pair_podman_save pair-bah-commit localhost/rt/pair-bah:commit buildah oci-archive "buildah from rt-base; buildah copy app.txt /srv/app/app.txt; buildah commit"
    pair_podman_save pair-bah-run-single localhost/rt/pair-bah:run-single buildah oci-archive "buildah bud (no --layers): COPY, ENV, RUN last"
    pair_podman_save pair-bah-run-layers localhost/rt/pair-bah:run-layers buildah oci-archive "buildah bud --layers: the same Containerfile (COPY, ENV, RUN last)"
    for v in layers squash squash-all; do
        pair_podman_save "pair-pod-$v" "localhost/rt/pair-pod:$v" podman docker-archive "podman build --$v: RUN, COPY, ENV, CMD"
    done
    pair_podman_save pair-pod-layers localhost/rt/pair-pod:layers podman oci-archive "podman build --layers: RUN, COPY, ENV, CMD"
    pair_podman_save pair-pod-squash localhost/rt/pair-pod:squash podman oci-archive "podman build --squash: RUN, COPY, ENV, CMD"
    pair_podman_save pair-phl-layers localhost/rt/pair-phl:layers podman docker-archive "podman build --layers: RUN echo > /hl/z.txt; RUN ln /hl/z.txt /hl/a.txt"
    pair_podman_save pair-phl-squash localhost/rt/pair-phl:squash podman docker-archive "podman build --squash: the same Containerfile"
    "${BUILDAH[@]}" rm -a >>"$LOG" 2>&1 || true
    say "pairs: buildah and podman done"
    : >"$PAIR_WORK/ok"
}

stage_pairs() {
    local key
    key=$(stage_key pairs docker)
    # The pair_* helpers (contexts, savers, pairs.py) decide this stage's outputs too.
    # shellcheck disable=SC2046
    key=$(printf '%s %s' "$key" "$(declare -f $(compgen -A function pair) | sha256sum | cut -c1-16)" | sha256sum | cut -c1-32)
    if stage_done pairs "$key"; then say "pairs: reusing $OUT/pairs"; return; fi
    stage_begin pairs
    rm -f "$STATE/pairs.specs.tsv" "$STATE/pairs.pairs.jsonl"
    local t0=$SECONDS
    start_dockerd
    pair_python
    pair_contexts
    local C=$W/pctx P=pairs
    # buildah and podman need no dockerd: they build and save beside the docker side.
    pair_podman_builds &
    PAIR_JOB=$!
    say "pairs: docker builds (BuildKit and classic) for issue 14"
    run "$DOCKER" load -i "$OUT/docker/base.tar"

    # ---- 1. hardlinks (docker)
    docker_build buildkit rt/pair-hl:one "$C/hl" -f "$C/hl/one.Dockerfile"
    docker_build buildkit rt/pair-hl:changed "$C/hl" -f "$C/hl/changed.Dockerfile"
    docker_build buildkit rt/pair-hl:ln "$C/hl" -f "$C/hl/ln.Dockerfile"
    docker_build buildkit rt/pair-hl:cp "$C/hl" -f "$C/hl/cp.Dockerfile"
    docker_build classic rt/pair-hl:classic "$C/hl" -f "$C/hl/changed.Dockerfile"
    docker_build classic rt/pair-hl:squash "$C/hl" -f "$C/hl/changed.Dockerfile" --squash
    # ---- 3. the first diverging step
    local v
    for v in del-x del-y over-one over-two; do
        docker_build buildkit "rt/pair-div:$v" "$C/div" -f "$C/div/$v.Dockerfile"
    done
    # ---- 4. builder spellings
    docker_build classic rt/pair-spell:classic-v1 "$C/spell/v1"
    docker_build classic rt/pair-spell:classic-v2 "$C/spell/v2"
    docker_build buildkit rt/pair-spell:buildkit-v1 "$C/spell/v1"
    # ---- 5. RUN steps through both builders
    docker_build classic rt/pair-run:classic "$C/run"
    docker_build buildkit rt/pair-run:buildkit "$C/run"
    # ---- 6. the image to corrupt
    docker_build buildkit rt/pair-corrupt:1 "$C/corrupt"
    # ---- 7. versions
    docker_build buildkit rt/pair-app:1 "$C/app/v1"
    docker_build buildkit rt/pair-app:3 "$C/app/v3"
    say "pairs: docker builds took $((SECONDS - t0)) s; saving, reading the layers, umoci unpack"

    pair_docker_save pair-hl-one rt/pair-hl:one "BuildKit: RUN makes /hl/data.txt (v1) and its hardlink /hl/data-link.txt"
    pair_docker_save pair-hl-changed rt/pair-hl:changed "BuildKit: pair-hl-one's step, then RUN echo v2 > /hl/data.txt"
    pair_docker_save pair-hl-ln rt/pair-hl:ln "BuildKit: RUN ln /hl/a.txt /hl/b.txt"
    pair_docker_save pair-hl-cp rt/pair-hl:cp "BuildKit: RUN cp /hl/a.txt /hl/b.txt"
    pair_docker_save pair-hl-classic rt/pair-hl:classic "classic builder, layered: pair-hl-changed's Dockerfile"
    pair_docker_save pair-hl-squash rt/pair-hl:squash "classic builder --squash: pair-hl-changed's Dockerfile"
    for v in del-x del-y over-one over-two; do
        pair_docker_save "pair-div-$v" "rt/pair-div:$v" "BuildKit: COPY app/ /app/; ENV; RUN ($(tail -n 1 "$C/div/$v.Dockerfile"))"
    done
    pair_docker_save pair-spell-classic-v1 rt/pair-spell:classic-v1 "classic builder: COPY dir, COPY --chown dir, COPY file, ADD file (sources v1)"
    pair_docker_save pair-spell-classic-v2 rt/pair-spell:classic-v2 "classic builder: the same Dockerfile, sources v2"
    pair_docker_save pair-spell-buildkit-v1 rt/pair-spell:buildkit-v1 "BuildKit: the same Dockerfile, sources v1"
    pair_docker_save pair-run-classic rt/pair-run:classic "classic builder: RUN, WORKDIR, RUN, RUN true, CMD"
    pair_docker_save pair-run-buildkit rt/pair-run:buildkit "BuildKit: the same Dockerfile"
    pair_docker_save pair-app-v1 rt/pair-app:1 "BuildKit: app v1 (COPY app/, RUN ln -s v1 /app/current, ENV, CMD)"
    pair_docker_save pair-app-v3 rt/pair-app:3 "BuildKit: FROM pair-app:1; COPY app/ (v3), RUN rm -rf /app/old && chmod && ln -sfn v3, ENV"

    # The corrupt image: written by pairs.py, then the same image saved again by
    # docker (load + save), copied byte for byte, and converted by skopeo.
    run "$DOCKER" save -o "$W/corrupt-src.tar" rt/pair-corrupt:1
    local how
    how=$(python3 "$W/pairs.py" tamper "$W/corrupt-src.tar" "$OUT/$P/pair-corrupt.tar")
    echo "tamper: $how" >>"$LOG"
    run "$DOCKER" load -i "$OUT/$P/pair-corrupt.tar"
    local corrupt_note="pairs.py tamper of a BuildKit image: its first COPY step marked empty_layer, its layer dropped: $how"
    pair_files_truth "$P/pair-corrupt.tar" pair-corrupt "docker-archive:$OUT/$P/pair-corrupt.tar"
    local reports
    reports="$(docker_reports "$P/pair-corrupt.tar" rt/pair-corrupt:1 pair-corrupt) $(skopeo_reports "$P/pair-corrupt.tar" "docker-archive:$OUT/$P/pair-corrupt.tar" pair-corrupt) $TRUTH_REPORTS"
    # shellcheck disable=SC2086
    img rt/pair-corrupt:1 pair-corrupt "docker-archive:$P/pair-corrupt.tar" rt/pair-corrupt:1 $reports
    commit_record pairs "$P/pair-corrupt.tar" docker-legacy "python3 tarfile (real-archives.sh pairs.py tamper)" file none "$corrupt_note"
    pair_mark_tampered "$P/pair-corrupt.tar" "$corrupt_note"
    cp "$OUT/$P/pair-corrupt.tar" "$OUT/$P/pair-corrupt.copy.tar"
    pair_files_truth "$P/pair-corrupt.copy.tar" pair-corrupt "docker-archive:$OUT/$P/pair-corrupt.copy.tar"
    reports="$(skopeo_reports "$P/pair-corrupt.copy.tar" "docker-archive:$OUT/$P/pair-corrupt.copy.tar" pair-corrupt) $TRUTH_REPORTS"
    # shellcheck disable=SC2086
    img rt/pair-corrupt:1 pair-corrupt "docker-archive:$P/pair-corrupt.copy.tar" rt/pair-corrupt:1 $reports
    commit_record pairs "$P/pair-corrupt.copy.tar" docker-legacy "cp" file none "a byte-for-byte copy of $P/pair-corrupt.tar"
    pair_mark_tampered "$P/pair-corrupt.copy.tar" "$corrupt_note"
    pair_docker_save pair-corrupt rt/pair-corrupt:1 "docker load -i $P/pair-corrupt.tar; docker save" "$P/pair-corrupt.resaved.tar"
    pair_mark_tampered "$P/pair-corrupt.resaved.tar" "$corrupt_note"
    pair_skopeo_oci pair-corrupt
    pair_mark_tampered "$P/pair-corrupt.skopeo.oci.tar" "$corrupt_note"

    # The second layout for a few pairs: skopeo's oci-archive conversion.
    for v in pair-hl-one pair-hl-changed pair-run-classic pair-run-buildkit pair-app-v1 pair-app-v3; do
        pair_skopeo_oci "$v"
    done

    pair hardlink-content hardlinks 1 $P/pair-hl-one.tar $P/pair-hl-changed.tar hardlink-content \
        "Both images hold the same hardlink pair (hl/data.txt and hl/data-link.txt share one inode; in both layer tars hl/data.txt is the link entry, size 0, pointing at hl/data-link.txt). B's later step 2 (RUN echo v2 > /hl/data.txt) wrote through one name, so in B both names hold v2 (A: v1), same size. Right: a content change of both paths (the link's content is its target's), caused by B's step 2, not an mtime-only change of the link entry."
    pair hardlink-content.oci hardlinks 1 $P/pair-hl-one.skopeo.oci.tar $P/pair-hl-changed.skopeo.oci.tar hardlink-content \
        "The hardlink-content pair after skopeo's OCI conversion: the same truth (the same layers, gzip-compressed)."
    pair hardlink-vs-copy hardlinks 1 $P/pair-hl-ln.tar $P/pair-hl-cp.tar link-only \
        "The same paths and bytes: in A hl/b.txt is a hardlink to hl/a.txt (RUN ln; the tar entry has size 0), in B it is a separate copy of the same 5 bytes (RUN cp). Only the link structure differs: a low-severity link-vs-copy change, not 'size 0 -> 5; content changed'."
    pair docker-layered-vs-squash hardlinks 1 $P/pair-hl-classic.tar $P/pair-hl-squash.tar same-files \
        "The classic builder's layered build vs docker build --squash of the same Dockerfile (B reused A's cached steps): the same files, mtimes aside, and the same hardlink pair with the same content. B's steps 1-2 are empty_layer and a last step commented 'merge sha256:... to sha256:...' carries the one merged layer. Right: same files; B is squashed."

    # ---- 2. buildah and podman (their job started above)
    wait "$PAIR_JOB" || { PAIR_JOB=""; die "pairs: the buildah/podman job failed (see $LOG)"; }
    PAIR_JOB=""
    if [ -e "$W/pair-podman/ok" ]; then
        pair hardlink-squash hardlinks 1 $P/pair-phl-layers.docker.tar $P/pair-phl-squash.docker.tar link-only \
            "podman build --layers vs --squash of one Containerfile: the same paths and bytes. In A (layered) hl/a.txt, linked in step 2, is a separate copy of hl/z.txt in step 2's layer (a tar hardlink can only point inside its own layer); in B (squashed) hl/z.txt is a hardlink to hl/a.txt. Right: same files, B is squashed; the link structure alone is a low-severity difference."
        pair bah-single-vs-layers buildah-podman 2 $P/pair-bah-single.oci.tar $P/pair-bah-layers.oci.tar bah-single \
            "buildah bud without and with --layers, one Containerfile (COPY, RUN, ENV, COPY) whose last step is a COPY: the same files. A's one build layer belongs to its last step (COPY extra.txt, comment 'FROM localhost/rt-base:latest'); its first COPY, its RUN and its ENV are empty_layer by buildah's convention, not a BuildKit loss (no BuildKit comment anywhere). B has one layer per COPY/RUN step, ENV empty. Right: same files; A is squashed (buildah single layer); no WARNING blamed on BuildKit, on either image's own audit or in the diff."
        pair bah-single-run-vs-layers buildah-podman 2 $P/pair-bah-run-single.oci.tar $P/pair-bah-run-layers.oci.tar bah-single \
            "buildah bud without and with --layers, one Containerfile (COPY, ENV, RUN) whose last step is a RUN: the same files. A's one build layer belongs to its last step (the RUN, comment 'FROM localhost/rt-base:latest'), its COPY and ENV are empty_layer by buildah's convention, not a BuildKit loss. B has one layer per COPY/RUN step. Right: same files; A is squashed (buildah single layer); no WARNING blamed on BuildKit."
        pair bah-commit-vs-bud buildah-podman 2 $P/pair-bah-copy.oci.tar $P/pair-bah-commit.oci.tar bah-commit \
            "Two healthy two-layer buildah images with the same paths and bytes: A by buildah bud --layers (step 1 COPY file:<hash> in /srv/app/app.txt), B by buildah from + copy + commit (step 1's created_by is the base's CMD '/bin/sh', comment 'FROM localhost/rt-base:latest', with its own layer). B is not squashed: each step has its layer."
        pair podman-layers-vs-squash buildah-podman 2 $P/pair-pod-layers.docker.tar $P/pair-pod-squash.docker.tar same-files \
            "podman build --layers vs --squash: the same files. B keeps the base layer and puts the build's RUN+COPY in one layer on its last step (CMD, comment 'FROM localhost/rt-base:latest'); B's other steps are empty_layer. A's ENV and CMD are empty_layer as they must be: nothing is wrongly empty. Right: same files; B is squashed."
        pair podman-layers-vs-squash.oci buildah-podman 2 $P/pair-pod-layers.oci.tar $P/pair-pod-squash.oci.tar same-files \
            "The podman-layers-vs-squash pair saved by podman as oci-archive: the same truth."
        pair podman-layers-vs-squash-all buildah-podman 2 $P/pair-pod-layers.docker.tar $P/pair-pod-squash-all.docker.tar same-files \
            "podman build --layers vs --squash-all: the same files. B has one layer holding everything (the base too) and no history entry for the base: B has one step fewer. Right: same files; B is squashed."
    fi

    pair diverge-delete first-diverging-step 3 $P/pair-div-del-x.tar $P/pair-div-del-y.tar diverge-3 \
        "Steps 0-2 are the same in both (step 1 COPY app/ /app/ is one layer, same diff_id); step 3 differs: A's RUN deleted /app/x.txt, B's deleted /app/y.txt. The first diverging step is 3 (RUN), on both sides; not step 1, the COPY that wrote the two files."
    pair diverge-overwrite first-diverging-step 3 $P/pair-div-over-one.tar $P/pair-div-over-two.tar diverge-3 \
        "Steps 0-2 the same; step 3 overwrote /app/x.txt (written by the shared COPY, step 1) with 'one' in A and 'two' in B. /app/x.txt's content differs because of step 3, the first diverging step."
    pair spelling-content builder-spellings 4 $P/pair-spell-classic-v1.tar $P/pair-spell-classic-v2.tar spelling-content \
        "The classic builder, one Dockerfile, other source bytes: each COPY/ADD step is the same instruction with another content hash ('/bin/sh -c #(nop) COPY dir:<hash> in /opt/files/', 'COPY --chown=1000:1000dir:<hash> in /opt/owned/' with no space, 'COPY file:<hash> in /opt/single.txt', 'ADD file:<hash> in /opt/added.txt'). Same paths; the files' contents differ, and with them steps 1-4. Right: the same instructions with other source content, not 'built from a different instruction'."
    pair spelling-builders builder-spellings 4 $P/pair-spell-classic-v1.tar $P/pair-spell-buildkit-v1.tar same-bytes \
        "One Dockerfile and source tree through the classic builder (A) and BuildKit (B): the same paths and bytes; every step spelled the builder's way (A: '/bin/sh -c #(nop) COPY dir:<hash> in /opt/files/', B: 'COPY files/ /opt/files/ # buildkit'; BuildKit drops --chown=1000:1000 from created_by, the files are still owned 1000:1000). The same instructions."
    pair run-builders run-artefacts 5 $P/pair-run-classic.tar $P/pair-run-buildkit.tar run-builders \
        "One Dockerfile with RUN steps, classic (A) vs BuildKit (B): BuildKit's first RUN layer carries the empty mount-point directories dev/, proc/, sys/ (the base has none; the classic builder's layers never do), and BuildKit gives WORKDIR and the no-op RUN true an entry-less layer where the classic builder marks them empty_layer. Otherwise the same files. Right, in both orders: builder artefacts, not ERROR missing content."
    pair run-builders.oci run-artefacts 5 $P/pair-run-classic.skopeo.oci.tar $P/pair-run-buildkit.skopeo.oci.tar run-builders \
        "The run-builders pair after skopeo's OCI conversion: the same truth."
    pair corrupt-copy corrupt-twice 7 $P/pair-corrupt.tar $P/pair-corrupt.copy.tar corrupt-identical \
        "One corrupt image twice (a byte-for-byte copy): step 2 COPY app.txt /app/app.txt is marked empty_layer and has no layer, so /app/app.txt is absent. Right: identical, exit 0, and each side's audit finding (a COPY step marked empty_layer) still shown."
    pair corrupt-resaved corrupt-twice 7 $P/pair-corrupt.tar $P/pair-corrupt.resaved.tar corrupt-identical \
        "The corrupt image and docker's own save of it after docker load: the same image ID and layers, other archive bytes. Right: identical, and the audit finding on each side."
    pair corrupt-oci corrupt-twice 7 $P/pair-corrupt.tar $P/pair-corrupt.skopeo.oci.tar corrupt \
        "The corrupt image and skopeo's oci-archive conversion of it: the same layers and files, the config re-marshalled by skopeo (another image ID). Right: the same image in another packaging, and the audit finding on each side."
    pair versions versions 8 $P/pair-app-v1.tar $P/pair-app-v3.tar versions \
        "v1 (A) vs v3 (B), B built FROM A: B's steps 0-4 are A's, steps 5-7 are B's own. B's step 5 (COPY app/ /app/) changed index.html's content and added health.txt; B's step 6 (RUN rm -rf /app/old && chmod 0755 /app/run.sh && ln -sfn v3 /app/current) deleted /app/old and its files, made run.sh 0755 and pointed /app/current at v3. Every path A has and B lacks was removed by B's own step 6: a change with its cause, not ERROR missing content."
    pair versions.oci versions 8 $P/pair-app-v1.skopeo.oci.tar $P/pair-app-v3.skopeo.oci.tar versions \
        "The versions pair after skopeo's OCI conversion: the same truth."
    pair versions.mixed versions 8 $P/pair-app-v1.tar $P/pair-app-v3.skopeo.oci.tar versions \
        "The versions pair across packagings: A as docker save wrote it, B as skopeo's oci-archive. The same truth; the packaging is no difference of the images' files or steps."

    run python3 "$W/pairs.py" pairs "$OUT" "$STATE/pairs.specs.tsv" "$STATE/pairs.records.jsonl" "$STATE/pairs.pairs.jsonl"
    say "pairs: done in $((SECONDS - t0)) s"
    stage_finish pairs "$key"
}

# ================================================================ stage: packages
# Images whose layers hold package databases written by the real package
# managers: dpkg (Debian's own, into a private --admindir, from .deb files
# dpkg-deb builds here: no registry, no network) and rpm (rpmbuild's
# packages installed --justdb into a private SQLite --dbpath). Each COPY step
# brings the databases as the tool left them after one more install,
# upgrade or removal; the truth is what `dpkg-query -W --admindir` and
# `rpm -qa --dbpath` list for the databases after each layer
# (packages/NAME.truth.json, MANIFEST.json "packages").
stage_packages() {
    local key; key=$(stage_key packages)
    if stage_done packages "$key"; then say "packages: reusing $OUT/packages"; return; fi
    stage_begin packages
    start_dockerd
    local t0=$SECONDS P=$W/pkg
    rm -rf "$P"; mkdir -p "$P/debs" "$P/ctx"
    say "packages: .deb files (dpkg-deb), a private dpkg admindir, rpmbuild and a private rpmdb"
    local v d
    for v in 1.0-1 2.0-1; do
        d=$P/build/hello-$v; mkdir -p "$d/DEBIAN" "$d/usr/share/hello-if"
        printf 'Package: hello-if\nVersion: %s\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test package\n a tiny package\n' "$v" >"$d/DEBIAN/control"
        echo "hello $v" >"$d/usr/share/hello-if/README"
        run dpkg-deb --root-owner-group --build "$d" "$P/debs/hello-if_$v.deb"
    done
    d=$P/build/libfoo; mkdir -p "$d/DEBIAN" "$d/etc" "$d/usr/lib/libfoo-if"
    printf 'Package: libfoo-if\nVersion: 3:0.9~rc1-2\nArchitecture: amd64\nMaintainer: t <t@example.org>\nDescription: lib\n lib\n' >"$d/DEBIAN/control"
    echo /etc/libfoo-if.conf >"$d/DEBIAN/conffiles"; echo "conf" >"$d/etc/libfoo-if.conf"; echo x >"$d/usr/lib/libfoo-if/x"
    run dpkg-deb --root-owner-group --build "$d" "$P/debs/libfoo-if.deb"
    # One root, changed step by step by dpkg itself; after each step its state is copied into a context folder.
    local R=$P/root
    mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers"
    touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
    dpkg_do() { run dpkg --root="$R" --force-not-root --force-script-chrootless --log=/dev/null "$@"; }
    dpkg_do -i "$P/debs/hello-if_1.0-1.deb" "$P/debs/libfoo-if.deb"
    cp -a "$R" "$P/ctx/dpkg1"
    dpkg_do -i "$P/debs/hello-if_2.0-1.deb"
    dpkg_do -r libfoo-if     # its conffile stays: "deinstall ok config-files", not installed
    cp -a "$R" "$P/ctx/dpkg2"
    local have_rpm=0
    if command -v rpm >/dev/null && command -v rpmbuild >/dev/null; then
        have_rpm=1
        local T=$P/rpmbuild name ver rel
        mkdir -p "$T/SPECS"
        for spec in "rpm-if 1.2 3" "rpm-if 1.3 1" "other-if 0.1 1"; do
            read -r name ver rel <<<"$spec"
            printf 'Name: %s\nVersion: %s\nRelease: %s\nSummary: test\nLicense: MIT\nBuildArch: noarch\n%%description\ntest\n%%files\n' \
                "$name" "$ver" "$rel" >"$T/SPECS/$name-$ver.spec"
            run rpmbuild --define "_topdir $T" -bb "$T/SPECS/$name-$ver.spec"
        done
        local DB=$P/rpmroot/var/lib/rpm
        mkdir -p "$DB"
        run rpm --dbpath "$DB" --initdb
        run rpm --dbpath "$DB" -i --justdb --nodeps "$T/RPMS/noarch/rpm-if-1.2-3.noarch.rpm"
        mkdir -p "$P/ctx/rpm1/var/lib"; cp -a "$DB" "$P/ctx/rpm1/var/lib/rpm"
        run rpm --dbpath "$DB" -U --justdb --nodeps "$T/RPMS/noarch/rpm-if-1.3-1.noarch.rpm" \
            "$T/RPMS/noarch/other-if-0.1-1.noarch.rpm"
        mkdir -p "$P/ctx/rpm2/var/lib"; cp -a "$DB" "$P/ctx/rpm2/var/lib/rpm"
        [ -f "$DB/rpmdb.sqlite" ] || { have_rpm=0; skip_section packages packages-rpm "rpm wrote no rpmdb.sqlite (backend $(rpm -E '%_db_backend'))"; }
    else
        skip_section packages packages-rpm "rpm or rpmbuild is not installed (apt-get install rpm)"
    fi
    # Only the databases and the packages' files go into the images (no dpkg info/ scripts needed).
    local c
    for c in "$P"/ctx/*; do rm -rf "$c/var/lib/dpkg/info" "$c/var/lib/dpkg/updates" "$c/var/lib/dpkg/triggers"; done
    {
        echo "FROM scratch"
        echo "COPY dpkg1/ /"
        [ "$have_rpm" = 1 ] && echo "COPY rpm1/ /"
    } >"$P/ctx/Dockerfile.a"
    {
        echo "FROM scratch"
        echo "COPY dpkg1/ /"
        echo "COPY dpkg2/ /"
        [ "$have_rpm" = 1 ] && echo "COPY rpm2/ /"
    } >"$P/ctx/Dockerfile.b"
    docker_build classic rt/pkg:a "$P/ctx" -f "$P/ctx/Dockerfile.a"
    docker_build buildkit rt/pkg:b "$P/ctx" -f "$P/ctx/Dockerfile.b"
    run "$DOCKER" save -o "$OUT/packages/pkg-a.tar" rt/pkg:a
    run "$DOCKER" save -o "$OUT/packages/pkg-b.tar" rt/pkg:b
    "${BUILDAH[@]}" bud --format oci --layers -t localhost/rt/pkg:a -f "$P/ctx/Dockerfile.a" "$P/ctx" >>"$LOG" 2>&1 \
        && run "${BUILDAH[@]}" push localhost/rt/pkg:a "oci-archive:$OUT/packages/pkg-a.buildah.oci.tar:rt/pkg:a" \
        || skip_section packages packages-buildah "buildah bud failed (see the log)"
    # The truth: what the tools list for the databases after each layer (the contexts, in COPY order).
    local archive layers
    for archive in pkg-a:dpkg1,rpm1 pkg-b:dpkg1,dpkg2,rpm2 pkg-a.buildah.oci:dpkg1,rpm1; do
        local name=${archive%%:*} file
        file=packages/$name.tar
        [ -f "$OUT/$file" ] || continue
        layers=${archive#*:}
        local dpkg_dir="" rpm_dir="" steps=()
        IFS=, read -r -a names <<<"$layers"
        for c in "${names[@]}"; do
            [ -d "$P/ctx/$c" ] || continue
            case "$c" in dpkg*) dpkg_dir=$P/ctx/$c/var/lib/dpkg ;; rpm*) rpm_dir=$P/ctx/$c/var/lib/rpm ;; esac
            local dl="" rl=""
            [ -n "$dpkg_dir" ] && dl=$(dpkg-query --admindir="$dpkg_dir" -W -f '${db:Status-Status}\t${Package}\t${Version}\t${Architecture}\n' | awk -F'\t' '$1 == "installed" { print $2 "\t" $3 "\t" $4 }' | sort | base64 -w0)
            [ -n "$rpm_dir" ] && rl=$(rpm -qa --dbpath "$rpm_dir" --qf '%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\n' | sort | base64 -w0)
            steps+=("$c" "$dl" "$rl")
        done
        python3 - "$OUT/packages/$name.truth.json" "$file" "$(dpkg-query --version | head -1)" \
            "$(rpm --version 2>/dev/null || echo none)" "${steps[@]}" <<'PY'
import base64, json, sys
out, archive, dpkg, rpm, *steps = sys.argv[1:]
def rows(text):
    return [line.split("\t") for line in base64.b64decode(text).decode().splitlines() if line]
layers = [{"context": steps[i], "dpkg": rows(steps[i + 1]), "rpm": rows(steps[i + 2])} for i in range(0, len(steps), 3)]
with open(out, "w", encoding="utf-8") as f:
    json.dump({"archive": archive, "tools": {"dpkg-query": dpkg, "rpm": rpm}, "after_layer": layers}, f, indent=1, sort_keys=True)
PY
        python3 -c 'import json,sys; print(json.dumps({"packages": sys.argv[1], "path": sys.argv[2], "truth": sys.argv[3]}))' \
            "$name" "$file" "packages/$name.truth.json" >>"$STATE/packages.records.jsonl"
    done
    say "packages: done in $((SECONDS - t0)) s"
    stage_finish packages "$key"
}

# ---------------------------------------------------------------- large: a 200,000-file pair
# A rebuild of a 200,000-file image (four RUN steps of 50,000 files in 100
# directories each) in which 300 files' contents change: the size at which
# the reports must stay readable. The files' mtimes are pinned (touch -d) as a
# reproducible build pins them, so what differs is the changed contents and
# the directories' mtimes, which the build itself sets. The truth is read
# from the saved layer tars: each regular file's sha256 in the merged
# filesystem of each image, and the paths whose contents differ.
stage_large() {
    local key; key=$(stage_key large docker)
    if stage_done large "$key"; then say "large: reusing $OUT/large"; return; fi
    stage_begin large
    start_dockerd
    local t0=$SECONDS C=$W/large n
    rm -rf "$C"; mkdir -p "$C"
    {
        printf 'FROM rt/base:1\nARG V=1\n'
        for n in 1 2 3 4; do
            # File f0 of each directory of the first three steps holds V: 300 files in all.
            printf 'RUN for d in $(seq 0 99); do mkdir -p /data/run%s/d$d; for f in $(seq 0 499); do v=1; [ %s -eq 1 ] && [ "$f" -eq 0 ] && v=$V; echo "run%s $d $f v$v" >/data/run%s/d$d/f$f; done; done && find /data/run%s -type f -exec touch -d @1700000000 {} +\n' \
                "$n" "$([ "$n" -lt 4 ] && echo 1 || echo 0)" "$n" "$n" "$n"
        done
        printf 'CMD ["ls", "/data"]\n'
    } >"$C/Dockerfile"
    "$DOCKER" image inspect rt/base:1 >/dev/null 2>&1 || run "$DOCKER" load -i "$OUT/docker/base.tar"
    docker_build buildkit rt/large:1 "$C" --build-arg V=1
    docker_build buildkit rt/large:2 "$C" --build-arg V=2
    say "large: built in $((SECONDS - t0)) s; saving, reading the layers"
    run "$DOCKER" save -o "$OUT/large/a.tar" rt/large:1
    run "$DOCKER" save -o "$OUT/large/b.tar" rt/large:2
    say "large: saved at $((SECONDS - t0)) s"
    python3 - "$OUT/large" <<'PY'
import hashlib, json, sys, tarfile
out = sys.argv[1]
def files(archive):
    """Each regular file of the image's merged filesystem -> the sha256 of its bytes (whiteouts applied)."""
    merged = {}
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer), mode="r|") as inner:
                for m in inner:
                    name = "/" + m.name.lstrip("./").rstrip("/")
                    base = name.rsplit("/", 1)[-1]
                    if base.startswith(".wh."):
                        gone = name[: -len(base)] + base[4:]
                        merged = {p: d for p, d in merged.items() if p != gone and not p.startswith(gone + "/")}
                    elif m.isfile():
                        merged[name] = hashlib.sha256(inner.extractfile(m).read()).hexdigest()
                    else:
                        merged.pop(name, None)
    return merged
a, b = files(f"{out}/a.tar"), files(f"{out}/b.tar")
changed = sorted(p for p in a.keys() & b.keys() if a[p] != b[p])
truth = {"a": "large/a.tar", "b": "large/b.tar", "files_a": len(a), "files_b": len(b),
         "only_a": sorted(a.keys() - b.keys()), "only_b": sorted(b.keys() - a.keys()), "content_changed": changed}
with open(f"{out}/TRUTH.json", "w", encoding="utf-8") as f:
    json.dump(truth, f, indent=1)
print(f"large: {len(a)} files in A, {len(b)} in B, {len(changed)} with other contents")
PY
    say "large: done in $((SECONDS - t0)) s"
    stage_finish large "$key"
}

# ================================================================ main
T0=$SECONDS
DOCKERD_VERSION=$("$DOCKERD" --version | sed 's/^Docker version //; s/,.*//')
CTR_VERSION=$(ctr --version | awk '{print $3}')
PODMAN_VERSION=$(podman --version | awk '{print $3}')
BUILDAH_VERSION=$(buildah --version | awk '{print $3}')
SKOPEO_VERSION=$(skopeo --version | awk '{print $3}')
UMOCI_VERSION=$(umoci --version | awk '{print $3}')
say "writing into $OUT (script $script_sha)"

stage_docker
stage_containerd
stage_podman
stage_skopeo
stage_umoci
stage_rootfs
stage_packages
stage_pairs
stage_large

versions=$(python3 -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' \
    dockerd "$DOCKERD_VERSION" containerd "$CTR_VERSION" podman "$PODMAN_VERSION" buildah "$BUILDAH_VERSION" \
    skopeo "$SKOPEO_VERSION" umoci "$UMOCI_VERSION")
py manifest "$OUT" "$versions" "$STATE"/docker.records.jsonl "$STATE"/containerd.records.jsonl \
    "$STATE"/podman.records.jsonl "$STATE"/skopeo.records.jsonl "$STATE"/umoci.records.jsonl \
    "$STATE"/rootfs.records.jsonl "$STATE"/packages.records.jsonl --pairs "$STATE"/pairs.records.jsonl "$STATE"/pairs.pairs.jsonl
say "done in $((SECONDS - T0)) s: $OUT/MANIFEST.json"
