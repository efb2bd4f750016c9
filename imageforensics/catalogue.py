"""The registry of finding codes: each code once, with its severity, category, meaning and evidence.

Every finding the tool can emit — the single-image audit, the archive audit
that parsing makes, the diff — has its code here, and ``Finding`` refuses a
code that is not, evidence under a key the code does not declare, and a value
of another type. The verdict and the sorting decide from what is declared
here (a code's ``category``, whether it names a ``cause``), never from a list
of codes of their own, so a new code gets the treatment of its category.

Evidence values are typed (int, bool, str, Digest, Timestamp, pairs and
tuples of those, and a path's changes as a tuple of ``PathChange``). Their
text — in every report and in the JSON (format 1) and snapshots, as ``[key,
value]`` string pairs — comes from one function, ``evidence_text``, and
``parse_evidence_text`` is its inverse at the parse boundary (snapshots and
JSON reports from elsewhere). A path's changes are the exception: their text
is for people (a hostile name may hold ``"; "`` or ``" → "``), so they are
written and read typed (the JSON report's format 2), never from text.

Codes are stable kebab-case names, never renamed once released.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Union

from imageforensics.digest import Digest
from imageforensics.path_change import PathChange, changes_text
from imageforensics.timestamp import Timestamp, format_duration


class Severity(enum.IntEnum):
    """How much a finding matters; ordering is by importance."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        """Upper-case name used in text reports."""
        return self.name


INFO, WARNING, ERROR = Severity.INFO, Severity.WARNING, Severity.ERROR


class Category(enum.Enum):
    """The groups the verdict decides by."""

    LOSS = "content-loss"                 # pair: content A has that B lacks (a step emptied, paths gone)
    CONTENT = "content"                   # pair: the content differs (steps, layers, paths)
    PLATFORM = "platform"                 # pair: the platforms differ, which explains every other difference
    DIVERGENCE = "history-divergence"     # pair: created times of aligned steps drift (where history diverges)
    TIMES = "timestamps"                  # pair: the image's created time or file mtimes differ
    CONFIG = "config"                     # pair: a compared run-config field differs
    CONFIG_JSON = "config-json"           # pair: the config JSON differs where no field is compared
    METADATA = "metadata"                 # pair: spellings, comments, tar bytes, inline cache differ
    PACKAGING = "packaging"               # pair: the same content packaged differently (a note)
    NOTE = "note"                         # pair: a note that is no difference (names, what was not compared)
    INTEGRITY = "integrity"               # one input: its archive's or image's audit
    TIME_SIGNAL = "time-signal"           # one input: an audit signal about created times

    @property
    def is_content(self) -> bool:
        """The images' content differs: the verdict says "diverged" (or "missing content")."""
        return self in (Category.LOSS, Category.CONTENT, Category.PLATFORM)

    @property
    def is_difference(self) -> bool:
        """A difference between the two images (every other pair finding is a note)."""
        return self.is_content or self in (Category.DIVERGENCE, Category.TIMES, Category.CONFIG,
                                           Category.CONFIG_JSON, Category.METADATA)

    @property
    def is_about_time(self) -> bool:
        """About created times or mtimes: what ``--ignore-timestamps`` leaves out."""
        return self in (Category.DIVERGENCE, Category.TIMES, Category.TIME_SIGNAL)


# ---- evidence keys -------------------------------------------------------------

EvidenceScalar = Union[bool, int, str, Digest, Timestamp, PathChange]
EvidenceItem = Union[EvidenceScalar, tuple[Union[EvidenceScalar, None], Union[EvidenceScalar, None]]]
EvidenceValue = Union[EvidenceItem, tuple[EvidenceItem, ...]]

_TYPE_NAMES: dict[type, str] = {bool: "bool", int: "int", str: "str", Digest: "Digest", Timestamp: "Timestamp",
                                PathChange: "PathChange"}
_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_NUMBERED = re.compile(r"(.+)_([0-9]{3})")


