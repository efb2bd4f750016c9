"""Which build of the tool is running: version plus the commit it came from.

A report names the tool that produced it, so ``--version`` and the report
header say the commit when it is known: from ``_build.py`` (written into a
.pyz by tools/build_pyz.py) or, in a source checkout, from ``.git`` read
directly (no subprocess, nothing outside the checkout).
"""

from __future__ import annotations

import os

from imageforensics._version import __version__


def build_commit() -> str:
    """The full commit hash this code was built from, or "" when unknown."""
    try:
        from imageforensics import _build  # type: ignore[attr-defined]

        return str(getattr(_build, "COMMIT", ""))
    except ImportError:
        pass
    return _commit_from_git(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _commit_from_git(top: str) -> str:
    git = os.path.join(top, ".git")
    try:
        with open(os.path.join(git, "HEAD"), encoding="ascii") as f:
            head = f.read(200).strip()
        if not head.startswith("ref: "):
            return head if _is_hash(head) else ""
        ref = head[5:]
        ref_path = os.path.join(git, *ref.split("/"))
        if os.path.isfile(ref_path):
            with open(ref_path, encoding="ascii") as f:
                value = f.read(100).strip()
                return value if _is_hash(value) else ""
        with open(os.path.join(git, "packed-refs"), encoding="ascii") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref and _is_hash(parts[0]):
                    return parts[0]
    except (OSError, UnicodeDecodeError):
        return ""
    return ""


def _is_hash(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def version_line() -> str:
    """``imageforensics 0.1.0 (commit 1a2b3c4d5e6f)`` or without the commit when unknown."""
    commit = build_commit()
    return f"imageforensics {__version__}" + (f" (commit {commit[:12]})" if commit else "")
