"""Looking inside one image without extracting it: its entries, one path's history, where a file's bytes lie.

``ls`` lists the entries of one layer (in tar order, whiteouts and opaque
markers as they are) or of the merged filesystem (sorted by path, each
attributed to the layer that last wrote it). ``stat`` follows one path through
the layers: every layer that wrote it, changed it, removed it (a whiteout of
it or of a parent, a parent replaced by a non-directory), hid it (an opaque
parent) or linked it (a hardlink to or from it). ``cat`` needs to know which
layer holds a file's bytes and under which name: ``locate_file``.

The merged filesystem comes from ``merged_view``, the one place this module
builds it (``_merged_fs.merge_layers``), so a change to how it is merged
reaches ``ls``, ``stat`` and ``cat`` alike. Pure: nothing here reads bytes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from imageforensics.diff._merged_fs import MergedFilesystem, merge_layers, path_matcher
from imageforensics.errors import SelectionError
from imageforensics.model import FileEntry, HistoryStep, Image, Layer
from imageforensics.options import Limits
from imageforensics.rootfs import Resolved
from imageforensics.untrusted import show


@dataclass(frozen=True, slots=True)
class Listed:
    """One line of a listing: an entry, the layer (and its step) that wrote it, and for a resolved
    hardlink of the merged filesystem the layer whose file it names."""

    entry: FileEntry
    layer: int
    step: HistoryStep | None
    content_layer: int


def merged_view(image: Image, limits: Limits = Limits()) -> MergedFilesystem:
    """The merged filesystem of an image's layers (absent layers are skipped; see ``layer_entries``)."""
    return merge_layers(layer_entries(image), limits)


def layer_entries(image: Image) -> list[tuple[FileEntry, ...]]:
    """Each layer's entries in manifest order; an absent layer (its blob is not in the archive) holds none."""
    return [layer.entries if layer is not None else () for layer in image.layers]


def step_of_layer(image: Image, layer_index: int) -> HistoryStep | None:
    """The history step matched to a layer, or None (a layer no step claims)."""
    for step in image.history:
        if step.layer_index == layer_index:
            return step
    return None


def layer_of_step(image: Image, step_index: int) -> int:
    """The layer a history step wrote; SelectionError naming the choices when it wrote none."""
    steps = image.history
    if not 0 <= step_index < len(steps):
        raise SelectionError(f"--step {step_index}: the image has {len(steps)} history steps (0 to {len(steps) - 1})")
    step = steps[step_index]
    if step.layer_index is None or step.layer_index >= len(image.layers):
        with_layers = [str(s.index) for s in steps if s.layer_index is not None]
        raise SelectionError(f"--step {step_index} wrote no layer (empty_layer); steps with a layer: "
                             f"{', '.join(with_layers) or 'none'}")
    return step.layer_index


def check_layer(image: Image, layer_index: int) -> Layer:
    """The layer at ``layer_index``; SelectionError when there is none or its blob is absent."""
    count = len(image.layers)
    if not 0 <= layer_index < count:
        raise SelectionError(f"--layer {layer_index}: the image has {count} layers (0 to {count - 1})")
    layer = image.layers[layer_index]
    if layer is None:
        raise SelectionError(f"--layer {layer_index}: the archive does not hold this layer's blob")
    return layer


def matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Paths a listing shows: all, or those matching a glob (``*`` crosses ``/``) and everything below them."""
    matches = path_matcher(patterns)
    return matches if matches is not None else (lambda path: True)


def list_layer(image: Image, layer_index: int, wanted: Callable[[str], bool]) -> Iterator[Listed]:
    """One layer's entries in tar order, as stored (hardlinks as links, whiteouts and opaque markers)."""
    layer = check_layer(image, layer_index)
    step = step_of_layer(image, layer_index)
    for entry in layer.entries:
        if wanted(entry.path):
            yield Listed(entry, layer_index, step, layer_index)


def list_merged(image: Image, wanted: Callable[[str], bool], limits: Limits = Limits(),
                fs: MergedFilesystem | None = None) -> Iterator[Listed]:
    """The merged filesystem sorted by path, each entry with the layer that last wrote it."""
    fs = merged_view(image, limits) if fs is None else fs
    steps = {s.layer_index: s for s in image.history if s.layer_index is not None}
    entries, writer, content_from = fs.entries, fs.writer, fs.content_from
    for path in sorted(entries):
        if wanted(path):
            layer = writer[path]
            yield Listed(entries[path], layer, steps.get(layer), content_from.get(path, layer))


