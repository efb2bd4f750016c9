"""Write the bundled sample archives into ``samples/`` (deterministic: re-running gives identical bytes).

    python3 tools/make_samples.py [OUTDIR]

The tomcat pair is the seed case in miniature (a BuildKit ``--cache-from``
rebuild that lost its last ``COPY`` layer); the other pairs each isolate one
kind of difference, and each pair uses a different archive layout so the
samples also exercise the reader. Layer gzip uses stored deflate blocks
(level 0) so the bytes do not depend on the zlib build.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.synth import (  # noqa: E402
    DEFAULT_PATH, ArchiveSpec, Config, Entry, ImageSpec, Layer, Step, go_json, write_archive,
)
from tools.synthspec import layer_tar_chunks  # noqa: E402
from tools.synthtar import gzip_chunks, pseudo_text  # noqa: E402

EMPTY_GZIP_BUILDKIT = "sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1"
BK = "buildkit.dockerfile.v0"
T_BUILD = 1612451967  # 2021-02-04T15:19:27Z, when the seed's image was built
T_CONTEXT = 1611849600  # 2021-01-28T16:00:00Z, mtime of the build-context files


def _file(path: str, size: int, *, mode: int = 0o644, mtime: int = T_BUILD, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(path, data=pseudo_text(path, size), mode=mode, mtime_ns=mtime * 10**9, uid=uid, gid=gid)


def _dir(path: str, *, mtime: int = T_BUILD, mode: int = 0o755) -> Entry:
    return Entry(path, kind="dir", mode=mode, mtime_ns=mtime * 10**9)


# --------------------------------------------------------------------------- the tomcat case

ALPINE_ADD = "/bin/sh -c #(nop) ADD file:ec475c2abb2d46435286b5ae5efacf5b50b1a9e3b6293b69db3c0172b5b9658b in / "
RUN_TOMCAT = (
    'RUN /bin/sh -c DOWNLOAD_CACHE_DIRECTORY="/opt/downloads" &&     TOMCAT_VERSION="9.0.41" &&     '
    'TOMCAT_FILE="apache-tomcat-${TOMCAT_VERSION}.tar.gz" &&     '
    'download.sh --url "${TOMCAT_URL}" --sha256 "${TOMCAT_FILE_SHA256}" "${DOWNLOAD_CACHE_DIRECTORY}" &&     '
    'install-apache-service.sh         --name tomcat         --file "${DOWNLOAD_CACHE_DIRECTORY}/${TOMCAT_FILE}"'
    "         webapps/docs webapps/examples # buildkit"
)
RUN_NGINX = "RUN /bin/sh -c apk-install.sh nginx &&     cleanup.sh # buildkit"

# The 12 files of the context's rootfs/; their data adds up to exactly 7650 bytes,
# the 7.65kB `docker history` showed for the pulled image's COPY layer.
ROOTFS_FILES = (
    ("etc/confd/conf.d/tomcat-users.xml.toml", 212, 0o644),
    ("etc/confd/templates/tomcat-users.xml.tmpl", 1188, 0o644),
    ("etc/cont-init.d/20-tomcat-setup.sh", 498, 0o755),
    ("etc/nginx/conf.d/tomcat.conf", 642, 0o644),
    ("etc/services.d/nginx/finish", 97, 0o755),
    ("etc/services.d/nginx/run", 143, 0o755),
    ("etc/services.d/tomcat/finish", 101, 0o755),
    ("etc/services.d/tomcat/run", 187, 0o755),
    ("opt/tomcat/bin/setenv.sh", 356, 0o755),
    ("opt/tomcat/conf/logging.properties", 2412, 0o644),
    ("usr/local/bin/install-war-into-tomcat.sh", 1489, 0o755),
    ("usr/local/bin/wait-for-tomcat.sh", 325, 0o755),
)
assert sum(size for _, size, _ in ROOTFS_FILES) == 7650


def _alpine_layer() -> Layer:
    entries = [_dir(d, mtime=1608164382) for d in ("bin", "etc", "etc/apk", "lib", "sbin", "usr", "usr/bin", "var")]
    entries.append(Entry("bin/busybox", data=pseudo_text("busybox", 9000), mode=0o755, mtime_ns=1608164382 * 10**9))
    for tool in ("sh", "ls", "cat", "cp", "mv", "rm", "mkdir", "chmod", "chown", "sed", "grep"):
        entries.append(Entry(f"bin/{tool}", kind="hardlink", linkname="bin/busybox", mode=0o755,
                             mtime_ns=1608164382 * 10**9))
    for path, size in (("etc/alpine-release", 7), ("etc/os-release", 164), ("etc/passwd", 1172), ("etc/group", 697),
                       ("etc/apk/world", 61), ("lib/ld-musl-x86_64.so.1", 6000), ("sbin/apk", 3000)):
        entries.append(_file(path, size, mtime=1608164382, mode=0o755 if "/apk" in path and "etc" not in path else 0o644))
    entries.append(Entry("usr/bin/env", kind="symlink", linkname="../../bin/busybox", mtime_ns=1608164382 * 10**9))
    return Layer(entries=tuple(entries))


def _tomcat_layer() -> Layer:
    entries = [_dir("opt", mtime=T_BUILD - 9), _dir("opt/tomcat", mtime=T_BUILD - 9)]
    for sub in ("bin", "conf", "lib", "webapps"):
        entries.append(_dir(f"opt/tomcat/{sub}", mtime=T_BUILD - 9))
    for path, size in (("bin/catalina.sh", 4000), ("bin/startup.sh", 1900), ("conf/server.xml", 7600),
                       ("conf/web.xml", 9000), ("lib/catalina.jar", 12000), ("lib/servlet-api.jar", 6000)):
        entries.append(_file(f"opt/tomcat/{path}", size, mtime=1607436000, mode=0o755 if path.endswith(".sh") else 0o644))
    entries.append(Entry("opt/tomcat/logs", kind="symlink", linkname="/var/log/tomcat", mtime_ns=(T_BUILD - 9) * 10**9))
    return Layer(entries=tuple(entries))


def _nginx_layer() -> Layer:
    entries = [_dir("etc", mtime=T_BUILD - 1), _dir("etc/nginx", mtime=T_BUILD - 1), _dir("etc/nginx/conf.d", mtime=T_BUILD - 1),
               _dir("usr", mtime=T_BUILD - 1), _dir("usr/sbin", mtime=T_BUILD - 1), _dir("var", mtime=T_BUILD - 1),
               _dir("var/lib", mtime=T_BUILD - 1), _dir("var/lib/nginx", mtime=T_BUILD - 1)]
    entries.append(Entry("usr/sbin/nginx", data=pseudo_text("nginx-binary", 48000), mode=0o755,
                         mtime_ns=1604000000 * 10**9))
    for path, size in (("etc/nginx/nginx.conf", 2920), ("etc/nginx/mime.types", 5231), ("etc/nginx/fastcgi.conf", 1077)):
        entries.append(_file(path, size, mtime=1604000000))
    entries.append(Entry("etc/nginx/conf.d/default.conf", kind="whiteout", mtime_ns=(T_BUILD - 1) * 10**9))
    entries.append(Entry("var/lib/nginx/logs", kind="symlink", linkname="/var/log/nginx", mtime_ns=(T_BUILD - 1) * 10**9))
    return Layer(entries=tuple(entries))


def _workdir_layer() -> Layer:
    # BuildKit's WORKDIR is a mkdir; /opt/tomcat exists after RUN tomcat, so dockerd 20.10
    # stores the 1024-byte empty tar (5f70bf18…), pushed as the 32-byte empty gzip that
    # BuildKit v0.8.0/0.8.1 skipped when it marshalled cache chains.
    return Layer(entries=())


def _rootfs_layer() -> Layer:
    dirs_mtime = T_CONTEXT
    return Layer(entries=tuple(_file(p, size, mode=mode, mtime=dirs_mtime) for p, size, mode in ROOTFS_FILES))


def _gzip_digest(layer: Layer) -> str:
    return "sha256:" + hashlib.sha256(b"".join(gzip_chunks(layer_tar_chunks(layer), level=0))).hexdigest()


def _inline_cache(steps: list[tuple[str, int | None, str]]) -> str:
    """BuildKit's ``moby.buildkit.cache.v0`` as dockerd 20.10 writes it: base64 of the JSON array of records.

    ``steps`` are (cache key seed, layer index or None, createdAt), bottom first, each running on the one
    before; a source record (the base image) comes first and the context's checksum is COPY's input 1.
    The array is sorted by digest and ``link`` indexes it (BuildKit ``cache/remotecache/v1/utils.go`` sortConfig).
    """
    def key(seed: str) -> str:
        return "sha256:" + hashlib.sha256(f"tomcat cache key {seed}".encode()).hexdigest()

    records: list[dict[str, object]] = [{"digest": key("base image")}, {"digest": key("context rootfs")}]
    parent = key("base image")
    for seed, index, when in steps:
        record: dict[str, object] = {"digest": key(seed), "inputs": [[parent]] + ([[key("context rootfs")]] if seed.startswith("COPY") else [])}
        if index is not None:
            record["layers"] = [{"layer": index, "createdAt": when}]
        records.append(record)
        parent = key(seed)
    records.sort(key=lambda r: str(r["digest"]))
    position = {r["digest"]: i for i, r in enumerate(records)}
    out = []
    for r in records:
        o: dict[str, object] = {}
        if "layers" in r:
            o["layers"] = r["layers"]
        o["digest"] = r["digest"]
        if "inputs" in r:
            o["inputs"] = [[{"link": position[d]} for d in alts] for alts in r["inputs"]]  # type: ignore[attr-defined]
        out.append(o)
    return go_json(base64.b64encode(go_json(out).encode()).decode())


def tomcat_pair() -> tuple[ImageSpec, ImageSpec]:
    """The pulled image and its corrupt ``--cache-from`` rebuild (the seed's case in miniature)."""
    alpine, tomcat, nginx, workdir, rootfs = (_alpine_layer(), _tomcat_layer(), _nginx_layer(), _workdir_layer(),
                                              _rootfs_layer())
    t_workdir, t_late = "2021-02-04T15:19:27.8456647Z", "2021-02-04T15:19:27.9352723Z"
    base = (
        Step(created="2020-12-17T00:19:42.11518025Z", created_by=ALPINE_ADD),
        Step(created="2020-12-17T00:19:42.3408385Z", created_by='/bin/sh -c #(nop)  CMD ["/bin/sh"]', empty_layer=True),
        Step(created="2021-02-04T15:19:18.6303148Z", created_by=RUN_TOMCAT, comment=BK),
        Step(created="2021-02-04T15:19:27.7561232Z", created_by=RUN_NGINX, comment=BK),
        Step(created=t_workdir, created_by="WORKDIR /opt/tomcat", comment=BK),
    )
    lower = (alpine, tomcat, nginx, workdir)
    config = Config(env=(DEFAULT_PATH, "TOMCAT_HOME=/opt/tomcat"), cmd=("/bin/sh",), working_dir="/opt/tomcat",
                    exposed_ports=("8080/tcp",))
    # The pulled image's inline cache is poisoned as BuildKit v0.8.0/0.8.1 (Docker 20.10.0–20.10.3)
    # wrote it after a registry import: the empty WORKDIR layer (3) skipped in every chain, so
    # WORKDIR claims RUN nginx's index 2 and `COPY rootfs /` claims 3 where it should claim 4.
    # A `--cache-from` build from it gives the rebuild below, which carries the same cache on.
    poisoned_cache = _inline_cache([
        ("RUN tomcat", 1, "2021-02-04T15:19:18.6334291Z"), ("RUN nginx", 2, "2021-02-04T15:19:27.7590133Z"),
        ("WORKDIR /opt/tomcat", 2, "2021-02-04T15:19:27.8480214Z"), ("COPY rootfs /", 3, "2021-02-04T15:19:27.9371008Z")])
    pulled = ImageSpec(
        layers=lower + (rootfs,),
        history=base + (Step(created=t_late, created_by="EXPOSE map[8080/tcp:{}]", comment=BK, empty_layer=True),
                        Step(created=t_late, created_by="COPY rootfs / # buildkit", comment=BK)),
        config=replace(config, created=t_late, extra=(
            ("moby.buildkit.cache.v0", poisoned_cache),)),
        references=("local/tomcat:pulled",),
    )
    # The rebuild: BuildKit < 0.10 dropped the COPY layer when the imported cache
    # pointed at the empty gzip blob, flipped the step to empty_layer, and gave the
    # later entries the previous entry's time. Its inline cache still counts the
    # dropped blob (the index desync of FORMATS.md A4).
    bad = ImageSpec(
        layers=lower,
        history=base + (Step(created=t_workdir, created_by="EXPOSE map[8080/tcp:{}]", comment=BK, empty_layer=True),
                        Step(created=t_workdir, created_by="COPY rootfs / # buildkit", comment=BK, empty_layer=True)),
        config=replace(config, created=t_workdir, extra=(
            ("moby.buildkit.cache.v0", poisoned_cache),)),
        references=("local/tomcat:bad",),
    )
    return pulled, bad


# --------------------------------------------------------------------------- small pairs


def _app_image(extra_layers: tuple[Layer, ...] = (), extra_steps: tuple[Step, ...] = (), *,
               created: str = "2024-03-01T10:00:00Z", refs: tuple[str, ...] = ("local/app:a",),
               config: Config | None = None, base: Layer | None = None, gzip: bool = False) -> ImageSpec:
    """A two-step image (base layer, app layer) plus extra steps; all timestamps from ``created``."""
    t = T_BUILD + 100000
    base_layer = base or Layer(entries=(
        _dir("etc", mtime=t), _file("etc/app.conf", 120, mtime=t), _dir("etc/app", mtime=t),
        _file("etc/app/defaults.ini", 300, mtime=t), _dir("var", mtime=t), _dir("var/cache", mtime=t),
        _dir("var/cache/app", mtime=t), _file("var/cache/app/a.bin", 200, mtime=t),
        _file("var/cache/app/b.bin", 220, mtime=t), _dir("usr", mtime=t), _dir("usr/local", mtime=t),
        _dir("usr/local/bin", mtime=t), _file("usr/local/bin/tool", 900, mode=0o755, mtime=t),
    ))
    app = Layer(entries=(_dir("srv", mtime=t), _file("srv/index.html", 480, mtime=t), _file("srv/app.js", 1500, mtime=t)))
    layers = (base_layer, app) + extra_layers
    if gzip:
        layers = tuple(replace(layer, compression="gzip", gzip_level=0) for layer in layers)
    history = (Step(created=created, created_by="/bin/sh -c #(nop) ADD file:5b0f5b8a3c81f1c5a9e8c7d6 in / "),
               Step(created=created, created_by="COPY srv /srv # buildkit", comment=BK),
               Step(created=created, created_by='CMD ["/usr/local/bin/tool"]', comment=BK, empty_layer=True)) + extra_steps
    cfg = config or Config(cmd=("/usr/local/bin/tool",))
    return ImageSpec(layers=layers, history=history, config=replace(cfg, created=created), references=refs)


def _opaque_layer(entries: tuple[Entry, ...]) -> Layer:
    return Layer(entries=entries)


def samples() -> list[tuple[str, ArchiveSpec, str, str]]:
    """(file name, spec, layout, one-line description) for every bundled sample."""
    pulled, bad = tomcat_pair()
    t = T_BUILD + 200000
    same = _app_image(refs=("local/app:same",))
    same_gz = replace(same, layers=tuple(replace(layer, compression="gzip", gzip_level=0) for layer in same.layers))
    ts_a = _app_image(created="2024-03-01T10:00:00.123456789Z", refs=("local/app:monday",))
    ts_b = _app_image(created="2024-03-04T08:30:00.5Z", refs=("local/app:thursday",))
    rm_step = Step(created="2024-03-01T10:00:00Z", created_by="RUN /bin/sh -c rm /etc/app.conf # buildkit", comment=BK)
    wh_layer = Layer(entries=(_dir("etc", mtime=t), Entry("etc/app.conf", kind="whiteout", mtime_ns=t * 10**9)),
                     compression="gzip", gzip_level=0)
    opq_step = Step(created="2024-03-01T10:00:00Z", comment=BK,
                    created_by="RUN /bin/sh -c rm -rf /var/cache/app && mkdir /var/cache/app && touch /var/cache/app/fresh # buildkit")
    opq_layer = Layer(entries=(_dir("var/cache/app", mtime=t), Entry("var/cache/app", kind="opaque", mtime_ns=t * 10**9),
                               _file("var/cache/app/fresh", 0, mtime=t)), compression="gzip", gzip_level=0)
    chmod = "RUN /bin/sh -c chmod 0700 /usr/local/bin/tool && chown 1000:1000 /usr/local/bin/tool # buildkit"
    tool_a = Layer(entries=(_file("usr/local/bin/tool", 900, mode=0o755, mtime=t),))
    tool_b = Layer(entries=(_file("usr/local/bin/tool", 900, mode=0o700, uid=1000, gid=1000, mtime=t),))
    arm = _app_image(refs=("local/app:arm64",), config=Config(cmd=("/usr/local/bin/tool",), architecture="arm64", variant="v8"),
                     base=Layer(entries=(_dir("usr", mtime=t), _dir("usr/local", mtime=t), _dir("usr/local/bin", mtime=t),
                                         _file("usr/local/bin/tool", 1100, mode=0o755, mtime=t + 1))))
    amd = _app_image(refs=("local/app:amd64",),
                     base=Layer(entries=(_dir("usr", mtime=t), _dir("usr/local", mtime=t), _dir("usr/local/bin", mtime=t),
                                         _file("usr/local/bin/tool", 1000, mode=0o755, mtime=t))))

    def one(image: ImageSpec) -> ArchiveSpec:
        return ArchiveSpec(images=(image,))

    return [
        ("tomcat-pulled.tar", one(pulled), "docker-legacy",
         "the seed's pulled image in miniature: `COPY rootfs /` carries a 7650-byte layer of 12 files (Docker 20.10 save); "
         "its inline cache is poisoned (BuildKit v0.8.0/0.8.1): `inspect` predicts the loss"),
        ("tomcat-cache-from.tar", one(bad), "docker-legacy",
         "its corrupt `--cache-from` rebuild: `COPY rootfs /` marked empty_layer, layer gone, times 89.6 ms earlier from EXPOSE on; "
         "it carries the poisoned cache on"),
        ("same-legacy.tar", one(same), "docker-legacy", "one image saved by Docker <= 24 (uncompressed layers)"),
        ("same-oci.tar", one(same_gz), "oci-archive",
         "the same image (same config bytes, same diff_ids) as an oci-archive with gzip layers: diff exits 0"),
        ("timestamps-a.tar", one(ts_a), "docker-legacy", "an image built on Monday"),
        ("timestamps-b.tar", one(ts_b), "docker-legacy",
         "the same Dockerfile rebuilt on Thursday: identical layers, only created times differ"),
        ("whiteout-a.tar", one(_app_image(gzip=True)), "docker-crane", "base image (crane tarball)"),
        ("whiteout-b.tar", one(_app_image((wh_layer,), (rm_step,), gzip=True)), "docker-crane",
         "plus a step whose layer deletes /etc/app.conf with a whiteout (crane tarball)"),
        ("opaque-a.tar", one(_app_image(gzip=True)), "docker-oci-containerd",
         "base image (Docker 25+ containerd store)"),
        ("opaque-b.tar", one(_app_image((opq_layer,), (opq_step,), gzip=True)), "docker-oci-containerd",
         "plus a step that makes /var/cache/app opaque (old a.bin, b.bin hidden; fresh added)"),
        ("mode-a.tar", one(_app_image((tool_a,), (Step(created="2024-03-01T10:00:00Z", created_by=chmod, comment=BK),))),
         "docker-containers-image", "tool with mode 0755 owned by root (podman docker-archive)"),
        ("mode-b.tar", one(_app_image((tool_b,), (Step(created="2024-03-01T10:00:00Z", created_by=chmod, comment=BK),))),
         "docker-containers-image", "the same step leaving the tool mode 0700 owned by 1000:1000"),
        ("platform-a.tar", one(amd), "docker-oci-graphdriver", "linux/amd64 build (Docker 25+ graphdriver store)"),
        ("platform-b.tar", one(arm), "docker-oci-graphdriver", "the same Dockerfile built for linux/arm64/v8"),
    ]


def readme(entries: list[tuple[str, ArchiveSpec, str, str]]) -> bytes:
    """samples/README.md: one line per sample."""
    lines = ["# Sample archives", "",
             "Written by `python3 tools/make_samples.py` (deterministic; `tests/test_samples.py` checks the bytes).",
             "Try `python3 -m imageforensics samples/tomcat-pulled.tar samples/tomcat-cache-from.tar`.", ""]
    for name, _, layout, text in entries:
        lines.append(f"- `{name}` ({layout}): {text}")
    return ("\n".join(lines) + "\n").encode()


def write_samples(outdir: Path) -> list[Path]:
    """Write every sample and the README into ``outdir``; returns the paths written."""
    outdir.mkdir(parents=True, exist_ok=True)
    entries = samples()
    written = []
    for name, spec, layout, _ in entries:
        write_archive(spec, outdir / name, layout=layout)
        written.append(outdir / name)
    (outdir / "README.md").write_bytes(readme(entries))
    written.append(outdir / "README.md")
    return written


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``make_samples.py [OUTDIR]`` (default: the repository's samples/)."""
    args = sys.argv[1:] if argv is None else argv
    outdir = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "samples"
    for path in write_samples(outdir):
        print(f"{path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
