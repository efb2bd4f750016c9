"""Write tests/hostile/: small broken archives, each with the exact outcome the reader must give.

    python3 tools/make_hostile.py            # (re)write tests/hostile/
    python3 tools/make_hostile.py --check    # exit 1 if the files on disk differ

Deterministic (fixed mtimes, gzip mtime 0, seeded random bytes; gzip inside
tars stored without compression, so that no digest depends on the zlib
version), standard library only, and independent of the reader. ``CASES`` states each file's
expected outcome: ``error`` is the exact message after ``imageforensics: ``
(``{path}`` stands for the path given); for a model, ``images`` is how many
images it holds, ``findings`` exactly the finding codes it carries (archive
and image findings together) and ``anomalies`` the layer-anomaly kinds. The same table is
written to ``tests/hostile/expected.json`` for other tools.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import random
import struct
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable, cast

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "hostile"
IDX = "application/vnd.oci.image.index.v1+json"
MAN = "application/vnd.oci.image.manifest.v1+json"
CFG = "application/vnd.oci.image.config.v1+json"
LAY = "application/vnd.oci.image.layer.v1.tar"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def js(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def gz(data: bytes, level: int = 9, mtime: int = 0) -> bytes:
    """A gzip member with a fixed header (gzip.compress writes another OS byte on each Python version)."""
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = deflate.compress(data) + deflate.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", mtime) + b"\x00\xff"
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def stored_gz(data: bytes, mtime: int = 0) -> bytes:
    """gzip without compression (stored blocks): the same bytes whatever zlib the Python links."""
    return gz(data, 0, mtime)


def tar(members: list[tuple[str, object]], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar of (name, bytes | ("symlink"|"hardlink"|"dir"|"char"|"block", target)) with mtime 0, without record padding."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.mode = 0o644
            if isinstance(content, bytes):
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
                continue
            # Anything but bytes is a (kind, target) pair; a device's target is (major, minor).
            kind, target = cast("tuple[str, Any]", content)
            info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "dir": tarfile.DIRTYPE,
                         "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE}[kind]
            if kind in ("char", "block"):
                info.devmajor, info.devminor = target
            elif kind != "dir":
                info.linkname = target
            tf.addfile(info)
        end = out.tell()
    # tarfile pads to a 10240-byte record; two zero blocks are the whole end marker.
    return out.getvalue()[: end + 1024]


def layer(files: dict[str, bytes]) -> bytes:
    return tar(list(files.items()))


BASE = layer({"etc/os-release": b"ID=hostile\n"})
TOP = layer({"app/run.sh": b"#!/bin/sh\necho hi\n"})


def config(layers: list[bytes], **extra: object) -> bytes:
    value: dict[str, object] = {
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(t) for t in layers]},
        "history": [{"created_by": f"RUN step {i}"} for i in range(len(layers))],
        "config": {"Cmd": ["sh"]},
    }
    value.update(extra)
    return js(value)


def legacy(layers: list[bytes] | None = None, *, cfg: bytes | None = None, item: dict[str, object] | None = None,
           replace: dict[str, object] | None = None) -> list[tuple[str, object]]:
    """A docker save (legacy) as members; ``replace`` swaps member contents by name (None drops it)."""
    layers = layers if layers is not None else [BASE, TOP]
    cfg = cfg if cfg is not None else config(layers)
    names = [f"{sha(t)[:16]}{i}/layer.tar" for i, t in enumerate(layers)]
    members: list[tuple[str, object]] = [(f"{sha(cfg)}.json", cfg)]
    members += [(n, t) for n, t in zip(names, layers)]
    manifest: dict[str, object] = {"Config": f"{sha(cfg)}.json", "RepoTags": ["hostile/app:1"], "Layers": names}
    manifest.update(item or {})
    members.append(("manifest.json", js([manifest])))
    for name, content in (replace or {}).items():
        members = [(n, c) for n, c in members if n != name] + ([(name, content)] if content is not None else [])
    return members


def oci(layers: list[bytes] | None = None) -> tuple[list[tuple[str, object]], dict[str, str]]:
    """An oci-archive with gzip layers; also returns the blob names by role."""
    layers = layers if layers is not None else [BASE, TOP]
    blobs = [stored_gz(t) for t in layers]
    cfg = config(layers)
    manifest = js({"schemaVersion": 2, "mediaType": MAN,
                   "config": {"mediaType": CFG, "digest": "sha256:" + sha(cfg), "size": len(cfg)},
                   "layers": [{"mediaType": LAY + "+gzip", "digest": "sha256:" + sha(b), "size": len(b)} for b in blobs]})
    index = js({"schemaVersion": 2, "mediaType": IDX, "manifests": [
        {"mediaType": MAN, "digest": "sha256:" + sha(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "1"}}]})
    members: list[tuple[str, object]] = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
    members += [(f"blobs/sha256/{sha(b)}", b) for b in [manifest, cfg, *blobs]]
    return members, {"manifest": f"blobs/sha256/{sha(manifest)}", "layer0": f"blobs/sha256/{sha(blobs[0])}"}


def _swap(members: list[tuple[str, object]], name: str, content: object) -> list[tuple[str, object]]:
    return [(n, content if n == name else c) for n, c in members]


# --- the cases ------------------------------------------------------------------------


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("manifest.json", (1980, 1, 1, 0, 0, 0)), "[]")
    return out.getvalue()


def _cut(data: bytes, where: Callable[[list[tarfile.TarInfo]], int]) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return data[: where(tf.getmembers())]


def _hostile_entries() -> bytes:
    """One layer with every odd kind of entry (each a finding, none an error)."""
    return tar([
        ("../../etc/passwd", b"escape"), ("/etc/shadow", b"absolute"), ("ctl\x1b[31mred", b"c"),
        ("bad\udcffname", b"n"), ("dup", b"1"), ("./dup", b"2"), ("h", ("hardlink", "nowhere")),
        ("dev/sda", ("block", (8, 0))), ("x/.wh.", b""),
    ], fmt=tarfile.GNU_FORMAT)


def _huge_size() -> bytes:
    data = bytearray(layer({"big": b"x" * 10}))
    block = data[:512]
    block[124:136] = b"77777777777\x00"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    data[:512] = block
    return bytes(data)


def _outer_huge_size() -> bytes:
    """The first member's size field at 2**63 - 1 (base-256) with an unknown type (found by tools/fuzz.py: a hang)."""
    data = bytearray(WHOLE)
    block = data[:512]
    block[124:136] = b"\x80\x00\x00\x00\x7f" + b"\xff" * 7
    block[156:157] = b"u"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    data[:512] = block
    return bytes(data)