@dataclass(frozen=True, slots=True)
class Key:
    """One evidence key of a code: its value's type, how the value is written, and whose it is.

    ``parts`` holds one type for a single value, two for a pair written
    ``x{inner}y``; ``separator`` makes the value a tuple of such items, written
    joined by it. ``side`` is "A" or "B" when the value is one image's (the
    renderers group by it), shown under ``label``. A ``numbered`` key is a
    family ``name_001``, ``name_002``… (details listed in order). A key with
    ``duration_of`` is not given: it is shown as the duration of that key's
    nanoseconds. A key of ``PathChange`` items holds one path's changes, at
    least one, all of that path (``inner`` comes between the path and them in
    their text).
    """

    name: str
    parts: tuple[type, ...] = (str,)
    separator: str | None = None
    inner: str = ""
    nullable: bool = False
    side: str = ""
    label: str | None = None
    numbered: bool = False
    duration_of: str = ""
    # (step, ns) pairs a person reads as "step 3 +6 min 19 s" (their text stays "3:379300013209").
    step_durations: bool = False

    @property
    def type_name(self) -> str:
        """The value's type in Python's spelling: ``int``, ``tuple[int, ...]``, ``tuple[str, int]``."""
        if self.duration_of:
            return f"duration of {self.duration_of}"
        names = [_TYPE_NAMES[t] + (" | None" if self.nullable else "") for t in self.parts]
        item = names[0] if len(names) == 1 else f"tuple[{', '.join(names)}]"
        return item if self.separator is None else f"tuple[{item}, ...]"

    def shown_as(self, name: str) -> str:
        """The name a renderer shows beside the value ("" to show the value alone)."""
        return name if self.label is None else self.label

    def accepts(self, value: object) -> bool:
        """Whether ``value`` has this key's type (exactly: a bool is not an int)."""
        if self.duration_of:
            return False
        if self.separator is None:
            return self._item_ok(value)
        if type(value) is not tuple or not all(self._item_ok(v) for v in value):
            return False
        if self.parts == (PathChange,):
            return bool(value) and all(c.path == value[0].path for c in value)
        return True

    @property
    def path_changes(self) -> bool:
        """Whether the value is one path's changes (a tuple of ``PathChange``)."""
        return self.parts == (PathChange,)

    def _item_ok(self, value: object) -> bool:
        if len(self.parts) == 1:
            return type(value) is self.parts[0]
        return (type(value) is tuple and len(value) == len(self.parts)
                and all(type(p) is t or (self.nullable and p is None) for p, t in zip(value, self.parts)))


def key(name: str, *parts: type, separator: str | None = None, inner: str = "", nullable: bool = False,
        numbered: bool = False, duration_of: str = "", step_durations: bool = False) -> Key:
    """A key whose value is nobody's side in particular (``str`` unless ``parts`` says otherwise)."""
    return Key(name, parts or (str,), separator=separator, inner=inner, nullable=nullable, numbered=numbered,
               duration_of=duration_of, step_durations=step_durations)


def sided(stem: str, kind: type = str, separator: str | None = None) -> tuple[Key, Key]:
    """``stem_a`` and ``stem_b``: the same fact on each side, shown as ``stem`` under A and B."""
    return (on_side(stem, "A", kind, separator), on_side(stem, "B", kind, separator))


def on_side(stem: str, side: str, kind: type = str, separator: str | None = None) -> Key:
    """``stem_a`` or ``stem_b`` alone: a fact about one side only."""
    return Key(f"{stem}_{side.lower()}", (kind,), separator=separator, side=side, label=stem)


def each_side(kind: type = str) -> tuple[Key, Key]:
    """``a`` and ``b``: the value on each side, shown alone under A and B."""
    return (Key("a", (kind,), side="A", label=""), Key("b", (kind,), side="B", label=""))


# ---- the text of evidence values -------------------------------------------------


def _scalar_text(value: object) -> str:
    if isinstance(value, Timestamp):
        return value.raw
    return str(value)


def _item_text(k: Key, item: object) -> str:
    if len(k.parts) == 1:
        return _scalar_text(item)
    assert isinstance(item, tuple)
    return k.inner.join(_scalar_text(p) for p in item)


def evidence_text(k: Key, value: EvidenceValue) -> str:
    """The text of a typed evidence value, as every report and the JSON write it."""
    if k.separator is None:
        return _item_text(k, value)
    assert isinstance(value, tuple)
    if k.path_changes:
        return changes_text(value, k.inner)  # type: ignore[arg-type]
    return k.separator.join(_item_text(k, item) for item in value)


def _parse_scalar(kind: type, text: str, nullable: bool) -> EvidenceScalar | None:
    if nullable and text == "None":
        return None
    if kind is str:
        return text
    if kind is bool:
        if text not in ("True", "False"):
            raise ValueError(f"expected True or False, not {text[:40]!r}")
        return text == "True"
    if kind is int:
        if not _CANONICAL_INT.fullmatch(text):
            raise ValueError(f"expected an integer, not {text[:40]!r}")
        return int(text)
    if kind is Digest:
        return Digest.parse(text)
    if kind is Timestamp:
        return Timestamp.parse(text)
    raise AssertionError(kind)


