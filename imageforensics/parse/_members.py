"""The outer archive's members as the reader met them, and the store that resolves references to them.

The reader hands over every member, in arrival order: JSON documents as bytes,
layer blobs already read into ``Layer`` values, links as names. ``Store``
resolves names (following links inside the archive, never out of it) and
digests, loads JSON within the limits, and collects the archive-level
findings met on the way.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imageforensics.errors import InputError, LimitError
from imageforensics.findings import Finding
from imageforensics.options import Limits
from imageforensics.model import Digest, Layer
from imageforensics.parse import _archive_findings as archive_audit
from imageforensics.parse._json import load_json_bytes
from imageforensics.untrusted import show

# Reads a layer blob kept in memory (a small member) into a Layer: the reader's
# own layer reader, passed in so that parsing does no reading of its own.
LayerReader = Callable[[bytes, str], Layer]

_NAMED = (
    re.compile(r"blobs/(?P<alg>[a-z0-9]+)/(?P<hex>[0-9a-f]+)"),
    re.compile(r"(?P<alg>sha256):(?P<hex>[0-9a-f]{64})"),
    re.compile(r"(?P<hex>[0-9a-f]{64})\.(?:json|tar|tar\.gz|tar\.zst|tgz)"),
    re.compile(r"(?P<hex>[0-9a-f]{64})"),  # containers/image dir: transport
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One member of the outer archive, as the reader met it.

    ``kind``: json (bytes kept), other (small non-JSON bytes kept), blob (a
    stream read by the reader's layer reader; ``layer`` holds the result), symlink,
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

    def __init__(self, members: list[Member] | tuple[Member, ...], *, source: str, limits: Limits,
                 read_layer: LayerReader) -> None:
        self.source = source
        self._read_layer = read_layer
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
        # Where each name first appears, and where each kept member sits: docker load extracts in
        # order, so a hardlink can only name a member extracted before it.
        self._first_at: dict[str, int] = {}
        self._at: dict[str, int] = {}
        for position, m in enumerate(members):
            self._first_at.setdefault(m.name, position)
            self._at[m.name] = position
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
        for _ in range(self.limits.max_link_hops):
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
            linked = normalise_member_name(joined)
            if m.kind == "hardlink" and self._first_at.get(linked, -1) > self._at[current]:
                # Extracting in order, docker load finds no file to link to (containerd skips hardlinks):
                # the runtime never reads the later member through this name.
                self._link_problem(seen[0], "member-link-forward", target)
                return None
            current = linked
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
            cached = self._read_layer(member.data or b"", member.name)
            self._layers[member.name] = cached
        return cached


def _describe(member: Member) -> str:
    if member.kind == "blob":
        packed = f"{member.layer.compression}-compressed " if member.layer is not None and member.layer.compression != "none" else ""
        return f"{packed}blob of {member.size} bytes"
    return {"dir": "directory", "special": "device or FIFO", "other": f"non-JSON file of {member.size} bytes"}.get(member.kind, member.kind)


