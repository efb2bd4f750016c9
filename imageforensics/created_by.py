"""``created_by`` as the builders write it, as one spelling to compare, and as reports show it.

BuildKit, the classic builder, buildah and kaniko record the same Dockerfile
instruction in different words; the alignment compares steps by what they
say, so it first removes the builder-specific spelling (and says what it
removed). ``display_created_by`` is how every report shows a step's
created_by on one line. Pure string functions.
"""

from __future__ import annotations

import re
from typing import Literal

from imageforensics.untrusted import escape

DOCKERFILE_INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD "
    "RUN SHELL STOPSIGNAL USER VOLUME WORKDIR".split()
)
# The instructions that write the filesystem, so a layer is expected from each
# (the others only set config); of them, those that copy files in.
FILESYSTEM_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
COPY_INSTRUCTIONS = frozenset({"COPY", "ADD"})

# The classic builder records COPY/ADD as "COPY file:<sha256> in <dest>"
# (also dir: and multi:), with "--chown=<user>" written right before the
# source, no space between (moby builder/dockerfile/dispatchers.go:
# "COPY --chown=1000:1000dir:<hash> in /dest"); BuildKit as "COPY <src>... <dest>",
# without --chown.
_CLASSIC_COPY = re.compile(r"(COPY|ADD) ((?:--[a-z]+=\S*?)?)(?:file|dir|multi):[0-9a-f]+ in (\S+)")

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


# What tables leave out of a created_by as recorded: the classic builder's
# prefix on metadata steps (`/bin/sh -c #(nop)  EXPOSE …`) and BuildKit's
# ` # buildkit` after RUN/COPY/ADD; neither helps a reader of the table (the
# exact text stays in findings and JSON).
_TABLE_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s+")
_TABLE_BUILDKIT_SUFFIX = re.compile(r"\s+# buildkit$")
_RUN_OF_SPACES = re.compile(r" {2,}")
_SUMMARY_LENGTH = 60  # characters of a created_by that a summary quotes


def display_created_by(text: str, form: Literal["table", "summary"] = "table") -> str:
    """A step's created_by on one line of a report: in a table, or where a summary names the step.

    ``table``: as recorded, less the classic builder's ``/bin/sh -c #(nop)``
    prefix, BuildKit's `` # buildkit`` suffix and runs of spaces, "" for
    none; each renderer fits it to its column. ``summary``: in the spelling
    the alignment compares (``normalise_created_by``: also any shell's
    ``#(nop)`` prefix, ``RUN`` before a classic builder's bare command, EXPOSE
    ports spelled one way), at most 60 characters (the last of them "…"),
    "(no created_by)" for none, escaped (``untrusted.escape``): how a finding's
    summary or the verdict names a step.
    """
    if form == "table":
        # Only runs of spaces fold: a tab, CR or LF stays, for the renderer to show escaped (``\\n``),
        # as the text and JSON reports keep them.
        return _RUN_OF_SPACES.sub(" ", _TABLE_BUILDKIT_SUFFIX.sub("", _TABLE_NOP.sub("", text))).strip(" ")
    shown = normalise_created_by(text)[0] if text else "(no created_by)"
    # A summary is our sentence with the step's text in it: shown by the one policy (untrusted.escape).
    return escape(shown) if len(shown) <= _SUMMARY_LENGTH else escape(shown[: _SUMMARY_LENGTH - 1]) + "…"


def instruction(text: str) -> str:
    """The Dockerfile instruction keyword of a normalised created_by, or ""."""
    word = text.split(" ", 1)[0].upper() if text else ""
    return word if word in DOCKERFILE_INSTRUCTIONS else ""


def step_instruction(created_by: str) -> str:
    """The Dockerfile instruction a history step records (RUN, COPY, ENV…), or ""."""
    return instruction(normalise_created_by(created_by)[0])


def copy_destination(normal: str) -> str | None:
    """The destination of a COPY/ADD in either builder's spelling, else None."""
    m = _CLASSIC_COPY.fullmatch(normal)
    if m is not None:
        return f"{m.group(1)} {m.group(3)}"
    words = normal.split()
    args = [w for w in words[1:] if not w.startswith("--")]
    if words and words[0] in COPY_INSTRUCTIONS and len(args) >= 2:
        return f"{words[0]} {args[-1]}"
    return None


def classic_copy_parts(normal: str) -> tuple[str, str, str] | None:
    """The instruction, its flags and its destination of a classic builder's COPY/ADD (the source hash left out), else None.

    ``COPY --chown=1000:1000dir:<hash> in /opt/`` → ``("COPY", "--chown=1000:1000", "/opt/")``:
    two such steps with other hashes are one instruction run on other source content.
    """
    m = _CLASSIC_COPY.fullmatch(normal)
    return (m.group(1), m.group(2), m.group(3)) if m is not None else None


def is_classic_copy(normal: str) -> bool:
    """True for the classic builder's ``COPY file:<sha256> in <dest>`` spelling."""
    return _CLASSIC_COPY.fullmatch(normal) is not None
