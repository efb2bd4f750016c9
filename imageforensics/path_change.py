"""One changed fact of one path, as a typed value: ``PathChange("/app/run.sh", "mode", 0o644, 0o755)``.

The diff compares two entries of a path field by field and says each field
that differs as one ``PathChange``: the path as the finding lists it, the
field, and the exact value in A and in B, typed by the field (``FIELD_TYPES``):
sizes, modes, owners and mtimes (epoch nanoseconds) as ints, content as a
``Digest``, a device as its (major, minor) pair, xattrs as sorted (name,
value) pairs, the names a file shares as a tuple. The findings on paths carry
them as evidence (``catalogue``), the changes by step are built from them and
the JSON report writes them typed; none of them is ever read back from text.

``changes_text`` writes a path's changes as the evidence has always shown
them (``/app/run.sh: mode 0644 → 0755; uid 0 → 1000``); that text is for
people, and only the loader of the old JSON format reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Mapping, Union, get_args

from imageforensics.digest import Digest
from imageforensics.timestamp import format_duration, format_instant

ChangeField = Literal["kind", "size", "content", "mode", "uid", "gid", "linkname", "device", "mtime", "xattrs",
                      "hardlinks", "hardlink", "presence"]
# In report order: the order the diff compares the fields in.
CHANGE_FIELDS: tuple[ChangeField, ...] = get_args(ChangeField)

ChangeValue = Union[bool, int, str, Digest, None, tuple[int, int], tuple[str, ...], tuple[tuple[str, str], ...]]

# The names of one file a value of ``hardlinks`` keeps (the first, sorted): a hostile image may give one
# file a million names, and the report shows three.
LINK_NAMES = 16

# What each field's values are. ``content`` is None where an entry has no content digest (not a regular
# file) and text where a snapshot holds one that is no digest; ``hardlinks`` lists the other names of the
# path's file in the merged filesystem (() for a file of its own); ``hardlink`` names the earlier entry of
# its layer whose file a layer entry is ("" for a file of its own); ``presence`` says whether the layer
# holds the entry at all.
FIELD_TYPES: Mapping[ChangeField, str] = MappingProxyType({
    "kind": "str", "size": "int", "content": "Digest | str | None", "mode": "int", "uid": "int", "gid": "int",
    "linkname": "str", "device": "tuple[int, int]", "mtime": "int (epoch ns)",
    "xattrs": "tuple[tuple[str, str], ...]", "hardlinks": "tuple[str, ...]", "hardlink": "str", "presence": "bool",
})


def _is_int(v: object) -> bool:
    return type(v) is int


def _is_str(v: object) -> bool:
    return type(v) is str


def _value_ok(field: str, v: object) -> bool:
    if field in ("size", "mode", "uid", "gid", "mtime"):
        return _is_int(v)
    if field in ("kind", "linkname", "hardlink"):
        return _is_str(v)
    if field == "content":
        if type(v) is str:
            # Text only where it is no digest: a value has one type.
            try:
                Digest.parse(v)
            except ValueError:
                return True
            return False
        return v is None or type(v) is Digest
    if field == "device":
        return type(v) is tuple and len(v) == 2 and all(_is_int(p) for p in v)
    if field == "xattrs":
        return type(v) is tuple and all(type(p) is tuple and len(p) == 2 and all(_is_str(s) for s in p) for p in v)
    if field == "hardlinks":
        return type(v) is tuple and len(v) <= LINK_NAMES and all(_is_str(s) for s in v)
    if field == "presence":
        return type(v) is bool
    return False


@dataclass(frozen=True, slots=True)
class PathChange:
    """One field of one path that differs: the path (as its finding lists it), the field, A's value and B's."""

    path: str
    field: ChangeField
    a: ChangeValue
    b: ChangeValue

    def __post_init__(self) -> None:
        if type(self.path) is not str:
            raise ValueError(f"a path change's path must be a str, not {type(self.path).__name__}")
        if self.field not in CHANGE_FIELDS:
            raise ValueError(f"no path field {str(self.field)[:40]!r}")
        for side, value in (("A", self.a), ("B", self.b)):
            if not _value_ok(self.field, value):
                raise ValueError(f"{self.field} in {side} must be {FIELD_TYPES[self.field]}, "
                                 f"not {type(value).__name__} {str(value)[:40]!r}")
        # The names kept of two files may agree where the whole sets differ beyond LINK_NAMES.
        if self.a == self.b and type(self.a) is type(self.b) and self.field != "hardlinks":
            raise ValueError(f"{self.field} of {self.path[:80]!r} is the same in A and B")

    @property
    def mtime_delta(self) -> int | None:
        """B's mtime minus A's, in nanoseconds (None for another field)."""
        if self.field == "mtime" and isinstance(self.a, int) and isinstance(self.b, int):
            return self.b - self.a
        return None


def content_value(digest_text: str) -> Digest | str | None:
    """A file entry's ``content_digest`` as a change's value: the Digest, None when there is none."""
    if not digest_text:
        return None
    try:
        return Digest.parse(digest_text)
    except ValueError:
        return digest_text


def link_text(field: str, value: ChangeValue) -> str:
    """One side of a link change: ``one file with /a, /b``, ``a hardlink to /a``, ``a file of its own``."""
    if field == "hardlink":
        return f"a hardlink to {value}" if value else "a file of its own"
    assert isinstance(value, tuple)
    if not value:
        return "a file of its own"
    return "one file with " + ", ".join(str(n) for n in value[:3]) + (" …" if len(value) > 3 else "")


def _value_text(field: str, v: ChangeValue) -> str:
    if field == "mode":
        assert isinstance(v, int)
        return f"{v:04o}"
    if field == "mtime":
        assert isinstance(v, int)
        return format_instant(v)
    if field == "device":
        assert isinstance(v, tuple)
        return f"{v[0]},{v[1]}"
    if field == "content":
        return "-" if v is None else str(v)
    if field == "xattrs":
        assert isinstance(v, tuple)
        return str(dict(v))  # type: ignore[arg-type]
    return str(v)


def change_text(c: PathChange) -> str:
    """One change as the evidence writes it: ``mode 0644 → 0755``, ``mtime … → … (+28 s)``."""
    if c.field in ("hardlinks", "hardlink"):
        return f"{link_text(c.field, c.a)} in A, {link_text(c.field, c.b)} in B"
    if c.field == "presence":
        return "only in A" if c.a else "only in B"
    text = f"{c.field} {_value_text(c.field, c.a)} → {_value_text(c.field, c.b)}"
    delta = c.mtime_delta
    return text if delta is None else f"{text} ({format_duration(delta)})"


def changes_text(changes: Sequence[PathChange], joiner: str = ": ") -> str:
    """One path's changes as its evidence shows them: ``/app/run.sh: mode 0644 → 0755; uid 0 → 1000``.

    ``joiner`` comes between the path and its changes (a layer's entries say
    ``: changed: ``); an entry only one layer holds is ``/path: only in A``.
    """
    if not changes:
        return ""
    path = changes[0].path
    if len(changes) == 1 and changes[0].field == "presence":
        return f"{path}: {change_text(changes[0])}"
    return path + joiner + "; ".join(change_text(c) for c in changes)
