"""Redacted config values: a value replaced by ``redacted:sha256:<hex of the value>``.

Snapshots can hide env and label values (they often hold secrets). Because a
redacted value is a digest of the original, the diff can still tell whether a
redacted value equals a plain one on the other side: it redacts the plain
value the same way before comparing.
"""

from __future__ import annotations

import dataclasses
import hashlib

from imageforensics.model import RunConfig

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