# --- stat: one path through the layers ----------------------------------------------------------

# What a layer did to the path, in the order the runtime applies a layer.
EVENTS = {
    "hidden": "an opaque directory above it hid the lower layers' copy",
    "removed": "a whiteout of it (or of a directory above it) removed it",
    "replaced": "a directory above it was replaced by a non-directory, which removed it",
    "wrote": "the layer wrote it",
    "changed": "the layer wrote it again over the copy below",
    "linked": "the layer wrote it as a hardlink to another name",
    "linked-to": "the layer wrote another name as a hardlink to it",
}


@dataclass(frozen=True, slots=True)
class PathEvent:
    """What one layer did to a path: ``action`` (a key of EVENTS), the entry concerned, and who did it.

    ``entry`` is the layer's entry at the path for wrote/changed/linked
    (its ``linkname`` naming the link target), the other name's hardlink
    entry for linked-to, and the whiteout, opaque marker or replacing entry
    (with its own path) for the removals.
    """

    layer: int
    step: HistoryStep | None
    action: str
    entry: FileEntry


@dataclass(frozen=True, slots=True)
class PathHistory:
    """A path's history through the layers and its state in the merged filesystem.

    ``merged`` is its entry there (a hardlink resolved to its file), or None;
    ``writer`` the layer that last wrote it; ``content_layer`` the layer
    whose file it names; ``names`` every name of its file (hardlinks),
    itself included; ``removed_by`` the layer that removed it when it is
    gone. ``leads_to`` is where the runtime's resolution of the path (its
    symlinks followed inside the root, ``MergedFilesystem.resolve``) ends
    when that is elsewhere, or None.
    """

    path: str
    events: tuple[PathEvent, ...]
    merged: FileEntry | None
    writer: int | None
    content_layer: int | None
    names: tuple[str, ...]
    removed_by: int | None
    leads_to: Resolved | None = None


def normalise_path(text: str) -> str:
    """A path as the model keys it: no leading ``/``, no ``.`` or ``..`` parts, no trailing ``/``."""
    cleaned = posixpath.normpath("/" + text.lstrip("/")).lstrip("/")
    return "" if cleaned == "." else cleaned


def _under(path: str, top: str) -> bool:
    return not top or path.startswith(top + "/")


def path_history(image: Image, path: str, limits: Limits = Limits(), fs: MergedFilesystem | None = None) -> PathHistory:
    """Every layer's doing to ``path`` (a model path: ``normalise_path``) and its state after the last."""
    steps = {s.layer_index: s for s in image.history if s.layer_index is not None}
    events: list[PathEvent] = []
    present = False
    for index, entries in enumerate(layer_entries(image)):
        step = steps.get(index)
        own: list[PathEvent] = []
        gone: PathEvent | None = None
        for e in entries:
            kind = e.kind
            if kind == "opaque":
                if present and _under(path, e.path) and gone is None:
                    gone = PathEvent(index, step, "hidden", e)
            elif kind == "whiteout":
                if present and (e.path == path or _under(path, e.path)) and gone is None:
                    gone = PathEvent(index, step, "removed", e)
            elif e.path == path:
                action = "linked" if kind == "hardlink" else "changed" if present or own else "wrote"
                own.append(PathEvent(index, step, action, e))
            elif kind == "hardlink" and e.linkname == path:
                own.append(PathEvent(index, step, "linked-to", e))
            elif kind != "dir" and path.startswith(e.path + "/") and (present or own):
                own.append(PathEvent(index, step, "replaced", e))
        if gone is not None:
            events.append(gone)
            present = False
        for event in own:
            events.append(event)
            if event.action in ("wrote", "changed", "linked"):
                present = True
            elif event.action == "replaced":
                present = False
    fs = merged_view(image, limits) if fs is None else fs
    merged = fs.entries.get(path)
    names: tuple[str, ...] = ()
    writer = content_layer = removed = None
    if merged is not None:
        writer = fs.writer[path]
        content_layer = fs.content_from.get(path, writer)
        group = fs.hardlink_groups().get(path)
        names = tuple(sorted(group)) if group else (path,)
    else:
        removed = fs.removed_by.get(path)
    where = fs.resolve(path, whole=True)
    return PathHistory(path=path, events=tuple(events), merged=merged, writer=writer,
                       content_layer=content_layer, names=names, removed_by=removed,
                       leads_to=where if where.link else None)