def _index_fan_out() -> bytes:
    members, names = oci()
    manifest_name = names["manifest"]
    manifest = dict(members)[manifest_name]
    assert isinstance(manifest, bytes)
    child = js({"schemaVersion": 2, "mediaType": IDX, "manifests": [{"mediaType": MAN, "digest": "sha256:" + sha(manifest), "size": len(manifest)}]})
    extra = [child]
    for _ in range(15):
        desc = {"mediaType": IDX, "digest": "sha256:" + sha(child), "size": len(child)}
        child = js({"schemaVersion": 2, "mediaType": IDX, "manifests": [desc, desc, desc]})
        extra.append(child)
    index = js({"schemaVersion": 2, "manifests": [{"mediaType": IDX, "digest": "sha256:" + sha(child), "size": len(child)}]})
    return tar(_swap(members, "index.json", index) + [(f"blobs/sha256/{sha(b)}", b) for b in extra])


def _digests_corrupted() -> bytes:
    members, names = oci()
    manifest = dict(members)[names["manifest"]]
    layer0 = dict(members)[names["layer0"]]
    assert isinstance(manifest, bytes) and isinstance(layer0, bytes)
    members = _swap(members, names["manifest"], manifest.replace(b'"schemaVersion":2', b'"schemaVersion":2 '))
    return tar(_swap(members, names["layer0"], stored_gz(gzip.decompress(layer0), mtime=1)))


