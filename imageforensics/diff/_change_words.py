"""A path's change in a few words, as the verdict and the summaries say it (exact values stay in evidence).

``/app/run.sh mode 0644 → 0755``, ``/app/current → v3 (was v1)``,
``/app/index.html content``: the kind of change, with the values a reader
needs and no digest or raw nanoseconds (``path_changes`` keeps those,
for the evidence).
"""

from __future__ import annotations

from collections.abc import Sequence

from imageforensics.model import FileEntry
from imageforensics.timestamp import format_duration
from imageforensics.units import human_size
from imageforensics.untrusted import escape


def change_words(a: FileEntry, b: FileEntry, fields: Sequence[str]) -> str:
    """What changed in a path, in a few words: ``mode 0644 → 0755``, ``→ v3 (was v1)``, ``content``."""
    parts: list[str] = []
    for name in fields:
        if name == "kind":
            parts.append(f"{a.kind} → {b.kind}")
        elif name == "content_digest" and "kind" not in fields:
            parts.append("content" + (f" ({human_size(a.size)} → {human_size(b.size)})" if a.size != b.size else ""))
        elif name == "size" and "content_digest" not in fields and "kind" not in fields:
            parts.append(f"size {human_size(a.size)} → {human_size(b.size)}")
        elif name == "mode":
            parts.append(f"mode {a.mode:04o} → {b.mode:04o}")
        elif name == "uid" or (name == "gid" and "uid" not in fields):
            parts.append(f"owner {a.uid}:{a.gid} → {b.uid}:{b.gid}")
        elif name == "linkname" and "kind" not in fields:
            parts.append(f"→ {escape(b.linkname)} (was {escape(a.linkname)})")
        elif name == "device":
            parts.append(f"device {a.devmajor},{a.devminor} → {b.devmajor},{b.devminor}")
        elif name == "xattrs":
            parts.append("xattrs")
        elif name == "hardlinks":
            parts.append("linked differently")
        elif name == "mtime" and fields == ("mtime",):
            parts.append(f"mtime {format_duration(b.mtime_ns - a.mtime_ns)}")
    return ", ".join(parts)
