"""``imageforensics inspect``: one archive as text (its images, their history and audit) or its whole model as JSON.

Pure: model values in, a string out. The audit is not in the model, and
renderers import only values: the caller passes the function that gives each
image's findings (``audit.image_findings``). Every string from the archive
(names, tags, created_by, comments) goes through ``untrusted.escape`` first,
and our own sentences (finding summaries, notes) through
``untrusted.show_prose``: control and bidi characters are shown escaped,
never emitted.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from imageforensics.report._packages import package_lines
from imageforensics.created_by import display_created_by
from imageforensics.evidence_json import evidence_json, json_int
from imageforensics.findings import Finding, sort_findings
from imageforensics.model import LAYOUTS, Archive, FileEntry, HistoryStep, Image
from imageforensics.model_json import archive_to_json, entry_for_readers, finding_json, readers_path
from imageforensics.report._escape import display_width, shorten, wrap
from imageforensics.units import human_size
from imageforensics.untrusted import escape, show_prose

_LABEL = 12


# What the caller passes to give each image's findings (the CLI: audit.image_findings).
ImageFindings = Callable[[Image], tuple[Finding, ...]]


def render_inspect_text(archive: Archive, image: Image | None, *, image_findings: ImageFindings, width: int = 80) -> str:
    """The archive header, the image's identity, one row per history step, then its ``image_findings``."""
    return render_inspect_all(archive, (image,) if image is not None else (), image_findings=image_findings, width=width)


def render_inspect_all(archive: Archive, images: tuple[Image, ...] | None = None, *, image_findings: ImageFindings,
                       width: int = 80) -> str:
    """The archive header once, then each image (all by default) with its ``image_findings``, then the archive's own findings once."""
    width = max(width, 40)
    chosen = archive.images if images is None else images
    lines = _archive_header(archive)
    if not chosen:
        lines.append(_field("image", "none (this input holds no image; see the findings)"))
    for n, image in enumerate(chosen):
        if n:
            lines.append("")
        if len(archive.images) > 1 and image in archive.images:
            lines.append(_field("image", f"@{archive.images.index(image)} of {len(archive.images)} in this archive"))
        lines.extend(_image_header(image))
        lines.append("")
        lines.extend(_history_table(image, width))
        lines.extend(_unmatched_layers(image))
        packages = package_lines(image)
        if packages:
            lines.extend(["", *packages])
        lines.append("")
        lines.extend(_findings("findings", image_findings(image), width))
    lines.extend(_findings("archive findings", archive.findings, width) if archive.findings else [])
    for note in archive.notes:
        lines.append(f"note: {show_prose(note)}")
    return "\n".join(lines).rstrip("\n") + "\n"


# The inspect JSON document's name and version. Version 1 (no "format" member,
# the archive's fields at the top) wrote a finding's evidence as [name, text]
# pairs; version 2 writes it as the diff's JSON report does (evidence_json).
INSPECT_FORMAT_NAME = "imageforensics-inspect"
INSPECT_FORMAT_VERSION = 2


def render_inspect_json(archive: Archive, images: tuple[Image, ...] | None = None, *,
                        image_findings: ImageFindings) -> str:
    """The model of the input as JSON (``stream_inspect_json`` joined)."""
    return "".join(stream_inspect_json(archive, images, image_findings=image_findings))


def stream_inspect_text(archive: Archive, images: tuple[Image, ...] | None = None, *,
                        image_findings: ImageFindings) -> Iterator[str]:
    """``render_inspect_all`` as one piece (it shows no entries: nothing to gain by pieces)."""
    yield render_inspect_all(archive, images, image_findings=image_findings)


def stream_inspect_json(archive: Archive, images: tuple[Image, ...] | None = None, *,
                        image_findings: ImageFindings) -> Iterator[str]:
    """The model of the input as JSON (the whole archive, or only ``images`` of it), each image with its
    ``image_findings``, in pieces: the layers' entries a few hundred at a time, never all of them at once.

    Made for jq as the diff report is: ``format_version`` 2, a finding's
    evidence an object of typed values (the diff JSON's own encoder,
    ``evidence_json``), a file entry's path spelled as the diff spells it
    (``/etc/nginx``), its mode also as octal text (``"mode_octal": "0755"``),
    and an integer beyond 2^53 (epoch nanoseconds) as decimal text. The pieces
    joined are ``json.dumps`` of the whole document with two-space indents,
    sorted keys and ASCII only.
    """
    shown = archive if images is None else replace(archive, images=images)
    # The model's JSON of everything but the entries (each layer stood in for
    # by an entry-less copy), whose lists are then written entry by entry.
    bare = replace(shown, images=tuple(replace(image, layers=tuple(
        None if layer is None else replace(layer, entries=()) for layer in image.layers)) for image in shown.images))
    doc = _for_readers(archive_to_json(bare, image_findings=_no_findings))
    doc["findings"] = [_finding_json(f) for f in shown.findings]
    for image_doc, image in zip(doc["images"], shown.images):
        image_doc["findings"] = [_finding_json(f) for f in image_findings(image)]
        for layer_doc, layer in zip(image_doc["layers"], image.layers):
            if layer is not None and layer.entries:
                layer_doc["entries"] = _Entries(layer.entries)
    doc["format"] = INSPECT_FORMAT_NAME
    doc["format_version"] = INSPECT_FORMAT_VERSION
    yield from _pieces(doc, 0)
    yield "\n"