LEG = legacy()
FIRST, SECOND = [n for n, _ in LEG if n.endswith("/layer.tar")]
CONFIG_NAME = LEG[0][0]
WHOLE = tar(LEG)
with tarfile.open(fileobj=io.BytesIO(WHOLE)) as _tf:
    SECOND_OFFSET = _tf.getmember(SECOND)
NO_ROOTFS = js({"architecture": "amd64", "os": "linux"})
NON_UTF8 = b'{"os":"\xff"}'
DEEP = b"[" * 100_000 + b"]" * 100_000

PASSWD = b"root::0:0:root:/root:/bin/sh\n"
# A symlink on an entry's parent chain: the runtime writes where it leads, inside the root.
THROUGH_LINK = tar([("e", ("symlink", "/etc")), ("e/passwd", PASSWD)])
LOWER_LINK = tar([("e", ("symlink", "../../etc"))])
THROUGH_LOWER = tar([("e/passwd", PASSWD), ("e/.wh.os-release", b"")])
LINK_LOOP = tar([("a", ("symlink", "b")), ("b", ("symlink", "a/c")), ("a/x", b"lost\n")])

def _snapshot_with(edit: Callable[[dict[str, Any]], None]) -> bytes:
    """A checked-in snapshot (tests/old-snapshots) with one value edited, as JSON."""
    value = json.loads(gzip.decompress((ROOT / "tests" / "old-snapshots" / "platform-a.json.gz").read_bytes()))
    edit(value)
    return js(value)


def _set(*path: object, to: object) -> Callable[[dict[str, Any]], None]:
    def edit(value: dict[str, Any]) -> None:
        for key in path[:-1]:
            value = value[key]  # type: ignore[index]
        value[path[-1]] = to  # type: ignore[index]
    return edit


# Numbers where the image spec requires strings (Go's json refuses them into a string field).
NUMBER_STRINGS = config([BASE, TOP]).replace(b'"config":{"Cmd":["sh"]}',
                                             b'"config":{"Cmd":["sh"],"Labels":{"a":1e999999,"b":"ok"},"Env":["A=1",5]}')
NUMBER_ANNOTATION = b'"annotations":{"org.opencontainers.image.ref.name":1e999999}'

def _annotation_number() -> bytes:
    """An oci-archive whose index descriptor names the image with a number (1e999999) for a string."""
    members, _ = oci()
    index = cast(bytes, dict(members)["index.json"]).replace(b'"annotations":{"org.opencontainers.image.ref.name":"1"}',
                                                             NUMBER_ANNOTATION)
    return tar(_swap(members, "index.json", index))


