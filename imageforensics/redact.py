"""Redacted config values: a value replaced by ``redacted:sha256:<hex of the value>``.

Snapshots can hide env and label values (they often hold secrets). Because a
redacted value is a digest of the original, the diff can still tell whether a
redacted value equals a plain one on the other side: it redacts the plain
value the same way before comparing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable

from imageforensics.model import Image, RunConfig

REDACTED_PREFIX = "redacted:sha256:"


def redact_value(value: str) -> str:
    """The redacted form of one value."""
    return REDACTED_PREFIX + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def is_redacted(value: str) -> bool:
    """True for a value that a snapshot replaced by its digest."""
    return value.startswith(REDACTED_PREFIX)


def redact_env(env: tuple[str, ...]) -> tuple[str, ...]:
    """Docker's Env is a list of "KEY=value"; an entry without "=" is a bare name with no value to hide."""
    return tuple(f"{k}={redact_value(v)}" if sep else k for k, sep, v in (e.partition("=") for e in env))


def _env_match(env: tuple[str, ...] | None, other: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if env is None or other is None:
        return env
    hidden = {k for k, sep, v in (e.partition("=") for e in other) if sep and is_redacted(v)}
    return tuple(
        f"{k}={redact_value(v)}" if sep and k in hidden and not is_redacted(v) else e
        for e, (k, sep, v) in ((e, e.partition("=")) for e in env)
    )


def _labels_match(labels: tuple[tuple[str, str], ...], other: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    hidden = {k for k, v in other if is_redacted(v)}
    return tuple((k, redact_value(v) if k in hidden and not is_redacted(v) else v) for k, v in labels)


def as_redacted_as(config: RunConfig, other: RunConfig) -> RunConfig:
    """``config`` with each env/label value redacted where ``other`` has that key redacted."""
    return dataclasses.replace(
        config, env=_env_match(config.env, other.env), labels=_labels_match(config.labels, other.labels))


# ---- the history's created_by, where builders repeat ENV, ARG and LABEL values ----------
#
# BuildKit writes `ENV API_KEY=v`, `LABEL a=b`, `ARG BUILD_NO=7` and, before a RUN
# that sees build args, `RUN |1 BUILD_NO=7 /bin/sh -c …`; the classic builder
# writes `/bin/sh -c #(nop)  ENV API_KEY=v` (and `LABEL`, `ARG`) and `|1 BUILD_NO=7
# /bin/sh -c …`. Neither quotes a value with spaces, so a value runs up to the
# next ` NAME=`: redacting too much is safe, too little is not.
_CLASSIC_NOP = re.compile(r"^(?P<lead>/bin/sh -c #\(nop\)\s+)")
_INSTRUCTION = re.compile(r"^(?P<word>ENV|ARG|LABEL)(?P<space>\s+)(?P<rest>.*)$", re.DOTALL)
_ARGS_PREFIX = re.compile(r"^(?P<lead>(?:RUN\s+)?)\|(?P<count>\d+)\s")
_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_LABEL_NAME = r"(?:\"(?:[^\"\\]|\\.)*\"|[^\s=\"]+)"
# Which --redact part covers which instruction: build args are environment too.
_PART = {"ENV": "env", "ARG": "env", "LABEL": "labels"}


def _redact_assignments(text: str, name: str) -> str:
    """Each ``NAME=value`` of ``text`` with the value redacted (a value runs up to the next `` NAME=``)."""
    starts = [m for m in re.finditer(rf"(?:^|(?<=\s))({name})=", text)]
    if not starts:
        return text
    out = [text[: starts[0].start()]]
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        value = text[m.end():end]
        trailing = value[len(value.rstrip()):] if i + 1 < len(starts) else ""
        value = value[: len(value) - len(trailing)] if trailing else value.rstrip() if i + 1 < len(starts) else value
        gap = text[m.end() + len(value):end]
        out.append(f"{m.group(1)}={value if is_redacted(value) or not value else redact_value(value)}{gap}")
    return "".join(out)


def _redact_args_prefix(text: str) -> str:
    """``|N K=V … command``: the N build-arg values redacted (the last one ends at the first space)."""
    m = _ARGS_PREFIX.match(text)
    if m is None:
        return text
    pos, out = m.end(), [text[: m.end()]]
    for i in range(int(m.group("count"))):
        arg = re.compile(rf"({_ENV_NAME})=").match(text, pos)
        if arg is None:
            break
        nxt = re.compile(rf"\s{_ENV_NAME}=").search(text, arg.end()) if i + 1 < int(m.group("count")) else None
        end = nxt.start() if nxt is not None else (text.find(" ", arg.end()) if " " in text[arg.end():] else len(text))
        value = text[arg.end():end]
        out.append(f"{arg.group(1)}={value if is_redacted(value) or not value else redact_value(value)}")
        pos = end
        if pos < len(text) and text[pos] == " ":
            out.append(" ")
            pos += 1
    return "".join(out) + text[pos:]


def redact_created_by(created_by: str, redact: frozenset[str]) -> str:
    """``created_by`` with the values of ENV and ARG (``env``) and LABEL (``labels``) instructions redacted."""
    text = created_by
    if "env" in redact:
        text = _redact_args_prefix(text)
    lead_m = _CLASSIC_NOP.match(text)
    lead = lead_m.group("lead") if lead_m else ""
    body = text[len(lead):]
    m = _INSTRUCTION.match(body)
    if m is None or _PART[m.group("word")] not in redact:
        return text
    word, rest = m.group("word"), m.group("rest")
    name = _LABEL_NAME if word == "LABEL" else _ENV_NAME
    if word != "LABEL" and not re.match(rf"{_ENV_NAME}=", rest) and re.match(rf"{_ENV_NAME}\s+\S", rest):
        # The old `ENV KEY value` form: everything after the key is its value.
        key, _, value = rest.partition(" ")
        rest = f"{key} {value if is_redacted(value) else redact_value(value)}"
    else:
        rest = _redact_assignments(rest, name)
    return f"{lead}{word}{m.group('space')}{rest}"


def redacted_parts(created_by: Iterable[str]) -> frozenset[str]:
    """Which --redact parts a history shows applied (a redacted value in an ENV/ARG or LABEL step)."""
    parts: set[str] = set()
    for text in created_by:
        if REDACTED_PREFIX not in text:
            continue
        nop = _CLASSIC_NOP.match(text)
        body = text[nop.end():] if nop is not None else text
        m = _INSTRUCTION.match(body)
        if m is not None:
            parts.add(_PART[m.group("word")])
        elif _ARGS_PREFIX.match(text):
            parts.add("env")
    return frozenset(parts)


def redact_history(image: Image, redact: frozenset[str]) -> Image:
    """``image`` with ``redact_created_by`` applied to every history step."""
    if not redact:
        return image
    history = tuple(dataclasses.replace(step, created_by=redact_created_by(step.created_by, redact))
                    for step in image.history)
    return dataclasses.replace(image, history=history)


def history_as_redacted_as(image: Image, other: Image) -> Image:
    """``image`` with its history redacted as ``other``'s is (a redacted snapshot diffs like its archive)."""
    return redact_history(image, redacted_parts(step.created_by for step in other.history))