# --- cat: where a regular file's bytes lie --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileLocation:
    """Where one regular file of the merged filesystem is stored: the layer, and which entry of it.

    ``member_path`` is the entry's path in that layer and ``occurrence``
    which of the layer's entries at that path it is (0 for the first; a
    layer may list a path twice). ``entry`` is the file as the merged
    filesystem holds it; ``link`` the first symlink followed on the way ("" if none).
    """

    path: str
    layer: int
    member_path: str
    occurrence: int
    entry: FileEntry
    link: str


class NotAFile(SelectionError):
    """The path names nothing ``cat`` can show (absent, a dangling or looping symlink, a directory…)."""


def locate_file(image: Image, path: str, limits: Limits = Limits(), fs: MergedFilesystem | None = None) -> FileLocation:
    """Which layer holds the bytes of the regular file at ``path`` (a model path), following symlinks
    as the runtime does inside the image's root (``MergedFilesystem.resolve``: an absolute target starts
    again at the root, ``..`` stops at it) and hardlinks to the file they name; NotAFile with the reason
    otherwise: nothing there (a dangling symlink), symlinks that never end, not a regular file."""
    fs = merged_view(image, limits) if fs is None else fs
    where = fs.resolve(path, whole=True)
    shown = "/" + show(path)
    through = f"/{show(where.link)} -> {show(where.target)}"
    if where.loops:
        raise NotAFile(f"{shown}: its symlinks never end ({through}: a loop, or more than "
                       f"{limits.max_symlink_hops} to follow)")
    resolved = where.path
    entry = fs.entries.get(resolved)
    if entry is None:
        removed = fs.removed_by.get(resolved)
        if not resolved:
            raise NotAFile(f"{shown}: a directory (the image's root, via {through})")
        if where.link:
            raise NotAFile(f"{shown}: a symlink to /{show(resolved)} ({through}), which is not in the image")
        if removed is not None:
            raise NotAFile(f"{shown}: not in the merged filesystem (layer {removed} removed it)")
        raise NotAFile(f"{shown}: not in the merged filesystem")
    if entry.kind != "file":
        what = {"dir": "a directory", "hardlink": "a hardlink to a path the image does not hold"}.get(
            entry.kind, f"a {entry.kind}, not a regular file")
        raise NotAFile(f"{shown}: {what}")
    layer_index = fs.content_from.get(resolved, fs.writer[resolved])
    layer = image.layers[layer_index]
    assert layer is not None  # the merged filesystem holds entries of present layers only
    member_path, occurrence = _stored_as(layer.entries, resolved, entry)
    return FileLocation(path=resolved, layer=layer_index, member_path=member_path, occurrence=occurrence,
                        entry=entry, link=where.link)


def _stored_as(entries: Sequence[FileEntry], path: str, file: FileEntry) -> tuple[str, int]:
    """The (path, occurrence) of the layer's regular-file entry holding ``file``'s bytes.

    The path's own last entry when it is a regular file; otherwise (a
    hardlink, resolved to the file another name holds) the last regular file
    of the layer with the same content digest, size and attributes.
    """
    last_at: dict[str, int] = {}
    best: tuple[str, int] | None = None
    own: tuple[str, int] | None = None
    for e in entries:
        n = last_at[e.path] = last_at.get(e.path, -1) + 1
        if e.kind != "file":
            if e.path == path:
                own = None
            continue
        if e.path == path:
            own = (e.path, n)
        elif (e.content_digest, e.size, e.mode, e.uid, e.gid, e.mtime_ns) == (
                file.content_digest, file.size, file.mode, file.uid, file.gid, file.mtime_ns):
            best = (e.path, n)
    if own is not None:
        return own
    if best is None:
        raise NotAFile(f"/{show(path)}: its file's entry cannot be found in its layer (the content digests were not taken)")
    return best