# name → (bytes, expected): expected is {"error": message} or {"images": 1, "findings": [codes]}.
CASES: dict[str, tuple[Callable[[], bytes], dict[str, object]]] = {
    "empty.tar": (lambda: b"", {"error": "{path}: empty input: expected a tar archive"}),
    "random.bin": (lambda: random.Random(5).randbytes(2048), {"error": "{path}: not a tar archive (invalid header)"}),
    "zip.zip": (_zip, {"error": "{path}: not a tar archive (truncated header)"}),
    "plain.tar": (lambda: tar([("README.md", b"# not an image\n"), ("src/", ("dir", ""))]),
                  {"error": "{path}: not an image archive: expected manifest.json (docker save) or index.json (OCI layout), found README.md, src"}),
    "truncated-data.tar": (lambda: WHOLE[: SECOND_OFFSET.offset_data + 700],
                           {"error": f"{{path}}: {SECOND}: archive is truncated: member data ends after 700 of {SECOND_OFFSET.size} bytes"}),
    "truncated-header.tar": (lambda: WHOLE[: SECOND_OFFSET.offset + 300],
                             {"error": f"{{path}}: archive is truncated after member {FIRST}: no end-of-archive marker at offset {SECOND_OFFSET.offset}"}),
    "outer-huge-size.tar": (_outer_huge_size, {"error": f"{{path}}: after {CONFIG_NAME}: expected a tar header (unexpected end of data)"}),
    "manifest-invalid.tar": (lambda: tar(legacy(replace={"manifest.json": b'[{"Config": '})),
                             {"error": "{path}: manifest.json: manifest.json is not JSON (Expecting value: line 1, column 13)"}),
    "manifest-null.tar": (lambda: tar(legacy(replace={"manifest.json": b"null"})),
                          {"error": "{path}: manifest.json: expected a JSON array of images, found null"}),
    "manifest-wrong-types.tar": (lambda: tar(legacy(item={"Layers": "a/layer.tar"})),
                                 {"error": "{path}: manifest.json: item 0: Layers: expected an array of strings, found a string"}),
    "manifest-quotes.tar.gz": (lambda: gz(tar(legacy(replace={"manifest.json": b'["' + b'\\"' * 400_000}))),
                               {"error": "{path}: manifest.json: manifest.json is not JSON (Unterminated string starting at: line 1, column 2)"}),
    "config-no-rootfs.tar": (lambda: tar(legacy(cfg=NO_ROOTFS)),
                             {"error": f"{{path}}: {sha(NO_ROOTFS)}.json: expected rootfs.diff_ids in the image config (it is REQUIRED), found no rootfs object"}),
    "config-non-utf8.tar": (lambda: tar(legacy(cfg=NON_UTF8)),
                            {"error": f"{{path}}: {sha(NON_UTF8)}.json: image config is not UTF-8 (byte 7)"}),
    "config-deep.tar.gz": (lambda: gz(tar(legacy(cfg=DEEP))),
                           {"error": f"{{path}}: {sha(DEEP)}.json: image config nests 100000 levels deep, over the 200-level limit (--max-json-depth)"}),
    "config-duplicate-keys.tar": (lambda: tar(legacy(replace={CONFIG_NAME: config([BASE, TOP]).replace(b'"os"', b'"os":"plan9","os"', 1)})),
                                  {"images": 1, "findings": ["image-id-mismatch", "json-duplicate-key"]}),
    "config-escaping.tar": (lambda: tar(legacy(item={"Config": "../../etc/passwd"})),
                            {"error": "{path}: ../../etc/passwd: absent: manifest.json[0] names it as the image config"}),
    "config-is-manifest.tar": (lambda: tar(legacy(item={"Config": "manifest.json"})),
                               {"error": "{path}: manifest.json: expected the image config to be a JSON object, found an array"}),
    "layer-absolute-ref.tar": (lambda: tar(legacy(item={"Layers": [FIRST, "/etc/passwd"]})),
                               {"images": 1, "findings": ["blob-unreferenced", "layer-absent"]}),
    "layer-symlink-escape.tar": (lambda: tar(legacy(replace={SECOND: ("symlink", "../../../etc/passwd")})),
                                 {"images": 1, "findings": ["layer-absent", "member-link-escapes"]}),
    "layer-symlink-loop.tar": (lambda: tar(legacy(replace={SECOND: ("symlink", "../x/layer.tar"), "x/layer.tar": ("symlink", f"../{SECOND}")})),
                               {"images": 1, "findings": ["layer-absent", "member-link-loop"]}),
    "layer-symlink-dir.tar": (lambda: tar(legacy(replace={SECOND: ("symlink", "../d"), "d/": ("dir", "")})),
                              {"images": 1, "findings": ["layer-absent", "member-link-to-dir"]}),
    "layer-entries.tar": (lambda: tar(legacy([BASE, _hostile_entries()])), {"images": 1, "findings": ["layer-anomaly"], "anomalies": [
        "absolute-name", "control-char-name", "device-node", "duplicate-path", "escaping-name", "hardlink-target-absent",
        "invalid-whiteout", "non-utf8-name"]}),
    "layer-through-symlink.tar": (lambda: tar(legacy([BASE, THROUGH_LINK])), {"images": 1, "findings": ["layer-write-through-symlink"]}),
    "layer-through-lower-symlink.tar": (lambda: tar(legacy([BASE, LOWER_LINK, THROUGH_LOWER])),
                                        {"images": 1, "findings": ["layer-write-through-symlink"]}),
    "layer-symlink-chain-loop.tar": (lambda: tar(legacy([BASE, LINK_LOOP])), {"images": 1, "findings": ["layer-write-through-symlink"]}),
    "layer-huge-size.tar": (lambda: tar(legacy([BASE, _huge_size()])), {"images": 1, "findings": ["layer-unreadable"]}),
    "layer-compressed-twice.tar": (lambda: tar(legacy(replace={SECOND: stored_gz(stored_gz(TOP))})), {"images": 1, "findings": ["layer-unreadable"]}),
    "layer-trailing-garbage.tar": (lambda: tar(legacy(replace={SECOND: stored_gz(TOP) + b"garbage!"})),
                                   {"images": 1, "findings": ["layer-anomaly"], "anomalies": ["trailing-garbage"]}),
    "layer-bzip2-bomb.tar": (lambda: tar(legacy(replace={SECOND: bz2.compress(bytes(100 << 20), 9)})),
                             {"error": f"{{path}}: {SECOND}: bzip2 data expands to more than 1000x its compressed size plus 67108864 bytes (decompression bomb?; raise the limit with --max-expansion)"}),
    "member-name-too-long.tar.gz": (lambda: gz(tar([("d/" * 40_000 + "x", b"")])),
                                    {"error": "{path}: " + "d/" * 40 + "…: member name longer than 65536 bytes (--max-path-bytes)"}),
    "snapshot-layer-index.json": (lambda: _snapshot_with(_set("archive", "images", 0, "history", 0, "layer_index", to=-2**64)),
                                  {"error": "{path}: archive.images[0].history[0].layer_index: expected an integer from 0 to 2**63-1, found -18446744073709551616"}),
    "snapshot-entry-size.json": (lambda: _snapshot_with(_set("archive", "images", 0, "layers", 0, "entries", 0, "size", to=10**400)),
                                 {"error": "{path}: archive.images[0].layers[0].entries[0].size: expected an integer from 0 to 2**63-1, found an integer of 401 digits"}),
    "snapshot-negative-size.json": (lambda: _snapshot_with(_set("archive", "images", 0, "layers", 0, "size", to=-1)),
                                    {"error": "{path}: archive.images[0].layers[0].size: expected an integer from 0 to 2**63-1, found -1"}),
    "config-numbers-for-strings.tar": (lambda: tar(legacy(cfg=NUMBER_STRINGS)), {"images": 1, "findings": ["config-field-invalid", "json-value-not-string"]}),
    "index-annotation-number.tar": (_annotation_number, {"images": 1, "findings": ["json-value-not-string"]}),
    "index-fan-out.tar": (_index_fan_out, {"images": 1, "findings": []}),
    "digests-corrupted.tar": (_digests_corrupted, {"images": 1, "findings": ["blob-digest-mismatch", "descriptor-size-mismatch"]}),
}