def _parse_item(k: Key, text: str) -> EvidenceItem:
    if len(k.parts) == 1:
        value = _parse_scalar(k.parts[0], text, False)
        assert value is not None
        return value
    if k.inner not in text:
        raise ValueError(f"expected two values joined by {k.inner!r}, not {text[:40]!r}")
    # The first part may be text; the last never holds the joiner.
    first, last = text.rsplit(k.inner, 1)
    return (_parse_scalar(k.parts[0], first, k.nullable), _parse_scalar(k.parts[1], last, k.nullable))


def parse_evidence_text(k: Key, text: str) -> EvidenceValue:
    """The typed value whose ``evidence_text`` is ``text``; ValueError when there is none."""
    if k.duration_of:
        raise ValueError("is shown from another key, not given")
    if k.path_changes:
        raise ValueError("a path's changes are read typed, not from text")
    if k.separator is None:
        value: EvidenceValue = _parse_item(k, text)
    else:
        items: list[EvidenceItem] = []
        pending = ""
        for token in text.split(k.separator) if text else []:
            # A pair's joiner may hold the separator ("A layer 0 B layer 1"): gather tokens until it is whole.
            pending = token if not pending else pending + k.separator + token
            if len(k.parts) == 1 or k.inner in pending:
                items.append(_parse_item(k, pending))
                pending = ""
        if pending:
            raise ValueError(f"ends in an incomplete value {pending[:40]!r}")
        value = tuple(items)
    if evidence_text(k, value) != text:
        raise ValueError(f"is not written as this tool writes a {k.type_name}: {text[:40]!r}")
    return value


# ---- codes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeSpec:
    """Everything declared about one finding code.

    ``severity`` is the usual one; ``also`` lists the others the code takes
    (its meaning says when). ``phrase`` is the verdict's words for a metadata
    difference ("{n}" is how many findings of the code there are). ``cause``
    marks a finding that names the cause of others at its step: it sorts
    before its consequences, and the verdict names it. ``breaks_integrity``
    marks an audit finding (at ERROR) that says the archive fails its own
    digests or references: such an archive never holds "the same image".
    """

    code: str
    severity: Severity
    category: Category
    meaning: str
    keys: tuple[Key, ...] = ()
    also: tuple[Severity, ...] = ()
    phrase: str = ""
    cause: bool = False
    breaks_integrity: bool = False

    @property
    def severities(self) -> tuple[Severity, ...]:
        """Every severity a finding of this code may have."""
        return (self.severity, *self.also)

    def key(self, name: str) -> Key | None:
        """The declared key for an evidence name (numbered names find their family), or None."""
        for k in self.keys:
            if k.name == name and not k.numbered:
                return k
        m = _NUMBERED.fullmatch(name)
        if m is not None:
            for k in self.keys:
                if k.numbered and k.name == m.group(1):
                    return k
        return None


def _code(code: str, severity: Severity, category: Category, meaning: str, *keys: Key | tuple[Key, ...],
          also: tuple[Severity, ...] = (), phrase: str = "", cause: bool = False,
          breaks_integrity: bool = False) -> CodeSpec:
    flat: list[Key] = []
    for k in keys:
        flat.extend(k if isinstance(k, tuple) else (k,))
    return CodeSpec(code, severity, category, meaning, tuple(flat), also, phrase, cause, breaks_integrity)


_AUDIT, _TIME = Category.INTEGRITY, Category.TIME_SIGNAL
_LINK = key("target")
# What aligned layers' entries say (layer-content-differs, layer-bytes-differ, layer-differs-ignored).
_ENTRIES = (sided("diff_id", Digest), sided("entries", int), key("changed_entries", int), key("ignored_changes", int),
            key("mtime_only", bool), key("builder_artefacts", int))
# One path's changes, in the order its finding lists the paths (``/app/run.sh: mode 0644 → 0755``).
_CHANGE = key("change", PathChange, separator="; ", inner=": ", numbered=True)
_PATHS_CHANGED = (key("count", int), key("fields", str, int, separator=", ", inner=" "), _CHANGE)
_ONLY_ONE_SIDE = (key("layer_index", int), key("diff_id", Digest), key("layer_size", int), key("entries", int))

