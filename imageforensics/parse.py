"""From the members collected in one pass to an Archive (pure: no I/O).

The reader hands over every member it met, in arrival order: JSON documents as
bytes, layer blobs already read into ``Layer`` values, links as names. This
module finds the layout (FORMATS.md A0), resolves every reference by name or
digest, and builds the images; ``parse_docker`` and ``parse_oci`` do the two
families of layouts, ``parse_config`` the config and history.
"""

from __future__ import annotations

import io
import itertools
import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from imageforensics import archive_audit, audit, layer
from imageforensics.errors import InputError, LimitError
from imageforensics.findings import Finding, sort_findings
from imageforensics.limits import Limits
from imageforensics.model import Archive, Digest, Image, Layer
from imageforensics.untrusted import show

# FORMATS.md A1: docker save writes "<v1id>/json" per layer; pre-1.10 saves have
# only these (chained by "parent") and no manifest.json.
_V1_JSON = re.compile(r"[0-9a-f]{64}/json")
_TOP_CONFIG = re.compile(r"[0-9a-f]{64}\.json")
_NAMED = (
    re.compile(r"blobs/(?P<alg>[a-z0-9]+)/(?P<hex>[0-9a-f]+)"),
    re.compile(r"(?P<alg>sha256):(?P<hex>[0-9a-f]{64})"),
    re.compile(r"(?P<hex>[0-9a-f]{64})\.(?:json|tar|tar\.gz|tar\.zst|tgz)"),
    re.compile(r"(?P<hex>[0-9a-f]{64})"),  # containers/image dir: transport
)
MAX_LINK_HOPS = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One member of the outer archive, as the reader met it.

    ``kind``: json (bytes kept), other (small non-JSON bytes kept), blob (a
    stream read by ``layer.read_layer``; ``layer`` holds the result), symlink,
    hardlink, dir, special (device, FIFO). ``digest`` is the sha256 of the
    stored bytes. ``json_like`` marks a blob that looked like JSON but was over
    the JSON size limit.
    """

    name: str
    kind: str
    size: int
    mode: int = 0
    data: bytes | None = None
    digest: Digest | None = None
    layer: Layer | None = None
    linkname: str = ""
    json_like: bool = False


def normalise_member_name(name: str) -> str:
    """``./a//b/`` → ``a/b`` (FORMATS.md A0: compare names after path.normpath)."""
    cleaned = posixpath.normpath(name) if name else ""
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    return "" if cleaned == "." else cleaned


def named_digest(name: str) -> Digest | None:
    """The digest a member's name claims for its content (``blobs/sha256/<hex>``, ``sha256:<hex>``, ``<hex>.tar.gz``…)."""
    for pattern in _NAMED:
        m = pattern.fullmatch(name)
        if m:
            try:
                return Digest.parse(f"{m.groupdict().get('alg') or 'sha256'}:{m.group('hex')}")
            except ValueError:
                return None
    return None


