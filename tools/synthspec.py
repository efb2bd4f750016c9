"""The spec model of a synthetic image, and how its config and layers become bytes.

Frozen dataclasses describe what an image holds (layer entries, history
steps, config fields, references); the functions here render the config the
way BuildKit or the classic builder writes it (Go ``encoding/json``: compact,
HTML-escaped, top-level keys sorted because moby and BuildKit marshal a map,
nested structs in Go field order) and turn each layer into a Go-style tar.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from tools.synthtar import (
    BLK, CHR, DIR, FIFO, LNK, REG, SYM, TYPE_BITS, Data, TarMember, compressed_chunks,
    data_chunks, data_size, digest_chunks, tar_chunks,
)

KINDS = ("file", "dir", "symlink", "hardlink", "char", "block", "fifo", "whiteout", "opaque")
_TYPEFLAG = {"file": REG, "dir": DIR, "symlink": SYM, "hardlink": LNK, "char": CHR, "block": BLK,
             "fifo": FIFO, "whiteout": REG, "opaque": REG}
_DEFAULT_MODE = {"dir": 0o755, "symlink": 0o777, "char": 0o666, "block": 0o660, "fifo": 0o644}
NS = 1_000_000_000
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Materialise layers up to this size; larger ones are regenerated on each pass.
MATERIALISE_LIMIT = 16 << 20


@dataclass(frozen=True)
class Entry:
    """One layer entry. ``path`` has no leading ``/``; for a whiteout it is the
    path deleted, for an opaque marker the directory whose lower contents are hidden."""

    path: str
    kind: str = "file"
    data: Data = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    mtime_ns: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()

    @property
    def perm(self) -> int:
        """Permission bits (setuid/setgid/sticky included)."""
        if self.mode is not None:
            return self.mode
        if self.kind in ("whiteout", "opaque"):
            return 0o600
        return _DEFAULT_MODE.get(self.kind, 0o644)

    @property
    def member_name(self) -> str:
        """The name as stored in the layer tar (without the layer's name prefix)."""
        if self.kind == "whiteout":
            head, _, base = self.path.rpartition("/")
            return f"{head}/.wh.{base}" if head else f".wh.{base}"
        if self.kind == "opaque":
            return f"{self.path}/.wh..wh..opq" if self.path else ".wh..wh..opq"
        if self.kind == "dir":
            return self.path + "/"
        return self.path

    @property
    def size(self) -> int:
        """Data size (only regular files carry data)."""
        return data_size(self.data) if self.kind == "file" else 0


@dataclass(frozen=True)
class Layer:
    """A layer: its entries and how its blob is stored.

    ``compression`` applies where a layout keeps blobs compressed (crane,
    containerd store, OCI); docker save layouts store the tar uncompressed.
    ``raw`` gives the exact stored blob instead of entries (e.g. the 32-byte
    empty gzip, or a non-tar placeholder). ``type_bits`` adds the file-type
    bits to modes as moby's archive package does; ``name_prefix`` is ``./``
    for Bazel/ggcr-style layers.
    """

    entries: tuple[Entry, ...] = ()
    compression: str = "none"
    gzip_level: int = 6
    name_prefix: str = ""
    type_bits: bool = True
    end_padding: int = 1024
    raw: bytes | None = None


@dataclass(frozen=True)
class Step:
    """One history entry; None fields are omitted from the JSON."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False


@dataclass(frozen=True)
class Config:
    """The image config fields. ``created`` None omits the key. ``extra`` holds
    further top-level keys as (key, JSON text), e.g. ``moby.buildkit.cache.v0``.
    ``flavor`` is ``buildkit`` (BuildKit's image config) or ``classic`` (the
    classic builder's full container.Config plus container_config)."""

    env: tuple[str, ...] | None = (DEFAULT_PATH,)
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    stop_signal: str = ""
    args_escaped: bool = False
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""
    created: str | None = None
    author: str = ""
    docker_version: str = ""
    extra: tuple[tuple[str, str], ...] = ()
    flavor: str = "buildkit"


@dataclass(frozen=True)
class ImageSpec:
    """An image: layers (bottom first), history, config and references.

    ``parent`` is the index of its parent image in the same archive (legacy
    ``Parent``). ``config_raw`` replaces the rendered config bytes exactly.
    """

    layers: tuple[Layer, ...]
    history: tuple[Step, ...] = ()
    config: Config = field(default_factory=Config)
    references: tuple[str, ...] = ()
    parent: int | None = None
    config_raw: bytes | None = None


# --------------------------------------------------------------------------- Go JSON


class RawJSON(str):
    """Already-encoded JSON, emitted verbatim (Go's json.RawMessage)."""


def _go_string(text: str) -> str:
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or ch in "<>&" or o in (0x2028, 0x2029):
            out.append("\\u%04x" % o)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_json(value: Any) -> str:
    """Encode like Go's ``json.Marshal``: compact, HTML-escaped, dict order kept."""
    if isinstance(value, RawJSON):
        return str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(_go_string(k) + ":" + go_json(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


def go_bytes(value: Any) -> bytes:
    """``go_json`` as UTF-8 bytes."""
    return go_json(value).encode()


def sorted_map(mapping: dict[str, Any]) -> dict[str, Any]:
    """A Go map marshals with its keys sorted by bytes."""
    return {k: mapping[k] for k in sorted(mapping, key=lambda k: k.encode())}


def go_time(raw: str | None) -> str:
    """How Go re-marshals a parsed time: RFC3339Nano, trailing fraction zeros trimmed."""
    if not raw:
        return "0001-01-01T00:00:00Z"
    head, dot, rest = raw.partition(".")
    if not dot:
        return raw
    n = 0
    while n < len(rest) and rest[n].isdigit():
        n += 1
    digits, zone = rest[:n], rest[n:]
    digits = digits.rstrip("0")
    return f"{head}.{digits}{zone}" if digits else f"{head}{zone}"


# --------------------------------------------------------------------------- config


def _null_list(items: tuple[str, ...] | None) -> list[str] | None:
    return None if items is None else list(items)


def _ports(ports: tuple[str, ...]) -> dict[str, Any]:
    return sorted_map({(p if "/" in p else f"{p}/tcp"): {} for p in ports})


def image_config_object(c: Config) -> dict[str, Any]:
    """BuildKit's ImageConfig (specs.ImageConfig fields, then Docker's additions), Go field order."""
    obj: dict[str, Any] = {}
    if c.user:
        obj["User"] = c.user
    if c.exposed_ports:
        obj["ExposedPorts"] = _ports(c.exposed_ports)
    if c.env:
        obj["Env"] = list(c.env)
    if c.entrypoint:
        obj["Entrypoint"] = list(c.entrypoint)
    if c.cmd:
        obj["Cmd"] = list(c.cmd)
    if c.volumes:
        obj["Volumes"] = sorted_map({v: {} for v in c.volumes})
    if c.working_dir:
        obj["WorkingDir"] = c.working_dir
    if c.labels:
        obj["Labels"] = sorted_map(dict(c.labels))
    if c.stop_signal:
        obj["StopSignal"] = c.stop_signal
    if c.args_escaped:
        obj["ArgsEscaped"] = True
    obj["OnBuild"] = None
    return obj


def container_config_object(c: Config | None) -> dict[str, Any]:
    """moby's container.Config in full (Docker 20.10 field order); None gives the zero value."""
    z = c or Config(env=None)
    obj: dict[str, Any] = {
        "Hostname": "", "Domainname": "", "User": z.user,
        "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
    }
    if z.exposed_ports:
        obj["ExposedPorts"] = _ports(z.exposed_ports)
    obj.update({"Tty": False, "OpenStdin": False, "StdinOnce": False,
                "Env": _null_list(z.env), "Cmd": _null_list(z.cmd)})
    if z.args_escaped:
        obj["ArgsEscaped"] = True
    obj.update({
        "Image": "",
        "Volumes": sorted_map({v: {} for v in z.volumes}) if z.volumes else None,
        "WorkingDir": z.working_dir,
        "Entrypoint": _null_list(z.entrypoint),
        "OnBuild": None,
        "Labels": sorted_map(dict(z.labels)) if z.labels else None,
    })
    if z.stop_signal:
        obj["StopSignal"] = z.stop_signal
    return obj


def history_object(s: Step, flavor: str) -> dict[str, Any]:
    """A history entry: OCI field order for BuildKit, moby's order for the classic builder."""
    order = ("created", "created_by", "author", "comment") if flavor == "buildkit" else (
        "created", "author", "created_by", "comment")
    obj: dict[str, Any] = {}
    for key in order:
        value = getattr(s, key)
        if value is not None:
            obj[key] = value
    if s.empty_layer:
        obj["empty_layer"] = True
    return obj


def render_config(image: ImageSpec, diff_ids: Iterable[str]) -> bytes:
    """The config bytes as BuildKit/moby would store them (no trailing newline)."""
    if image.config_raw is not None:
        return image.config_raw
    c = image.config
    top: dict[str, Any] = {"architecture": c.architecture, "os": c.os,
                           "rootfs": {"type": "layers", "diff_ids": list(diff_ids)}}
    if c.author:
        top["author"] = c.author
    if c.flavor == "classic":
        top["config"] = container_config_object(c)
        top["container_config"] = container_config_object(None)
        if c.docker_version:
            top["docker_version"] = c.docker_version
    else:
        top["config"] = image_config_object(c)
    if c.created is not None:
        top["created"] = c.created
    if image.history:
        top["history"] = [history_object(s, c.flavor) for s in image.history]
    if c.variant:
        top["variant"] = c.variant
    for key, text in c.extra:
        top[key] = RawJSON(text)
    return go_bytes(sorted_map(top))


# --------------------------------------------------------------------------- layers


def _tar_member(e: Entry, layer: Layer) -> TarMember:
    typeflag = _TYPEFLAG[e.kind]
    mode = e.perm | (TYPE_BITS[typeflag] if layer.type_bits else 0)
    seconds, frac = divmod(e.mtime_ns, NS)
    pax: list[tuple[str, str]] = []
    if frac:
        pax.append(("mtime", f"{seconds}.{frac:09d}".rstrip("0")))
    for key, value in e.xattrs:
        pax.append((f"SCHILY.xattr.{key}", value.decode("utf-8", "surrogateescape")))
    data = e.data if e.kind == "file" else b""
    return TarMember(
        name=layer.name_prefix + e.member_name, typeflag=typeflag, mode=mode, uid=e.uid, gid=e.gid,
        mtime=seconds, size=data_size(data), linkname=e.linkname if e.kind in ("symlink", "hardlink") else "",
        devmajor=e.devmajor, devminor=e.devminor, pax=tuple(pax), source=lambda: data_chunks(data),
    )


def layer_tar_chunks(layer: Layer) -> Iterator[bytes]:
    """The uncompressed layer tar, streamed."""
    if layer.raw is not None:
        raw = layer.raw
        yield gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        return
    yield from tar_chunks((_tar_member(e, layer) for e in layer.entries), end_padding=layer.end_padding)


def layer_blob_chunks(layer: Layer, compression: str) -> Iterator[bytes]:
    """The stored blob: the tar compressed as asked (``raw`` is stored as it is)."""
    if layer.raw is not None:
        yield layer.raw
        return
    yield from compressed_chunks(layer_tar_chunks(layer), compression, gzip_level=layer.gzip_level)


def blob_compression(layer: Layer) -> str:
    """How a compressed-blob layout stores this layer: none, gzip or zstd."""
    if layer.raw is not None:
        return "gzip" if layer.raw[:2] == b"\x1f\x8b" else (
            "zstd" if layer.raw[:4] == b"\x28\xb5\x2f\xfd" else "none")
    return layer.compression


@dataclass(frozen=True)
class Blob:
    """Bytes known by digest and size, reproducible on demand (a layer or a JSON document)."""

    digest: str
    size: int
    chunks: Callable[[], Iterable[bytes]] = field(compare=False)


def make_blob(factory: Callable[[], Iterable[bytes]], *, size_hint: int = 0) -> Blob:
    """Hash a reproducible stream once; keep the bytes when they are small."""
    if size_hint <= MATERIALISE_LIMIT:
        data = b"".join(factory())
        return bytes_blob(data)
    hexdigest, size = digest_chunks(factory())
    return Blob(f"sha256:{hexdigest}", size, factory)


def bytes_blob(data: bytes) -> Blob:
    """A Blob holding ``data``."""
    return Blob("sha256:" + hashlib.sha256(data).hexdigest(), len(data), lambda: (data,))


@dataclass(frozen=True)
class PreparedLayer:
    """A layer with its digests: the uncompressed tar and the compressed blob."""

    spec: Layer
    tar: Blob
    blob: Blob
    compression: str

    @property
    def diff_id(self) -> str:
        """sha256 of the uncompressed tar."""
        return self.tar.digest


def layer_data_size(layer: Layer) -> int:
    """Total data bytes in a layer (to decide whether to keep it in memory)."""
    return sum(e.size for e in layer.entries) + len(layer.raw or b"")


def prepare_layer(layer: Layer) -> PreparedLayer:
    """Compute a layer's diff_id and blob digest (one pass each; small layers are kept)."""
    hint = layer_data_size(layer)
    comp = blob_compression(layer)
    if hint > MATERIALISE_LIMIT and layer.raw is None and comp != "none":
        return _prepare_large_compressed(layer, comp)
    tar = make_blob(lambda: layer_tar_chunks(layer), size_hint=hint)
    if comp == "none" and layer.raw is None:
        return PreparedLayer(layer, tar, tar, comp)
    blob = make_blob(lambda: layer_blob_chunks(layer, comp), size_hint=hint)
    return PreparedLayer(layer, tar, blob, comp)


def _prepare_large_compressed(layer: Layer, comp: str) -> PreparedLayer:
    """Hash the tar and its compressed blob in one pass (the bytes are regenerated when written)."""
    tar_hash, tar_size = hashlib.sha256(), [0]

    def teed() -> Iterator[bytes]:
        for chunk in layer_tar_chunks(layer):
            tar_hash.update(chunk)
            tar_size[0] += len(chunk)
            yield chunk

    blob_hex, blob_size = digest_chunks(compressed_chunks(teed(), comp, gzip_level=layer.gzip_level))
    tar = Blob("sha256:" + tar_hash.hexdigest(), tar_size[0], lambda: layer_tar_chunks(layer))
    blob = Blob("sha256:" + blob_hex, blob_size, lambda: layer_blob_chunks(layer, comp))
    return PreparedLayer(layer, tar, blob, comp)