# In this order: the verdict names metadata differences in the order their codes are listed.
_CODES: tuple[CodeSpec, ...] = (
    # ---- the single-image audit (audit.py) ----
    _code("layer-count-mismatch", ERROR, _AUDIT, "the manifest lists another number of layers than rootfs.diff_ids",
          key("layers", int), key("diff_ids", int), breaks_integrity=True),
    _code("layer-unreadable", ERROR, _AUDIT, "a layer blob is not a readable tar (placeholder, corrupt, truncated)",
          key("layer", int), key("member"), key("problem"), breaks_integrity=True),
    _code("layer-unverifiable", WARNING, _AUDIT, "a layer's diff_id could not be computed", key("layer", int)),
    _code("diff-id-mismatch", ERROR, _AUDIT, "a layer's recomputed diff_id differs from rootfs.diff_ids",
          key("layer", int), key("declared", Digest), key("actual", Digest), breaks_integrity=True),
    _code("layer-empty", INFO, _AUDIT, "a well-known empty layer or an entry-less tar",
          key("layer", int), key("empty_kind"), key("blob", Digest)),
    _code("layer-anomaly", WARNING, _AUDIT, "odd entries in a layer (Layer.anomalies), one finding per kind",
          key("layer", int), key("anomaly"), key("count", int), key("first")),
    _code("layer-write-through-symlink", WARNING, _AUDIT,
          "a layer entry whose parent directories run through a symlink: the runtime writes (or removes) another "
          "path than the tar names (ERROR when the chain loops: the runtime refuses the layer); one finding per "
          "entry, the rest of a layer counted in ``unlisted``",
          key("layer", int), key("entry"), key("kind"), key("written"), key("link"), key("target"), key("loops", bool),
          key("unlisted", int), also=(ERROR,)),
    _code("layer-repeated", INFO, _AUDIT, "one diff_id appears several times in an image",
          key("diff_id", Digest), key("layers", int, separator=",")),
    _code("history-absent", INFO, _AUDIT, "the config has no history"),
    _code("history-surplus", WARNING, _AUDIT, "more non-empty history steps than diff_ids (exact count)",
          key("non_empty", int), key("diff_ids", int), key("surplus", int), key("steps", int, separator=",")),
    _code("history-shortfall", WARNING, _AUDIT, "fewer non-empty history steps than diff_ids (exact count)",
          key("non_empty", int), key("diff_ids", int), key("shortfall", int), key("layers", int, separator=",")),
    _code("fs-step-marked-empty", WARNING, _AUDIT,
          "a filesystem step marked empty_layer (WARNING for COPY/ADD, INFO for RUN or squashed images)",
          key("instruction"), key("squashed"), also=(INFO,)),
    _code("history-repaired", INFO, _AUDIT, "a step BuildKit appended to pair a layer without history"),
    _code("empty-gzip-on-copy", WARNING, _AUDIT, "a COPY/ADD step carries the 32-byte empty gzip layer",
          key("blob", Digest)),
    _code("inline-cache", INFO, _AUDIT, "the config carries a BuildKit inline cache (moby.buildkit.cache.v0) consistent with its layers",
          key("records", int)),
    _code("inline-cache-undecodable", WARNING, _AUDIT, "the BuildKit inline cache is not base64 of JSON records (or over a JSON limit)",
          key("problem")),
    _code("inline-cache-poisoned", ERROR, _AUDIT,
          "the inline cache's top record claims less than the last layer (BuildKit v0.8.0/0.8.1 index shift): "
          "a --cache-from build from the image loses the steps no record claims",
          key("points_at", int), key("should", int), key("records", int), key("lost_steps", int, separator=","),
          key("lost_entries", int)),
    _code("inline-cache-poison-carried", ERROR, _AUDIT,
          "a record of the inline cache claims another step's layer: the image was built from a poisoned cache and carries it on",
          key("points_at", int, nullable=True), key("should", int, nullable=True), key("records", int)),
    _code("inline-cache-inconsistent", WARNING, _AUDIT, "the inline cache's indices break BuildKit's rules otherwise",
          key("records", int)),
    _code("squash-signature", INFO, _AUDIT, "docker build --squash, a buildah/podman single-layer build or podman --squash-all",
          key("comment"), key("kind")),
    _code("time-zero", INFO, _TIME, "steps with Go's zero time (kaniko)", key("steps", int, separator=",")),
    _code("time-epoch", INFO, _TIME, "steps with the Unix epoch as created time", key("steps", int, separator=",")),
    _code("time-unparseable", WARNING, _TIME, "a created time that is not RFC 3339"),
    _code("timestamps-shared", INFO, _TIME, "several filesystem steps share one created time",
          key("runs", int, int, separator=", ", inner="–")),
    _code("time-backwards", WARNING, _TIME, "a step created before the previous one",
          key("previous", Timestamp), key("created", Timestamp)),
    _code("image-created-mismatch", INFO, _TIME, "image created differs from the last step's created",
          key("created", Timestamp), key("last_step", Timestamp)),

    # ---- the archive audit (parse/_archive_findings.py) ----
    _code("member-duplicate", WARNING, _AUDIT, "two members with one name (the last is used)"),
    _code("member-special", WARNING, _AUDIT, "a device or FIFO member (never opened)"),
    _code("member-link-escapes", ERROR, _AUDIT,
          "a symlink/hardlink member pointing outside the archive (never followed)",
          _LINK, breaks_integrity=True),
    _code("member-link-loop", ERROR, _AUDIT, "a link member in a loop", _LINK, breaks_integrity=True),
    _code("member-link-dangling", WARNING, _AUDIT, "a link member pointing at an absent member", _LINK),
    _code("member-link-to-dir", WARNING, _AUDIT, "a link member pointing at a directory", _LINK),
    _code("member-link-forward", WARNING, _AUDIT, "a hardlink member naming a later member (not followed, as docker load cannot)",
          _LINK),
    _code("archive-anomaly", WARNING, _AUDIT,
          "odd structure of the outer tar or its compression (model.ARCHIVE_ANOMALIES), one finding per kind",
          key("anomaly"), key("count", int), key("first"), also=(ERROR,)),
    # The keys as written, joined by ","; a JSON key may hold a comma, so the text is kept whole.
    _code("json-duplicate-key", WARNING, _AUDIT, "a JSON document repeats a key", key("keys")),
    _code("blob-digest-mismatch", ERROR, _AUDIT, "a member's bytes do not hash to the digest its name claims",
          key("claimed", Digest), key("actual", Digest), breaks_integrity=True),
    _code("blob-unreferenced", INFO, _AUDIT, "a blob nothing references (says what it looks like)", key("what")),
    # The platforms as the index writes them, joined by ",": kept whole, as a platform may hold a comma.
    _code("blob-absent", ERROR, _AUDIT,
          "a referenced blob is absent (ERROR for configs, INFO for manifests of other platforms/attestations)",
          key("digest", Digest), key("absent", int), key("listed", int), key("platforms"), key("attestations", int),
          key("digests", Digest, separator=","), also=(INFO,), breaks_integrity=True),
    _code("blob-elsewhere", INFO, _AUDIT, "a blob found by content digest outside blobs/<alg>/<hex>",
          key("digest", Digest)),
    _code("image-id-mismatch", ERROR, _AUDIT, "the config bytes do not hash to the digest its name or descriptor gives",
          key("claimed", Digest), key("actual", Digest), breaks_integrity=True),
    _code("image-parent", INFO, _AUDIT, "manifest.json Parent names an image in the archive", key("parent")),
    _code("parent-absent", WARNING, _AUDIT, "manifest.json Parent names an image not in the archive", key("parent")),
    _code("layer-absent", ERROR, _AUDIT, "a layer the manifest names is not in the archive",
          key("ref"), key("layer", int), key("reason"), breaks_integrity=True),
    _code("layer-foreign", INFO, _AUDIT, "a foreign (urls) layer not included", key("ref"), key("layer", int)),
    _code("layer-sources", INFO, _AUDIT, "manifest.json LayerSources", key("count", int)),
    _code("manifest-index-mismatch", WARNING, _AUDIT, "manifest.json and index.json disagree", key("image")),
    _code("repositories-mismatch", WARNING, _AUDIT, "repositories disagrees with manifest.json"),
    _code("image-only-in-index", INFO, _AUDIT, "an image index.json reaches but manifest.json does not list",
          key("image")),
    _code("index-manifests-null", INFO, _AUDIT, "index.json manifests is null (Docker 25.0.0-25.0.2, untagged)"),
    _code("oci-layout-invalid", WARNING, _AUDIT, "oci-layout absent or odd"),
    _code("descriptor-invalid", ERROR, _AUDIT, "a descriptor or its target cannot be used", key("where"), breaks_integrity=True),
    _code("media-type-mismatch", INFO, _AUDIT, "descriptor and blob mediaType disagree",
          key("descriptor"), key("blob")),
    _code("unknown-media-type", INFO, _AUDIT, "a descriptor of an unknown kind, skipped", key("media_type")),
    _code("attestation-skipped", INFO, _AUDIT, "an attestation/reference manifest, not an image",
          key("digest", Digest), key("reference_type")),
    _code("descriptor-size-mismatch", ERROR, _AUDIT, "a descriptor's size differs from its blob",
          key("digest", Digest), key("declared", int), key("actual", int), breaks_integrity=True),
    _code("artifact-skipped", INFO, _AUDIT, "a manifest whose config is not an image config",
          key("config_type"), key("artifact_type")),
    _code("layer-media-type-mismatch", WARNING, _AUDIT,
          "a layer's mediaType names another compression (INFO for podman --uncompressed)",
          key("layer", int), key("media_type"), key("actual"), also=(INFO,)),
    _code("config-field-invalid", WARNING, _AUDIT, "an optional config field of the wrong type, read as absent",
          key("field")),
    _code("json-value-not-string", WARNING, _AUDIT,
          "a value the image spec requires to be a string is a number (or another non-string): Go's json, which "
          "docker and containerd read with, refuses the document",
          key("field"), key("found")),
    _code("platform-mismatch", WARNING, _AUDIT, "config and index descriptor platforms differ",
          key("config"), key("descriptor")),

    # ---- the diff (diff/) ----
    _code("step-wrongly-empty", ERROR, Category.LOSS,
          "a step carries a layer with content in one image and is empty_layer, has no layer, or has an empty "
          "layer in the other (WARNING when no path it wrote is lost)",
          sided("layer_size", int), sided("entries", int), sided("diff_id", Digest), sided("tar_size", int),
          sided("blob_size", int), sided("empty_layer", bool), sided("state"), key("signals", separator="; "),
          also=(WARNING,), cause=True),
    # The two codes mirror each other (diff(B, A) gives one where diff(A, B) gives the other), and so
    # do their severities: the cause decides, never the argument order.
    _code("paths-missing", ERROR, Category.LOSS,
          "paths in A's merged filesystem absent from B, grouped by the A step that wrote them: ERROR when no "
          "step removed or added them (lost: the same step wrote them in A and not in B), WARNING when a B step "
          "removed them or an A step B lacks or builds otherwise added them (cause: removed or added)",
          key("count", int), on_side("removed_in", "B", bool), key("cause"), key("absent_from"), also=(WARNING,)),
    _code("paths-added", WARNING, Category.LOSS,
          "paths in B's merged filesystem absent from A, grouped by the B step that wrote them: WARNING when an "
          "A step removed them or a B step A lacks or builds otherwise added them (cause: removed or added), "
          "ERROR when none did (lost from A)",
          key("count", int), on_side("removed_in", "A", bool), key("cause"), key("absent_from"), also=(ERROR,)),
    _code("paths-changed", WARNING, Category.CONTENT,
          "paths in both whose type, size, content, mode, uid, gid, link target, device, mtime or xattrs differ, "
          "grouped by the writing steps", *_PATHS_CHANGED),
    _code("step-only-in-a", WARNING, Category.CONTENT, "a history step only A has (B lacks it)", *_ONLY_ONE_SIDE),
    _code("step-only-in-b", WARNING, Category.CONTENT, "a history step only B has (inserted)", *_ONLY_ONE_SIDE),
    _code("layer-only-in-a", WARNING, Category.CONTENT, "a layer no history step reaches, only in A", *_ONLY_ONE_SIDE),
    _code("layer-only-in-b", WARNING, Category.CONTENT, "a layer no history step reaches, only in B", *_ONLY_ONE_SIDE),
    _code("step-changed", WARNING, Category.CONTENT, "aligned steps built from a different instruction text",
          sided("created_by"), key("paired_by")),
    _code("platform-differs", WARNING, Category.PLATFORM, "os, architecture, variant, os.version or os.features differ",
          each_side(), key("fields", separator=" "), sided("os_version")),
    # The differences the verdict names, in the order it names them.
    _code("timestamp-drift", WARNING, Category.DIVERGENCE,
          "created times of aligned steps differ: the first step where history diverges, its exact drift in ns, "
          "and every drifted step",
          sided("created", Timestamp), key("drift_ns", int), key("drift", duration_of="drift_ns"),
          key("drifted_steps", int),
          key("drifts", int, int, separator=" ", inner=":", nullable=True, step_durations=True),
          on_side("steps", "A", int, separator=" ")),
    _code("image-created-differs", WARNING, Category.TIMES, "the config created times differ",
          sided("created", Timestamp), key("drift_ns", int), key("drift", duration_of="drift_ns"),
          phrase="image created time"),
    _code("config-differs", WARNING, Category.CONFIG,
          "a run-config field differs (env, cmd, entrypoint, working_dir, user, exposed_ports, volumes, labels, "
          "stop_signal, healthcheck, shell, on_build), spellings normalised",
          # The values as canonical JSON; env and label names joined by " " as written (a name may hold a space).
          key("field"), each_side(), on_side("only_in", "A"), on_side("only_in", "B"), key("changed")),
    _code("layer-content-differs", WARNING, Category.CONTENT,
          "aligned steps whose layers have different diff_ids, with the entry-level changes inside them",
          *_ENTRIES, key("entry", PathChange, separator="; ", inner=": changed: ", numbered=True), also=(INFO,),
          phrase="file mtimes inside {n} layer(s)"),
    # mtimes are said once per pair of writing steps, here (their layers' findings leave them out).
    _code("paths-mtime-differ", INFO, Category.TIMES, "paths in both that differ only in mtime", *_PATHS_CHANGED,
          phrase="file mtimes ({n} group(s) of paths)"),
    # A tar hardlink has its target's content; which names are one file is the link structure.
    _code("paths-hardlinks-differ", INFO, Category.METADATA,
          "paths in both whose names of one file differ (a hardlink in one image, a copy or a link to another "
          "name in the other), grouped by the writing steps; content, size and mode are compared as paths-changed",
          key("count", int), key("same_content", bool), _CHANGE,
          phrase="hardlink structure ({n} group(s) of paths)"),
    _code("packages-differ", WARNING, Category.CONTENT,
          "installed packages differ (from the layers' dpkg, apk, rpm, pip and npm databases), one finding per pair "
          "of steps that brought them: installed in one image only, or another version in each; it names the cause "
          "of the paths of those packages that differ",
          key("count", int), key("change", numbered=True), cause=True),
    _code("content-shown", INFO, Category.NOTE,
          "the file `diff --show-content PATH` asked for, compared: a unified diff of its text (bounded), or why "
          "there is none (binary, too large, absent, not a regular file)",
          key("outcome"), sided("size", int), sided("content", str), key("diff")),
    _code("layer-bytes-differ", INFO, Category.METADATA, "aligned layers with different diff_ids but the same entries",
          *_ENTRIES, phrase="tar bytes of {n} layer(s) with the same entries"),
    _code("empty-layer-spelling", INFO, Category.METADATA,
          "a step empty in both images, recorded differently (empty_layer vs an empty layer)",
          each_side(), sided("diff_id", Digest),
          phrase="empty steps recorded differently (empty_layer vs an empty layer)"),
    _code("created-by-spelling", INFO, Category.METADATA,
          "aligned steps whose created_by differs only in builder spelling (one finding for all of them)",
          sided("created_by"), key("paired_by"), sided("steps", int, separator=" "), key("count", int),
          phrase="created_by in another builder's spelling"),
    # A squash (builders.squash_of) moves steps' files into one layer: the same files, layered otherwise.
    _code("steps-squashed", INFO, Category.METADATA,
          "one image is squashed: its merged steps are marked empty_layer and their files are in one step's layer, "
          "where the other image has a layer per step (the merged filesystems compare the files)",
          key("kind"), key("carrier", int), key("merged", int, separator=","), key("whole_image", bool),
          # No phrase: the verdict says "same files; B is squashed (…)" itself.
          sided("layered", int, separator=",")),
    # The classic builder names COPY/ADD sources by content hash: another hash is other source content.
    _code("copy-source-differs", INFO, Category.METADATA,
          "aligned COPY/ADD steps that are the same instruction with other source content (the classic builder's "
          "`COPY dir:<content hash> in /dest` with another hash); the content itself is compared as layers and paths",
          sided("created_by"), sided("steps", int, separator=" "), key("count", int),
          phrase="COPY/ADD source content hashes"),
    # BuildKit's and buildah's RUN leave empty mount points in the layer; the classic builder none.
    _code("builder-artefacts", INFO, Category.METADATA,
          "empty mount-point directories and files a builder's RUN leaves in its layer (BuildKit: /dev, /proc, "
          "/sys; buildah and podman: also /run, /etc and empty /etc/hostname, /etc/hosts, /etc/resolv.conf), "
          "in one image only",
          key("count", int), key("builder"), phrase="empty mount points one builder's RUN leaves"),
    _code("step-metadata-differs", INFO, Category.METADATA, "aligned steps whose history comment or author differs",
          sided("comment"), sided("author"), phrase="history comment or author"),
    _code("build-metadata-differs", INFO, Category.METADATA, "the config author or docker_version differs",
          key("field"), each_side(), phrase="author or docker_version"),
    _code("config-json-differs", INFO, Category.CONFIG_JSON,
          "the config JSON differs where no field is compared (a key only one has, null vs absent, the classic "
          "builder's container_config): why image IDs differ",
          key("count", int), key("path", str, str, inner=": ", numbered=True)),
    _code("config-json-equivalent", INFO, Category.NOTE,
          "config keys absent in one image and null, empty or a zero value (false, 0) in the other: the same to "
          "every runtime, yet other config bytes and image IDs",
          key("count", int), key("path", str, str, inner=": ", numbered=True)),
    _code("inline-cache-differs", INFO, Category.METADATA, "only one config carries BuildKit's inline cache",
          each_side(bool), phrase="BuildKit inline cache"),
    _code("inline-cache-records-differ", INFO, Category.METADATA,
          "both configs carry a BuildKit inline cache and its records differ (one finding, record by record)",
          sided("records", int), key("count", int), key("change", numbered=True),
          phrase="BuildKit inline cache records"),
    _code("layer-differs-ignored", INFO, Category.NOTE,
          "aligned layers that differ only in ignored paths or timestamps, or in the empty mount points a builder's "
          "RUN leaves",
          *_ENTRIES),
    _code("references-differ", INFO, Category.NOTE, "the images carry different names",
          # The names joined by " ", or "(none)": kept whole, as written.
          each_side()),
    _code("packaging-differs", INFO, Category.PACKAGING,
          "layout, archive compression, layer blobs or manifest differ for the same content",
          sided("layout"), sided("compression"), sided("manifest", Digest), key("layers_stored_differently", int)),
    _code("filesystem-not-compared", INFO, Category.NOTE,
          "a layer is absent or unreadable, so the merged filesystems were not compared",
          key("layers", str, int, separator=" ", inner=" layer ")),
)