class Store:
    """The collected members, resolved by name (links followed inside the archive) and by digest.

    A per-call working object (never shared): it also accumulates the
    archive-level findings and the names that something referenced.
    """

    def __init__(self, members: list[Member] | tuple[Member, ...], *, source: str, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.findings: list[Finding] = []
        self.referenced: set[str] = set()
        self.by_name: dict[str, Member] = {}
        self.order: list[str] = []
        self.dirs: set[str] = set()
        self._layers: dict[str, Layer] = {}
        self._link_problems: dict[str, str] = {}
        self._json: dict[tuple[str, str], tuple[Any, InputError | None]] = {}
        self.by_digest: dict[Digest, str] = {}
        for m in members:
            if m.name in self.by_name and m.kind != "dir":
                self.findings.append(archive_audit.member_duplicate(m.name))
            else:
                self.order.append(m.name)
            self.by_name[m.name] = m
            if m.kind == "dir":
                self.dirs.add(m.name)
            parent = posixpath.dirname(m.name)
            while parent and parent not in self.dirs:
                self.dirs.add(parent)
                parent = posixpath.dirname(parent)
            if m.kind == "special":
                self.findings.append(archive_audit.member_special(m.name))
        # Sorted, so that which of two identical members answers does not depend on member order.
        for name in sorted(self.order):
            m = self.by_name[name]
            if m.digest is not None and m.kind in ("json", "other", "blob"):
                self.by_digest.setdefault(m.digest, name)

    def names(self) -> list[str]:
        """Member names in arrival order (each once)."""
        return list(self.order)

    def has(self, name: str) -> bool:
        """True when a member of any kind (even a link or dir) has this name."""
        return name in self.by_name or name in self.dirs

    def resolve(self, name: str) -> Member | None:
        """The content member ``name`` designates, following links within the archive; None if absent."""
        seen: list[str] = []
        current = name
        for _ in range(MAX_LINK_HOPS):
            m = self.by_name.get(current)
            if m is None:
                if current in self.dirs and seen:
                    self._link_problem(seen[0], "member-link-to-dir", current)
                elif seen:
                    self._link_problem(seen[0], "member-link-dangling", current)
                return None
            if m.kind not in ("symlink", "hardlink"):
                if m.kind == "dir" and seen:
                    self._link_problem(seen[0], "member-link-to-dir", current)
                    return None
                return m
            if current in seen:
                self._link_problem(seen[0], "member-link-loop", current)
                return None
            seen.append(current)
            self.referenced.add(current)
            target = m.linkname
            if target.startswith("/"):
                # Absolute targets name the host's file system, never the archive.
                self._link_problem(seen[0], "member-link-escapes", target)
                return None
            # A symlink is relative to its own directory; a tar hardlink names a member from the archive root.
            base = posixpath.dirname(current) if m.kind == "symlink" else ""
            joined = posixpath.normpath(posixpath.join(base, target))
            if joined == ".." or joined.startswith("../"):
                # Never follow a link out of the archive.
                self._link_problem(seen[0], "member-link-escapes", target)
                return None
            current = normalise_member_name(joined)
        self._link_problem(seen[0] if seen else name, "member-link-loop", current)
        return None

    def _link_problem(self, link: str, code: str, target: str) -> None:
        if link in self._link_problems:
            return
        self._link_problems[link] = code
        self.findings.append(archive_audit.link_problem(code, link, target))

    def link_problem(self, name: str) -> str:
        """Why a link did not resolve (its finding code), or ""."""
        return self._link_problems.get(name, "")

    def use(self, name: str) -> Member | None:
        """Resolve ``name`` and mark what it resolves to as referenced."""
        m = self.resolve(name)
        if m is not None:
            self.referenced.add(m.name)
        self.referenced.add(name)
        return m

    def blob_name(self, digest: Digest) -> str | None:
        """The member holding the blob with this digest: ``blobs/<alg>/<hex>``, else any member whose content hashes to it."""
        candidate = f"blobs/{digest.algorithm}/{digest.hex}"
        if self.has(candidate) and self.resolve(candidate) is not None:
            return candidate
        if digest.algorithm == "sha256" and digest.hex in self.by_name and self.resolve(digest.hex) is not None:
            return digest.hex
        other = self.by_digest.get(digest)
        if other is not None:
            return other
        return candidate if self.has(candidate) else None

    def load_json(self, member: Member, what: str) -> Any:
        """The JSON value of a member, within the size and depth limits; InputError when it is not JSON."""
        where = show(member.name)
        if member.kind == "blob" and member.json_like:
            raise LimitError(self.source, where, f"{what} is {member.size} bytes, over the {self.limits.max_json_bytes}-byte JSON limit (--max-json-bytes)")
        if member.data is None:
            raise InputError(self.source, where, f"expected {what} (JSON), found a {_describe(member)}")
        if not member.data.strip():
            raise InputError(self.source, where, f"expected {what} (JSON), found an empty file")
        # Parsed once: descriptors may name the same blob any number of times.
        key = (member.name, what)
        cached = self._json.get(key)
        if cached is None:
            try:
                value, duplicates = load_json_bytes(member.data, source=self.source, member=where, what=what, limits=self.limits)
            except InputError as e:
                self._json[key] = cached = (None, e)
            else:
                self._json[key] = cached = (value, None)
                if duplicates:
                    self.findings.append(archive_audit.json_duplicate_keys(member.name, duplicates))
        if cached[1] is not None:
            raise cached[1]
        return cached[0]

    def layer_of(self, member: Member) -> Layer:
        """The Layer for a member named as a layer (small members are read from their kept bytes)."""
        if member.layer is not None:
            return member.layer
        cached = self._layers.get(member.name)
        if cached is None:
            cached = layer.read_layer(io.BytesIO(member.data or b""), archive=self.source, member=show(member.name), limits=self.limits)
            self._layers[member.name] = cached
        return cached


def _describe(member: Member) -> str:
    if member.kind == "blob":
        packed = f"{member.layer.compression}-compressed " if member.layer is not None and member.layer.compression != "none" else ""
        return f"{packed}blob of {member.size} bytes"
    return {"dir": "directory", "special": "device or FIFO", "other": f"non-JSON file of {member.size} bytes"}.get(member.kind, member.kind)


def load_json_bytes(data: bytes, *, source: str, member: str, what: str, limits: Limits) -> tuple[Any, list[str]]:
    """Parse JSON bytes strictly (UTF-8, no NaN), checking nesting depth; returns the value and duplicate keys seen."""
    if len(data) > limits.max_json_bytes:
        raise LimitError(source, member, f"{what} is {len(data)} bytes, over the {limits.max_json_bytes}-byte JSON limit (--max-json-bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(source, member, f"{what} is not UTF-8 (byte {e.start})") from None
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result and len(duplicates) < 20:
                duplicates.append(key)
            result[key] = value
        return result

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    # json's C parser is fast and stops with RecursionError near Python's recursion
    # limit, so parse first and measure the depth of the value; scanning the text
    # for brackets first cost seconds per 10 MB on every document.
    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as e:
        raise InputError(source, member, f"{what} is not JSON ({e.msg}: line {e.lineno}, column {e.colno})") from None
    except ValueError as e:
        raise InputError(source, member, f"{what} is not JSON ({e})") from None
    except RecursionError:
        head = text[:_EXACT_DEPTH_CHARS]
        depth = _max_depth_quick(head)
        levels = f"{depth}" if len(head) == len(text) else f"at least {depth}"
        if depth > limits.max_json_depth:
            raise LimitError(source, member, f"{what} nests {levels} levels deep, over the {limits.max_json_depth}-level limit (--max-json-depth)") from None
        raise LimitError(source, member, f"{what} nests {levels} levels deep, deeper than Python's JSON parser reads (its recursion limit)") from None
    depth = _value_depth(value)
    if depth > limits.max_json_depth:
        raise LimitError(source, member, f"{what} nests {depth} levels deep, over the {limits.max_json_depth}-level limit (--max-json-depth)")
    return value, duplicates


def _value_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (iteratively: no recursion)."""
    best = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        best = max(best, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return best


# Only for documents too deep for json: how deep, exactly for up to this many characters.
_EXACT_DEPTH_CHARS = 4 << 20
# Linear-time scans (each pattern matches without backtracking): escapes out first, so
# that every string is then `"[^"]*"`; an unterminated string runs to the end.
# (A single string pattern with an escape group took quadratic time on `"\"\"\"…`.)
_JSON_ESCAPE = re.compile(r"\\.", re.DOTALL)
_JSON_STRING = re.compile(r'"[^"]*"?')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))


def _max_depth_quick(text: str) -> int:
    """The nesting depth, counting brackets outside strings, without recursion (json would recurse)."""
    brackets = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", _JSON_ESCAPE.sub("", text)))
    return max(0, max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets.encode("ascii"))), default=0))


def detect_layout(store: Store, *, directory: bool) -> str:
    """The layout name (model.LAYOUTS), or InputError when the input is not an image archive at all."""
    if store.has("manifest.json"):
        if directory:
            return "docker-dir"
        if store.has("index.json") and store.has("oci-layout"):
            return "docker-oci"  # refined by parse_docker (graphdriver vs containerd store)
        return "docker"  # refined by parse_docker (legacy, containers/image, crane)
    if store.has("index.json"):
        return "oci-dir" if directory else "oci-archive"
    names = store.names()
    if store.has("repositories") or any(_V1_JSON.fullmatch(n) for n in names):
        if any(_TOP_CONFIG.fullmatch(n) for n in names):
            raise InputError(store.source, "manifest.json", "absent: this looks like a docker save (repositories, <id>.json config, <id>/layer.tar) with manifest.json removed; without it nothing says which config and layers form an image")
        if any(_V1_JSON.fullmatch(n) for n in names):
            raise InputError(store.source, "manifest.json", "absent: this is a pre-1.10 docker save (repositories + <id>/json chain only), which has no image config and no diff_ids to read; load it into Docker and save it again")
    shown = ", ".join(show(n, 60) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    raise InputError(store.source, None, f"not an image archive: expected manifest.json (docker save) or index.json (OCI layout), found {shown or 'no members'}")


def parse_archive(
    members: list[Member] | tuple[Member, ...],
    *,
    source: str,
    compression: str,
    sha256: Digest | None,
    size: int,
    directory: bool,
    limits: Limits,
) -> Archive:
    """Resolve the collected members into an Archive with its images and audit findings."""
    from imageforensics import parse_docker, parse_oci

    store = Store(members, source=source, limits=limits)
    layout = detect_layout(store, directory=directory)
    notes: list[str] = []
    if layout in ("docker", "docker-oci", "docker-dir"):
        layout, images = parse_docker.parse(store, layout=layout, notes=notes)
    else:
        images = parse_oci.parse(store, layout=layout, notes=notes)
    # A config named by a wrong digest already has its image-id-mismatch finding.
    configs = {f.path for image in images for f in image.findings if f.code == "image-id-mismatch"}
    for name in store.names():
        m = store.by_name[name]
        claimed = named_digest(name)
        if name in configs:
            continue
        if claimed is not None and m.digest is not None and claimed.algorithm == "sha256" and claimed != m.digest:
            store.findings.append(archive_audit.blob_digest_mismatch(name, claimed, m.digest))
    store.findings.extend(archive_audit.unreferenced_blobs(((n, store.by_name[n].kind, _what(store, n)) for n in store.names()), store.referenced, layout=layout))
    return Archive(
        source=source,
        layout=layout,
        compression=compression,
        sha256=sha256,
        images=tuple(images),
        findings=sort_findings(_dedupe(store.findings)),
        size=size,
        notes=tuple(notes),
    )


def _what(store: Store, name: str) -> str:
    """What an unreferenced member looks like (only computed for members nothing referenced)."""
    m = store.by_name[name]
    if name in store.referenced:
        return ""
    if m.kind == "blob":
        return "layer" if m.layer is not None and m.layer.readable else ""
    if m.kind != "json" or m.data is None:
        return ""
    try:
        value, _ = load_json_bytes(m.data, source=store.source, member=name, what="blob", limits=store.limits)
    except InputError:
        return ""
    if not isinstance(value, dict):
        return ""
    if "manifests" in value:
        return "index"
    if "config" in value and "layers" in value:
        return "manifest"
    if isinstance(value.get("rootfs"), dict):
        return "config"
    if "id" in value and ("parent" in value or "created" in value):
        return "v1-json"
    return ""


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[Finding] = set()
    out = []
    for f in findings:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


def image_with_findings(image: Image, extra: list[Finding]) -> Image:
    """The image with its audit (image-level findings plus ``extra``) attached."""
    import dataclasses

    return dataclasses.replace(image, findings=sort_findings(_dedupe(list(extra) + list(audit.audit_image(image)))))
