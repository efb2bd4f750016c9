"""A format 1 JSON report's per-path details (``change_NNN``, ``entry_NNN`` text) as typed changes.

Format 1 wrote a path's changes as text (``/app/run.sh: mode 0644 → 0755;
uid 0 → 1000``); format 2 writes them typed. This is the one place that
reads such text, at the parse boundary of the old format: the path is known
from the finding's own ``paths`` (the details follow their order), so a
name holding ``": "`` cannot move the split, and a reading counts only when
it writes the same text again. A detail that does not read back so (an older
spelling, ``0o755 -> 0o700``; a list of names cut with ``…``) is left out:
its path stays listed, without detail, as any path beyond the details.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from imageforensics.path_change import CHANGE_FIELDS, ChangeValue, PathChange, changes_text, content_value
from imageforensics.timestamp import parse_ns

_WRITTEN = tuple(f for f in CHANGE_FIELDS if f not in ("hardlinks", "hardlink", "presence"))
_PART = re.compile(r"(?P<name>%s) (?P<a>.*?) → (?P<b>.*?)(?=; (?:%s) |\Z)" % ("|".join(_WRITTEN), "|".join(_WRITTEN)),
                   re.S)
_LINKS = re.compile(r"(?P<a>.*?) in A, (?P<b>.*?) in B", re.S)
_DELTA = re.compile(r"(?P<when>.*) \([^()]*\)", re.S)


def _ns(text: str) -> int | None:
    m = re.fullmatch(r"(-?[0-9]{1,30}) ns", text)
    return int(m.group(1)) if m else parse_ns(text)


def _value(field: str, text: str) -> ChangeValue:
    """One side's value of a field as format 1 wrote it; ValueError when it is none."""
    if field == "mode":
        if not re.fullmatch(r"[0-7]{4,}", text):
            raise ValueError(text)
        return int(text, 8)
    if field in ("size", "uid", "gid"):
        if not re.fullmatch(r"-?[0-9]{1,30}", text):
            raise ValueError(text)
        return int(text)
    if field == "device":
        m = re.fullmatch(r"(-?[0-9]{1,30}),(-?[0-9]{1,30})", text)
        if m is None:
            raise ValueError(text)
        return (int(m.group(1)), int(m.group(2)))
    if field == "mtime":
        ns = _ns(text)
        if ns is None:
            raise ValueError(text)
        return ns
    if field == "content":
        return None if text == "-" else content_value(text)
    if field == "xattrs":
        if len(text) > 100_000:
            raise ValueError("too long")
        read = ast.literal_eval(text)
        if not isinstance(read, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in read.items()):
            raise ValueError(text[:40])
        return tuple(read.items())
    return text


def _names(field: str, text: str) -> ChangeValue:
    if field == "hardlink":
        if text == "a file of its own":
            return ""
        if not text.startswith("a hardlink to "):
            raise ValueError(text[:40])
        return text.removeprefix("a hardlink to ")
    if text == "a file of its own":
        return ()
    if not text.startswith("one file with ") or text.endswith(" …"):
        raise ValueError(text[:40])  # the names beyond three were never written
    return tuple(text.removeprefix("one file with ").split(", "))


def _fields(path: str, body: str) -> list[PathChange]:
    parts = [(m.group("name"), m.group("a"), m.group("b")) for m in _PART.finditer(body)]
    out: list[PathChange] = []
    for name, a, b in parts:
        if name == "mtime":
            m = _DELTA.fullmatch(b)
            if m is None:
                raise ValueError(b[:40])
            b = m.group("when")
        out.append(PathChange(path, name, _value(name, a), _value(name, b)))  # type: ignore[arg-type]
    return out


def _read(path: str, text: str, joiner: str, links: str) -> tuple[PathChange, ...]:
    if joiner != ": " and text in (f"{path}: only in A", f"{path}: only in B"):
        return (PathChange(path, "presence", text.endswith("A"), text.endswith("B")),)
    if not text.startswith(path + joiner):
        raise ValueError("another path")
    body = text[len(path + joiner):]
    changes: list[PathChange] = []
    if links:
        head, sep, rest = body.partition("; ") if links == "hardlink" else (body, "", "")
        m = _LINKS.fullmatch(head)
        if m is not None:
            changes.append(PathChange(path, links, _names(links, m.group("a")),  # type: ignore[arg-type]
                                      _names(links, m.group("b"))))
            body = rest
        elif links == "hardlinks":
            raise ValueError(body[:40])
    return (*changes, *(_fields(path, body) if body else ()))


def read_details(code: str, paths: Sequence[str], details: Sequence[str]) -> list[tuple[PathChange, ...] | None]:
    """Each detail text of a finding, in order, as one path's typed changes, or None where it does not read back."""
    joiner = ": changed: " if code == "layer-content-differs" else ": "
    links = {"layer-content-differs": "hardlink", "paths-hardlinks-differ": "hardlinks"}.get(code, "")
    out: list[tuple[PathChange, ...] | None] = []
    for i, text in enumerate(details):
        path = paths[i] if i < len(paths) else ""
        try:
            changes = _read(path, text, joiner, links)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            out.append(None)
            continue
        out.append(changes if changes and changes_text(changes, joiner) == text else None)
    return out