def _index(specs: tuple[CodeSpec, ...]) -> Mapping[str, CodeSpec]:
    found: dict[str, CodeSpec] = {}
    for spec in specs:
        if spec.code in found:
            raise ValueError(f"finding code {spec.code!r} is registered twice")
        names = [k.name for k in spec.keys]
        if len(set(names)) != len(names):
            raise ValueError(f"finding code {spec.code!r} declares an evidence key twice")
        found[spec.code] = spec
    return MappingProxyType(found)


REGISTRY: Mapping[str, CodeSpec] = _index(_CODES)


def code_spec(code: str) -> CodeSpec:
    """The registered record of ``code``; ValueError for a code that is not registered."""
    spec = REGISTRY.get(code)
    if spec is None:
        raise ValueError(f"unregistered finding code {code[:80]!r}")
    return spec


def catalogue() -> tuple[dict[str, object], ...]:
    """Every code's record as plain values (code, severity, category, meaning, evidence keys and types)."""
    return tuple({
        "code": s.code,
        "severity": s.severity.name,
        "severities": [v.name for v in s.severities],
        "category": s.category.value,
        "meaning": s.meaning,
        "phrase": s.phrase,
        "cause": s.cause,
        "breaks_integrity": s.breaks_integrity,
        "evidence": [{"key": k.name + ("_NNN" if k.numbered else ""), "type": k.type_name, "side": k.side}
                     for k in s.keys],
    } for s in _CODES)