def _no_findings(image: Image) -> tuple[Finding, ...]:
    return ()


def _finding_json(f: Finding) -> dict[str, Any]:
    """A finding as the model writes it, its evidence as the diff's JSON report writes it."""
    return {**_for_readers({**finding_json(f), "evidence": None}), "evidence": evidence_json(f.code, f.evidence)}


class _Entries:
    """A layer's entries in the document, written in pieces where the list would stand."""

    __slots__ = ("entries",)

    def __init__(self, entries: tuple[FileEntry, ...]) -> None:
        self.entries = entries


_INDENT = "  "
_ENTRIES_PER_PIECE = 256
_encode_str = json.encoder.encode_basestring_ascii


def _dumps(value: Any, level: int) -> str:
    """``value`` as ``json.dumps`` writes it at ``level`` inside the document."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=True)
    return text.replace("\n", "\n" + _INDENT * level) if level and "\n" in text else text


def _holds_entries(value: Any) -> bool:
    if isinstance(value, _Entries):
        return True
    if isinstance(value, dict):
        return any(_holds_entries(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_entries(v) for v in value)
    return False


def _pieces(value: Any, level: int) -> Iterator[str]:
    """``value`` as ``_dumps`` writes it, in pieces, each ``_Entries`` written as the list of its entries."""
    if not _holds_entries(value):
        yield _dumps(value, level)
        return
    inner = "\n" + _INDENT * (level + 1)
    first = True
    if isinstance(value, _Entries):
        # Entries go out a few hundred at a time: each piece passes up through every enclosing generator.
        batch: list[str] = []
        for text in _entries_text(value.entries, level + 1):
            batch.append(text)
            if len(batch) == _ENTRIES_PER_PIECE:
                yield ("[" + inner if first else "," + inner) + ("," + inner).join(batch)
                batch.clear()
                first = False
        if batch:
            yield ("[" + inner if first else "," + inner) + ("," + inner).join(batch)
        elif first:
            yield "[]"
            return
        yield "\n" + _INDENT * level + "]"
    elif isinstance(value, dict):
        yield "{"
        for n, key in enumerate(sorted(value)):
            yield ("," if n else "") + inner + _encode_str(key) + ": "
            yield from _pieces(value[key], level + 1)
        yield "\n" + _INDENT * level + "}"
    else:
        yield "["
        for n, item in enumerate(value):
            yield "," + inner if n else inner
            yield from _pieces(item, level + 1)
        yield "\n" + _INDENT * level + "]"


def _entries_text(entries: tuple[FileEntry, ...], level: int) -> Iterator[str]:
    """Each entry as ``_dumps`` writes it at ``level`` once ``_for_readers`` has spelled it.

    A flat entry (every value a string or an integer, as all but those with
    xattrs are) is written member by member here, as ``indent=2`` lays it out
    (``json.dumps`` with an indent runs the pure-Python encoder, several times
    slower); any other goes through ``_dumps``.
    """
    inner = "\n" + _INDENT * (level + 1)
    between = "," + inner
    close = "\n" + _INDENT * level + "}"
    # Each member name's text, made once for the listing (entries share a dozen names).
    names: dict[str, str] = {}
    for e in entries:
        entry = entry_for_readers(e)
        members = []
        for key in sorted(entry):
            value = entry[key]
            kind = type(value)
            if kind is str:
                text = _encode_str(value)
            elif kind is int:
                text = int.__repr__(value)
            else:
                break
            name = names.get(key)
            if name is None:
                name = names[key] = _encode_str(key) + ": "
            members.append(name + text)
        else:
            yield "{" + inner + between.join(members) + close
            continue
        yield _dumps(entry, level)


def _for_readers(doc: Any) -> Any:
    """The model's JSON with big integers as text and entries' paths and modes as the diff shows them."""
    if isinstance(doc, list):
        return [_for_readers(v) for v in doc]
    if isinstance(doc, dict):
        out = {k: _for_readers(v) for k, v in doc.items()}
        entries = out.get("entries")
        if isinstance(entries, list):
            out["entries"] = [_entry_for_readers(e) for e in entries]
        return out
    if type(doc) is int:
        return json_int(doc)
    return doc


def _entry_for_readers(entry: Any) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return entry
    out = {**entry, "path": readers_path(entry["path"])}
    mode = entry.get("mode", 0)
    if type(mode) is int:
        out["mode_octal"] = f"{mode:04o}"
    return out


def _field(label: str, value: str) -> str:
    return f"{label:<{_LABEL}}{value}"


def _archive_header(archive: Archive) -> list[str]:
    layout = LAYOUTS.get(archive.layout, archive.layout)
    packed = f", {archive.compression}-compressed" if archive.compression not in ("", "none") else ""
    lines = [
        _field("input", escape(archive.source)),
        _field("format", f"{layout} [{archive.layout}]{packed}"),
    ]
    # The archive's own sha256 is taken only with --archive-digest; its size is always known.
    digest = f", {archive.sha256}" if archive.sha256 is not None else ""
    lines.append(_field("archive", human_size(archive.size) + digest))
    return lines


def _image_header(image: Image) -> list[str]:
    refs = ", ".join(escape(r) for r in image.references) or "(none)"
    lines = [
        _field("references", refs),
        _field("image ID", str(image.image_id)),
    ]
    if image.manifest_digest is not None:
        lines.append(_field("manifest", str(image.manifest_digest)))
    platform = escape(str(image.platform))
    if image.platform.os_version:
        platform += f" (os.version {escape(image.platform.os_version)})"
    lines.append(_field("platform", platform))
    lines.append(_field("created", escape(image.created.raw) if image.created else "(absent)"))
    if image.author:
        lines.append(_field("author", escape(image.author)))
    if image.docker_version:
        lines.append(_field("docker", escape(image.docker_version)))
    present = sum(1 for layer in image.layers if layer is not None)
    absent = f" ({len(image.layers) - present} absent)" if present != len(image.layers) else ""
    total = sum(layer.size for layer in image.layers if layer is not None)
    lines.append(_field("layers", f"{len(image.layers)}{absent}, {human_size(total)} stored; {len(image.diff_ids)} diff_ids; {len(image.history)} history steps"))
    return lines


def _layer_cell(image: Image, step: HistoryStep) -> str:
    if step.layer_index is None:
        return "-" if step.empty_layer else "(no layer)"
    i = step.layer_index
    declared = image.diff_ids[i].short if i < len(image.diff_ids) else "?"
    layer = image.layers[i] if i < len(image.layers) else None
    if layer is None:
        return f"L{i} {declared} absent"
    if not layer.readable:
        return f"L{i} {declared} {human_size(layer.size)} unreadable"
    return f"L{i} {declared} {human_size(layer.size)} {layer.entry_count} ent"


def _history_table(image: Image, width: int) -> list[str]:
    if not image.history:
        return ["history     (none: the config has no history)"]
    created = [escape(s.created.raw) if s.created else "-" for s in image.history]
    layers = [_layer_cell(image, s) for s in image.history]
    index_w = max(4, len(str(len(image.history) - 1)))
    created_w = max(len("CREATED"), *(display_width(c) for c in created))
    layer_w = max(len("LAYER"), *(len(c) for c in layers))
    used = index_w + 2 + created_w + 2 + 5 + 2 + layer_w + 2
    # When created_by would get too little room, it goes on a line of its own.
    own_line = width - used < 30
    by_w = width - index_w - 2 if own_line else width - used
    header = (f"{'STEP':>{index_w}}  {'CREATED':<{created_w}}  EMPTY  {'LAYER':<{layer_w}}" + ("" if own_line else "  CREATED_BY")).rstrip()
    lines = [header]
    for step, when, layer in zip(image.history, created, layers):
        by = shorten(escape(display_created_by(step.created_by)), by_w)
        pad = created_w - display_width(when)
        empty = "yes" if step.empty_layer else "no"
        row = f"{step.index:>{index_w}}  {when}{' ' * pad}  {empty:<5}  {layer:<{layer_w}}"
        if own_line:
            lines.append(row.rstrip())
            lines.append(f"{'':>{index_w}}  {by}".rstrip())
        else:
            lines.append(f"{row}  {by}".rstrip())
    return lines


def _unmatched_layers(image: Image) -> list[str]:
    matched = {s.layer_index for s in image.history if s.layer_index is not None}
    if not image.history:
        matched = set()
    lines = []
    for i, layer in enumerate(image.layers):
        if i in matched:
            continue
        declared = image.diff_ids[i].short if i < len(image.diff_ids) else "?"
        if layer is None:
            what = "absent"
        else:
            what = f"{human_size(layer.size)} {layer.entry_count} ent" + ("" if layer.readable else " unreadable")
        lines.append(f"  layer L{i} {declared} {what}: no history step")
    return lines


def _findings(title: str, findings: tuple[Finding, ...], width: int) -> list[str]:
    if not findings:
        return [f"{title}: none"]
    lines = [f"{title} ({len(findings)}):"]
    for f in sort_findings(findings):
        head = f"  {f.severity.label:<8} {escape(f.code)}  "
        body = wrap(show_prose(f.summary), max(20, width - len(head)))
        lines.append(head + body[0])
        lines.extend(" " * len(head) + more for more in body[1:])
    return lines