# --- tar structure the runtime reads otherwise than tarfile (Go's archive/tar, moby, containerd) ----------


def pax_block(kind: bytes, records: bytes, name: str = "././@PaxHeader") -> bytes:
    """An extended header (``x``/``g``) holding exactly ``records`` (any bytes), padded to blocks."""
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime = kind, len(records), 0
    head = info.tobuf(format=tarfile.USTAR_FORMAT)
    return head + records + bytes(-len(records) % 512)


def pax_record(key: str, value: str | bytes) -> bytes:
    """One ``"%d %s=%s\n"`` record with its exact length."""
    body = b" " + key.encode() + b"=" + (value if isinstance(value, bytes) else value.encode()) + b"\n"
    n = len(body) + 1
    while len(str(n).encode() + body) != n:
        n += 1
    return str(n).encode() + body


def tar_end(data: bytes) -> int:
    """Where the end-of-archive marker of a ``tar()`` starts (it is the last 1024 bytes)."""
    return len(data) - 1024


def with_header_first(archive: bytes, header: bytes) -> bytes:
    """The same tar with ``header`` blocks before its first member."""
    return header + archive


def _global_path_layer() -> bytes:
    # tarfile applies the global path to every later entry: it would list usr/bin/sudo; dockerd writes app/README.
    return with_header_first(layer({"app/README": b"trojan\n"}), pax_block(tarfile.XGLTYPE, pax_record("path", "usr/bin/sudo")))