_JSON_FORMS: dict[type, str] = {bool: "boolean", int: "integer", str: "string", Digest: "digest string (alg:hex)",
                                Timestamp: "timestamp {raw, ns}",
                                PathChange: "path change {path, field, a, b} (mode: a_octal, b_octal; "
                                            "mtime: a_time, b_time; report_schema.json $defs.path_change)"}


def json_form(k: Key) -> str:
    """How the JSON report (format 2) writes the key's value: ``integer``, ``array of [integer, integer]``, …"""
    if k.duration_of:
        return f"not written: derived from {k.duration_of}"
    forms = [_JSON_FORMS[t] + (" or null" if k.nullable else "") for t in k.parts]
    item = forms[0] if len(forms) == 1 else f"[{', '.join(forms)}]"
    return item if k.separator is None else f"array of {item}"


def catalogue_document() -> str:
    """``imageforensics/findings.json``: every code, its severity, category, meaning and evidence keys, as JSON text."""
    codes = []
    for record, spec in zip(catalogue(), _CODES):
        evidence = record["evidence"]
        assert isinstance(evidence, list)
        for item, k in zip(evidence, spec.keys):
            item["json"] = json_form(k)
        codes.append(record)
    document = {
        "format": "imageforensics-findings",
        "description": "Every finding code the tool emits (stable, never renamed), with its usual severity "
                       "and the others it may take, the category the verdict decides by, its meaning, and the "
                       "evidence keys it carries: the type in Python's spelling, how the JSON report (format 2) "
                       "writes the value (integers beyond 2^53 as decimal text), and whose fact it is (A, B, or "
                       "the pair: \"\"). A key ending in _NNN is a numbered family (_001, _002, ...).",
        "codes": codes,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
