"""What ``DiffOptions``' filters leave out, as typed rules the engine applies.

Two kinds of rule, each at one place:

- before a comparison: ``without_config_keys`` removes ignored config keys
  (``--ignore-config``, ``--ignore-labels``, ``--ignore-env``) from both
  configs, so a removed key can differ in nothing (entry fields, ``--ignore-
  file-mode``/``--ignore-file-owner``, are left out by ``changed_fields``);
- after it, on findings by their registered code: ``--ignore-history`` drops
  the findings about history text alone, and ``--semantic`` keeps only the
  codes that say what a container would see (``CONTAINER_VISIBLE``).

The verdict and the exit status are decided from what is left, so two
images whose only differences were ignored are "identical after ignores".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from imageforensics.findings import Finding
from imageforensics.model import RunConfig
from imageforensics.options import ConfigKey, DiffOptions

# Findings about the history's text (created_by, comment, author) and nothing else.
HISTORY_TEXT_CODES = frozenset({"step-changed", "created-by-spelling", "step-metadata-differs", "copy-source-differs"})

# The pair findings that say what a container started from the image would see
# differently: its files (which exist, their content, kind, mode, owner, links as
# paths), its platform and its run config. The rest (timestamps, history text,
# layer packaging and tar bytes, names, build metadata, the inline cache, the
# config JSON's spelling, how hard links are grouped) only ``--semantic`` drops.
CONTAINER_VISIBLE = frozenset({
    "step-wrongly-empty", "paths-missing", "paths-added", "paths-changed", "layer-content-differs",
    "step-only-in-a", "step-only-in-b", "layer-only-in-a", "layer-only-in-b",
    "platform-differs", "config-differs",
    # The installed packages are files a container sees; the file asked for with --show-content is shown.
    "packages-differ", "content-shown",
})
# The pair findings --semantic drops (every other pair code of the registry): listed so that
# a new code must be placed on one side or the other (tests/diff/test_filters.py checks it).
CONTAINER_INVISIBLE = frozenset({
    "step-changed", "timestamp-drift", "image-created-differs", "paths-mtime-differ", "paths-hardlinks-differ",
    "layer-bytes-differ", "empty-layer-spelling", "created-by-spelling", "step-metadata-differs",
    "build-metadata-differs", "config-json-differs", "inline-cache-differs", "inline-cache-records-differ",
    "layer-differs-ignored", "references-differ", "packaging-differs", "filesystem-not-compared",
    # A squash regroups the same files; the runtime mounts /dev, /proc, /sys over a builder's empty mount points;
    # a key absent vs null/empty is read the same; a COPY's source hash is history text (its files are compared).
    "steps-squashed", "builder-artefacts", "config-json-equivalent", "copy-source-differs",
})


_ABSENT = RunConfig()


def without_config_keys(config: RunConfig, keys: Iterable[ConfigKey]) -> RunConfig:
    """``config`` with the ignored keys (whole fields, or members of a mapping or set) removed."""
    for key in keys:
        if key.member is None:
            # The field's default on both sides, so the two compare equal.
            config = dataclasses.replace(config, **{key.field: getattr(_ABSENT, key.field)})
        elif key.field == "labels":
            config = dataclasses.replace(config, labels=tuple((k, v) for k, v in config.labels if k != key.member))
        elif key.field == "env":
            env = config.env
            config = dataclasses.replace(config, env=None if env is None else
                                         tuple(e for e in env if e.partition("=")[0] != key.member))
        elif key.field == "exposed_ports":
            # Both are normalised (``8080/tcp``): the model's ports when read, the key's when parsed.
            config = dataclasses.replace(config, exposed_ports=tuple(p for p in config.exposed_ports
                                                                     if p != key.member))
        elif key.field == "volumes":
            config = dataclasses.replace(config, volumes=tuple(v for v in config.volumes if v != key.member))
    return config


def ignored_config_path(path: str, keys: Iterable[ConfigKey]) -> bool:
    """Whether a config JSON path (``config.Labels.build-date``) lies under an ignored key.

    The classic builder repeats the config in ``container_config``: an ignored
    key is ignored there too.
    """
    for key in keys:
        name = str(key)
        for root in ("config", "container_config"):
            spelled = f"{root}.{name}"
            if path == spelled or path.startswith(spelled + "."):
                return True
    return False


def drop_filtered(findings: Iterable[Finding], options: DiffOptions) -> list[Finding]:
    """The findings left once the history-text and semantic filters are applied (the side audits stay)."""
    out = []
    for f in findings:
        if options.ignore_history and f.code in HISTORY_TEXT_CODES:
            continue
        if options.semantic and f.code in CONTAINER_INVISIBLE:
            continue
        out.append(f)
    return out