def _global_path_outer() -> bytes:
    return with_header_first(WHOLE, pax_block(tarfile.XGLTYPE, pax_record("path", "manifest.json") + pax_record("size", "0")))


# CVE-2024-6232: the record regexes of unpatched tarfile backtrack on a PAX header made of digits
# (974 bytes, 51 s of CPU reported on 3.11.7); the reader parses records without them.
CVE_RECORDS = b"1" * 974


def _pax_digits_layer() -> bytes:
    return with_header_first(layer({"app/run.sh": b"x"}), pax_block(tarfile.XHDTYPE, CVE_RECORDS))


def _pax_digits_outer() -> bytes:
    return with_header_first(WHOLE, pax_block(tarfile.XHDTYPE, CVE_RECORDS))


def _trailing_manifest() -> bytes:
    hidden = tar([("manifest.json", js([{"Config": "evil.json", "RepoTags": ["evil:1"], "Layers": []}]))])
    return WHOLE + hidden


def _with_member_header(archive: bytes, name: str, edit: Callable[[bytearray], None]) -> bytes:
    """``archive`` with the ustar header of member ``name`` edited and its checksum fixed."""
    data = bytearray(archive)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        offset = tf.getmember(name).offset
    block = data[offset : offset + 512]
    edit(block)
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    data[offset : offset + 512] = block
    return bytes(data)


def _negative_size_outer() -> bytes:
    def minus_one(block: bytearray) -> None:
        block[124:136] = b"\xff" * 12  # base-256, two's complement: -1
    return _with_member_header(tar(LEG + [("extra.bin", b"")]), "extra.bin", minus_one)


def _hardlink_forward() -> bytes:
    members = [(n, c) for n, c in LEG if n != SECOND]
    layer_bytes = dict(LEG)[SECOND]
    # The layer's name is a hardlink to a member that only comes at the end.
    return tar([(SECOND, ("hardlink", "later/layer.tar"))] + members + [("later/layer.tar", layer_bytes)])


def _pax_outer(records: bytes) -> bytes:
    return tar(LEG[:1]) [:-1024] + pax_block(tarfile.XHDTYPE, records) + tar(LEG[1:])


def zstd_raw(data: bytes) -> bytes:
    """A zstd frame of raw (stored) blocks, written by hand: the same bytes everywhere, no zstd needed."""
    frame = b"\x28\xb5\x2f\xfd" + b"\x60" + struct.pack("<H", len(data) - 256)  # single segment, 2-byte size
    blocks = [data[i : i + 65536] for i in range(0, len(data), 65536)] or [b""]
    for i, block in enumerate(blocks):
        last = 1 if i == len(blocks) - 1 else 0
        frame += struct.pack("<I", last | (len(block) << 3))[:3] + block
    return frame


def _zstd_skippable_layer() -> bytes:
    skippable = struct.pack("<II", 0x184D2A5E, 8) + b"metadata"
    return tar(legacy(replace={SECOND: skippable + zstd_raw(TOP)}))


