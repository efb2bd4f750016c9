"""``diff --show-content PATH``: one text file of both images, as a unified diff in the report.

The caller (which reads) hands over each side's bytes, or why there are none;
this module only compares. Text is UTF-8 without NUL bytes; anything else is
binary and compared by digest alone, as ``diff`` says "Binary files differ".
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass

from imageforensics.findings import Finding, Severity, evidence
from imageforensics.untrusted import show


@dataclass(frozen=True, slots=True)
class Shown:
    """One side's file: its bytes, or ``missing`` saying why there are none (absent, a directory, too large…)."""

    data: bytes | None
    missing: str = ""


def _text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def content_finding(path: str, a: Shown, b: Shown) -> Finding:
    """The ``content-shown`` finding for ``path`` (a model path) as the two sides hold it."""
    shown = "/" + show(path)
    sizes = {"size_a": len(a.data) if a.data is not None else None,
             "size_b": len(b.data) if b.data is not None else None}
    digests = {f"content_{side}": "sha256:" + hashlib.sha256(s.data).hexdigest() if s.data is not None else s.missing
               for side, s in (("a", a), ("b", b))}
    if a.data is None or b.data is None:
        why = "; ".join(f"in {side}: {s.missing}" for side, s in (("A", a), ("B", b)) if s.data is None)
        return _finding(path, f"{shown} cannot be compared ({why})", "not compared", sizes, digests, None)
    if a.data == b.data:
        return _finding(path, f"{shown} is the same in both ({len(a.data)} bytes)", "same", sizes, digests, None)
    text_a, text_b = _text(a.data), _text(b.data)
    if text_a is None or text_b is None:
        return _finding(path, f"binary file {shown} differs", "binary", sizes, digests, None)
    lines = list(difflib.unified_diff(text_a.splitlines(keepends=True), text_b.splitlines(keepends=True),
                                      fromfile=f"A/{path}", tofile=f"B/{path}"))
    added = sum(1 for line in lines[2:] if line.startswith("+"))
    removed = sum(1 for line in lines[2:] if line.startswith("-"))
    diff = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return _finding(path, f"{shown} differs: {removed} line(s) removed, {added} added", "differs", sizes, digests, diff)


def _finding(path: str, summary: str, outcome: str, sizes: dict[str, int | None], digests: dict[str, str],
             diff: str | None) -> Finding:
    return Finding(code="content-shown", severity=Severity.INFO, summary=summary, path="/" + path,
                   evidence=evidence(outcome=outcome, diff=diff, **sizes, **digests))
