"""``created_by`` as the builders write it, and as one spelling to compare.

BuildKit, the classic builder, buildah and kaniko record the same Dockerfile
instruction in different words; the alignment compares steps by what they
say, so it first removes the builder-specific spelling (and says what it
removed). Pure string functions.
"""

from __future__ import annotations

import re

DOCKERFILE_INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD "
    "RUN SHELL STOPSIGNAL USER VOLUME WORKDIR".split()
)

# The classic builder records COPY/ADD as "COPY file:<sha256> in <dest>"
# (also dir: and multi:), BuildKit as "COPY <src>... <dest>".
_CLASSIC_COPY = re.compile(r"(COPY|ADD) (?:file|dir|multi):[0-9a-f]+ in (\S+)")

# The classic builder prefixes metadata instructions with the current SHELL
# and "#(nop)" ("/bin/sh -c #(nop) ", "/bin/sh -e -c #(nop) ", "cmd /S /C #(nop) ")
# and records RUN as the bare shell command (after "|N ARG=…" when ARGs are set).
_SHELL = r"(?:/\S+|cmd|powershell|pwsh)(?: \S+)*?"
_CLASSIC_NOP = re.compile(_SHELL + r" #\(nop\) ")
_CLASSIC_RUN = re.compile(r"(?:\|\d+ |/\S+ |(?:cmd|powershell|pwsh) )")
_EXPOSE_MAP = re.compile(r"EXPOSE map\[(.*)\]")
_PORT_SPEC = re.compile(r"(\d+(?:-\d+)?)(?:/(\w+))?(?::\{\})?")


def _normalise_ports(text: str) -> str | None:
    ports = []
    for word in text.split():
        m = _PORT_SPEC.fullmatch(word)
        if m is None:
            return None
        ports.append(f"{m.group(1)}/{(m.group(2) or 'tcp').lower()}")
    return " ".join(sorted(set(ports)))


def normalise_created_by(text: str) -> tuple[str, tuple[str, ...]]:
    """The instruction text with builder-specific spelling removed, and what was removed.

    BuildKit appends `` # buildkit`` to RUN/COPY/ADD; the classic builder writes
    ``/bin/sh -c #(nop) `` before metadata instructions and a bare
    ``/bin/sh -c …`` for RUN; BuildKit prints EXPOSE as a Go map
    (``EXPOSE map[8080/tcp:{}]``) where the classic builder writes ``EXPOSE 8080/tcp``.
    """
    notes: list[str] = []
    s = " ".join(text.split())
    if s.endswith(" # buildkit"):
        s = s[: -len(" # buildkit")]
        notes.append("BuildKit '# buildkit' suffix")
    nop = _CLASSIC_NOP.match(s)
    if nop is not None:
        s = s[nop.end():].strip()
        notes.append("classic builder '<shell> #(nop)' prefix")
    elif _CLASSIC_RUN.match(s):
        s = "RUN " + s
        notes.append("classic builder RUN without 'RUN'")
    m = _EXPOSE_MAP.fullmatch(s)
    if m is not None:
        ports = _normalise_ports(m.group(1))
        if ports is not None:
            s = "EXPOSE " + ports
            notes.append("EXPOSE written as a Go map")
    elif s.startswith("EXPOSE "):
        ports = _normalise_ports(s[len("EXPOSE "):])
        if ports is not None and "EXPOSE " + ports != s:
            s = "EXPOSE " + ports
            notes.append("EXPOSE port spelling")
    return s, tuple(notes)


def instruction(text: str) -> str:
    """The Dockerfile instruction keyword of a normalised created_by, or ""."""
    word = text.split(" ", 1)[0].upper() if text else ""
    return word if word in DOCKERFILE_INSTRUCTIONS else ""


def copy_destination(normal: str) -> str | None:
    """The destination of a COPY/ADD in either builder's spelling, else None."""
    m = _CLASSIC_COPY.fullmatch(normal)
    if m is not None:
        return f"{m.group(1)} {m.group(2)}"
    words = normal.split()
    args = [w for w in words[1:] if not w.startswith("--")]
    if words and words[0] in ("COPY", "ADD") and len(args) >= 2:
        return f"{words[0]} {args[-1]}"
    return None


def is_classic_copy(normal: str) -> bool:
    """True for the classic builder's ``COPY file:<sha256> in <dest>`` spelling."""
    return _CLASSIC_COPY.fullmatch(normal) is not None