TAR_CASES: dict[str, tuple[Callable[[], bytes], dict[str, object]]] = {
    "layer-pax-global-path.tar": (lambda: tar(legacy([BASE, _global_path_layer()])),
                                  {"images": 1, "findings": ["layer-anomaly"], "anomalies": ["pax-global-header"]}),
    "outer-pax-global-path.tar": (_global_path_outer, {"images": 1, "findings": ["archive-anomaly"]}),
    "layer-pax-digits.tar": (lambda: tar(legacy([BASE, _pax_digits_layer()])), {"images": 1, "findings": ["layer-unreadable"]}),
    "outer-pax-digits.tar": (_pax_digits_outer, {"error": "{path}: not a tar archive (invalid extended header at offset 0: record at byte 0: no length field)"}),
    "outer-trailing-manifest.tar": (_trailing_manifest, {"images": 1, "findings": ["archive-anomaly"]}),
    "outer-gzip-junk.tar.gz.junk": (lambda: stored_gz(WHOLE) + b"junk after the stream", {"images": 1, "findings": ["archive-anomaly"]}),
    "outer-bzip2-junk.tar.bz2": (lambda: bz2.compress(WHOLE, 9) + b"junk after the stream", {"images": 1, "findings": ["archive-anomaly"]}),
    "outer-negative-size.tar": (_negative_size_outer, {"images": 1, "findings": ["archive-anomaly"]}),
    "outer-hardlink-forward.tar": (_hardlink_forward, {"images": 1, "findings": ["layer-absent", "member-link-forward", "blob-unreferenced"]}),
    "outer-sparse-bad-numbers.tar": (lambda: _pax_outer(pax_record("GNU.sparse.major", "0") + pax_record("GNU.sparse.minor", "1") + pax_record("GNU.sparse.numblocks", "1") + pax_record("GNU.sparse.map", "0,x")),
                                     {"error": f"{{path}}: after {CONFIG_NAME}: expected a tar header (invalid extended header at offset 1024: 'x' is not a decimal number)"}),
    "outer-pax-mtime-digits.tar": (lambda: _pax_outer(pax_record("mtime", "1" * 4295)),
                                   {"error": f"{{path}}: after {CONFIG_NAME}: expected a tar header (invalid extended header at offset 1024: '{'1' * 40}…' is out of the 64-bit range)"}),
    "layer-zstd-skippable.tar": (_zstd_skippable_layer, {"images": 1, "findings": []}),
}
CASES.update(TAR_CASES)
def _layout_with_long_blob() -> dict[str, bytes]:
    """An OCI layout directory whose first layer blob runs on past the size its descriptor declares (a sparse file's zeros)."""
    members, roles = oci()
    files = {name: cast(bytes, data) for name, data in members}
    files[roles["layer0"]] += bytes(64 << 10)
    return files


DIRECTORY_CASES: dict[str, tuple[dict[str, bytes], dict[str, object]]] = {
    "dir-not-image": ({"README.md": b"# notes\n", "src/main.c": b"int main(void) { return 0; }\n"},
                      {"error": "{path}: not an image archive: expected manifest.json (docker save) or index.json (OCI layout), found README.md, src, src/main.c"}),
    # Small enough to be read whole (past --max-json-bytes only the declared size + 1 is read; tests/read).
    "dir-blob-past-descriptor": (_layout_with_long_blob(), {"images": 1, "findings": ["blob-digest-mismatch", "descriptor-size-mismatch", "layer-anomaly"],
                                                            "anomalies": ["trailing-garbage"]}),
}


def build() -> dict[str, bytes]:
    """Every file of tests/hostile/ (directories' files under their folder), by relative path."""
    files = {name: make() for name, (make, _) in CASES.items()}
    for folder, (contents, _) in DIRECTORY_CASES.items():
        files.update({f"{folder}/{rel}": data for rel, data in contents.items()})
    expected = {name: want for name, (_, want) in CASES.items()}
    expected.update({folder: want for folder, (_, want) in DIRECTORY_CASES.items()})
    files["expected.json"] = (json.dumps(expected, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return files


def same_file(rel: str, on_disk: bytes, built: bytes) -> bool:
    """Equal bytes; for the .gz wrappers equal content (compressed bytes vary with the zlib linked)."""
    if rel.endswith(".gz"):
        return gzip.decompress(on_disk) == gzip.decompress(built)
    return on_disk == built


def main(argv: list[str]) -> int:
    """Write (or with --check, compare) tests/hostile/."""
    files = build()
    if "--check" in argv:
        stale = [rel for rel, data in files.items() if not (OUT / rel).is_file() or not same_file(rel, (OUT / rel).read_bytes(), data)]
        for rel in stale:
            print(f"differs: tests/hostile/{rel}")
        return 1 if stale else 0
    for rel, data in files.items():
        path = OUT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {len(files)} files, {sum(map(len, files.values()))} bytes, to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
