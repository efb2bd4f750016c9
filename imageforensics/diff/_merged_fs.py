"""The merged filesystem of an image, with every path attributed to its layer.

Layers apply in order (index 0 = base). Within one layer (OCI image-spec
layer.md; moby go-archive ``whiteouts.go``): opaque directories first
(``.wh..wh..opq`` in D hides all lower-layer children of D, "whatever its
position"), then whiteouts (``.wh.NAME`` removes NAME and its subtree "from
lower layers only"), then the layer's own entries. An entry over an existing
path replaces only the attributes when both are directories; anything else
replaces the whole subtree (moby ``createTarFile``: ``RemoveAll`` unless dir
over dir). Duplicate paths in one layer: the last wins.

A hardlink entry names a path written earlier in its own layer or present
below; the runtime applies it as ``link(2)`` to that path as it stands then
(moby ``createTarFile``: ``os.Link(targetPath, path)``), so both names are
one file. The merged view stores the link under its own name with the
content, size, digest and attributes of the entry it names (the shared
inode), and ``inode`` says which names are one file. One lookup, never a
chain: a resolved entry is never itself a hardlink. A link whose target is
absent (or a directory) stays a ``hardlink`` entry. A later layer that
rewrites one name gives that name a new file; the other keeps the old one.

Each entry is attributed to the path the runtime writes: its parent chain
resolved through the symlinks of the filesystem as it stands then, inside
the root (``imageforensics.rootfs``: ``e -> /etc`` then ``e/passwd`` writes
``etc/passwd``; whiteouts and hardlink targets alike). ``written_as`` keeps
the name the tar gave such an entry, and ``resolve`` resolves any path in the
final filesystem the same way.

Everything is a dict keyed by path, with a tree of names (one node per name,
never a key per ancestor path) so that a whiteout costs the size of the
subtree it removes, not of the filesystem, and any depth costs its length.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import cast

from imageforensics.model import FileEntry
from imageforensics.options import Limits
from imageforensics.path_change import PathChange, content_value
from imageforensics.rootfs import Resolved, RootLinks

# Fields compared between two entries, in report order.
ENTRY_FIELDS = ("kind", "size", "content_digest", "mode", "uid", "gid", "linkname",
                "device", "mtime", "xattrs", "hardlinks")


@dataclass(frozen=True, slots=True, eq=False)
class MergedFilesystem:
    """The result of applying layers in order (a computed view, not a model value).

    ``entries`` maps each path to its entry; ``writer`` to the index of the
    layer that last wrote it; ``removed_by`` maps paths that some layer removed
    (and none wrote again) to the index of that layer. ``inode`` numbers each
    file that a hardlink made a second name of: names with one number are
    hardlinks of one file; a path without a number is a file of its own (a
    number for every file would cost a map entry and an integer per path of
    the image, for the few that share one). ``content_from`` maps a hardlink resolved to a lower layer's
    entry to that layer's index (its content is that layer's, not its writer's).
    ``written_as`` maps each path an entry was written to through a symlink to
    the entry's name in its tar (``etc/passwd`` → ``e/passwd``); ``links``
    holds the symlinks of the final filesystem (see ``resolve``).
    """

    entries: dict[str, FileEntry]
    writer: dict[str, int]
    removed_by: dict[str, int]
    inode: dict[str, int]
    content_from: dict[str, int]
    written_as: dict[str, str] = field(default_factory=dict)
    links: RootLinks = field(default_factory=RootLinks)
    # The inode numbers a hardlink ever shared (a superset of those shared at the end):
    # without any, no path shares its file, and hardlink_groups need not walk every path.
    linked: frozenset[int] = frozenset()

    def __len__(self) -> int:
        return len(self.entries)

    def resolve(self, path: str, *, whole: bool = True) -> Resolved:
        """Where ``path`` leads in this filesystem, as the runtime resolves it inside the root.

        ``whole`` follows a symlink at the last name too (``stat``, ``cat``);
        without it only the parent chain is resolved (``lstat``).
        """
        return self.links.resolve(path, whole=whole)

    def hardlink_groups(self) -> dict[str, frozenset[str]]:
        """Each path that shares its file with other names, mapped to all the names of that file."""
        by_inode: dict[int, list[str]] = {}
        entries, linked = self.entries, self.linked
        if not linked:
            return {}
        for path, number in self.inode.items():
            if number in linked and path in entries:
                by_inode.setdefault(number, []).append(path)
        out: dict[str, frozenset[str]] = {}
        for names in by_inode.values():
            if len(names) > 1:
                group = frozenset(names)
                for name in names:
                    out[name] = group
        return out


# A directory of the merged tree: each name below it mapped to that name's own node (None: nothing below it yet).
_Node = dict[str, "_Node | None"]


def merge_layers(layers: Sequence[Iterable[FileEntry]], limits: Limits = Limits()) -> MergedFilesystem:
    """Apply each layer's entries in order and return the merged filesystem."""
    entries: dict[str, FileEntry] = {}
    writer: dict[str, int] = {}
    removed_by: dict[str, int] = {}
    inode: dict[str, int] = {}
    content_from: dict[str, int] = {}
    written_as: dict[str, str] = {}
    links = RootLinks(limits)
    numbers = itertools.count()
    linked: set[int] = set()
    # The tree of names, one node per name (never a key per ancestor path: a
    # hostile 32,000-level name costs its length, not its length squared), so
    # that a whiteout costs the size of the subtree it removes. Entries come
    # by directory: the node of the last parent is kept until a removal.
    tree: _Node = {}
    memo: list[object] = ["", tree]

    def node_of(path: str, create: bool) -> _Node | None:
        if memo[0] == path:
            return cast(_Node, memo[1])
        node = tree
        if path:
            for name in path.split("/"):
                nxt = node.get(name)
                if nxt is None:
                    if not create:
                        return None
                    nxt = node[name] = {}
                node = nxt
        memo[0], memo[1] = path, node
        return node

    def drop(p: str, layer: int) -> None:
        if entries.pop(p, None) is not None:
            del writer[p]
            removed_by[p] = layer
            written_as.pop(p, None)

    def remove_below(path: str, layer: int) -> None:
        node = node_of(path, create=False)
        if not node:
            return
        memo[0], memo[1] = "", tree
        links.remove_below(path)
        # Iterative walk: hostile depth must not hit the recursion limit.
        prefix = path + "/" if path else ""
        stack = [(prefix + name, kid) for name, kid in node.items()]
        node.clear()
        while stack:
            p, kid = stack.pop()
            if kid:
                stack.extend((f"{p}/{name}", grandkid) for name, grandkid in kid.items())
            drop(p, layer)

    def remove(path: str, layer: int) -> None:
        if not path:
            remove_below(path, layer)
            return
        remove_below(path, layer)
        links.remove(path)
        drop(path, layer)
        memo[0], memo[1] = "", tree
        parent, _, name = path.rpartition("/")
        siblings = node_of(parent, create=False)
        if siblings is not None:
            siblings.pop(name, None)

    for index, layer_entries in enumerate(layers):
        own: list[FileEntry] = []
        whiteouts: list[FileEntry] = []
        tar_names: dict[str, str] = {}
        for e in layer_entries:
            kind = e.kind
            if kind == "opaque":
                real, _ = links.place(e, index)
                if real is not None:
                    remove_below(real.path, index)
            elif kind == "whiteout":
                whiteouts.append(e)
            else:
                own.append(e)
        for e in whiteouts:
            real, _ = links.place(e, index)
            if real is not None:
                remove(real.path, index)
        for e in own:
            if links:
                real, redirect = links.place(e, index)
                if real is None:
                    continue  # the chain loops: the runtime refuses the entry
                if redirect is not None:
                    tar_names[real.path] = e.path
                e = real
            path = e.path
            old = entries.get(path)
            parent, _, name = path.rpartition("/")
            # Entries come by directory: the node of the last parent, without a call (node_of's own memo).
            siblings = cast(_Node, memo[1]) if memo[0] == parent else node_of(parent, create=True)
            assert siblings is not None
            here = siblings.get(name)
            if old is None:
                if removed_by:
                    removed_by.pop(path, None)
                # A directory never listed as an entry still exists once a
                # layer wrote below it; a non-directory replaces its subtree.
                if here and e.kind != "dir":
                    remove_below(path, index)
                    siblings = node_of(parent, create=True)
                    assert siblings is not None
            elif not (old.kind == "dir" and e.kind == "dir"):
                remove_below(path, index)
                siblings = node_of(parent, create=True)
                assert siblings is not None
            if name not in siblings:
                siblings[name] = None
            if e.kind == "symlink":
                links.write(path, "symlink", e.linkname)
            elif old is not None and old.kind == "symlink":
                links.remove(path)
            if content_from:
                content_from.pop(path, None)
            if e.kind == "hardlink":
                # Resolved now, as link(2) is when the layer is applied: the
                # target as it stands after this layer's earlier entries.
                target = entries.get(e.linkname)
                if target is not None and target.kind != "dir" and e.linkname != path:
                    e = replace(target, path=path)
                    # The target's file gets its number when a second name first shares it.
                    number = inode.get(target.path)
                    if number is None:
                        number = inode[target.path] = next(numbers)
                    inode[path] = number
                    linked.add(number)
                    source = content_from.get(target.path, writer[target.path])
                    if source != index:
                        content_from[path] = source
                elif inode:
                    inode.pop(path, None)
            elif inode:
                # A new file (or a directory): no longer the file a number names.
                inode.pop(path, None)
            entries[path] = e
            writer[path] = index
            tar_name = tar_names.get(path) if tar_names else None
            if tar_name is not None:
                written_as[path] = tar_name
            elif written_as:
                written_as.pop(path, None)
    return MergedFilesystem(entries=entries, writer=writer, removed_by=removed_by, inode=inode,
                            content_from=content_from, written_as=written_as, links=links, linked=frozenset(linked))


def layer_links(entries: Sequence[FileEntry]) -> tuple[list[FileEntry], dict[str, str]]:
    """One layer's entries with each hardlink to an earlier entry of the layer resolved to that entry's file.

    Also returns each resolved link's path mapped to the first name of its
    file in the layer (a link to a link is a link to the same file). A link
    to a path the layer does not hold (it is below) stays a link entry.
    """
    seen: dict[str, FileEntry] = {}
    links: dict[str, str] = {}
    out: list[FileEntry] = []
    for e in entries:
        if e.kind == "hardlink":
            target = seen.get(e.linkname)
            if target is not None and target.kind != "dir" and e.linkname != e.path:
                links[e.path] = links.get(e.linkname, e.linkname)
                e = replace(target, path=e.path)
            else:
                links.pop(e.path, None)
        else:
            links.pop(e.path, None)
        if e.kind not in ("whiteout", "opaque"):
            seen[e.path] = e
        out.append(e)
    return out, links


def changed_fields(a: FileEntry, b: FileEntry, *, ignore_mtime: bool = False,
                   ignore: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The names (from ENTRY_FIELDS) of what differs between two entries of one path, but those in ``ignore``."""
    # Most entries compared are equal (a diff compares every path of both images): said in one expression,
    # the likeliest differences first, before any list is built.
    if (a.content_key == b.content_key and a.mtime_ns == b.mtime_ns and a.size == b.size and a.mode == b.mode
            and a.kind == b.kind and a.uid == b.uid and a.gid == b.gid and a.linkname == b.linkname
            and a.devmajor == b.devmajor and a.devminor == b.devminor and a.xattrs == b.xattrs):
        return ()
    out: list[str] = []
    if a.kind != b.kind:
        out.append("kind")
    if a.size != b.size and a.kind != "dir":
        out.append("size")
    if a.content_key != b.content_key:
        out.append("content_digest")
    if a.mode != b.mode:
        out.append("mode")
    if a.uid != b.uid:
        out.append("uid")
    if a.gid != b.gid:
        out.append("gid")
    if a.linkname != b.linkname:
        out.append("linkname")
    if (a.devmajor, a.devminor) != (b.devmajor, b.devminor):
        out.append("device")
    if a.mtime_ns != b.mtime_ns and not ignore_mtime:
        out.append("mtime")
    if a.xattrs != b.xattrs:
        out.append("xattrs")
    return tuple(f for f in out if f not in ignore) if ignore else tuple(out)


def path_changes(path: str, a: FileEntry, b: FileEntry, fields: Iterable[str]) -> tuple[PathChange, ...]:
    """The exact A and B values of the changed ``fields`` (ENTRY_FIELDS' names) of ``path``, in their order.

    ``hardlinks`` is left out: the finding on link structure says it, knowing both filesystems.
    """
    out: list[PathChange] = []
    for name in fields:
        if name == "device":
            out.append(PathChange(path, "device", (a.devmajor, a.devminor), (b.devmajor, b.devminor)))
        elif name == "mtime":
            out.append(PathChange(path, "mtime", a.mtime_ns, b.mtime_ns))
        elif name == "content_digest":
            out.append(PathChange(path, "content", content_value(a.content_digest), content_value(b.content_digest)))
        elif name in ("kind", "size", "mode", "uid", "gid", "linkname", "xattrs"):
            out.append(PathChange(path, name, getattr(a, name), getattr(b, name)))  # type: ignore[arg-type]
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class FilesystemDelta:
    """Paths (sorted) only in A, only in B, and in both with differences."""

    missing: tuple[str, ...]
    added: tuple[str, ...]
    changed: tuple[tuple[str, tuple[str, ...]], ...]


def compare_filesystems(
    fa: MergedFilesystem,
    fb: MergedFilesystem,
    *,
    ignore_mtime: bool = False,
    ignored: Callable[[str], bool] | None = None,
    ignore_fields: frozenset[str] = frozenset(),
    layer_ids: tuple[Sequence[object], Sequence[object]] | None = None,
) -> FilesystemDelta:
    """Compare two merged filesystems path by path (``ignored`` paths and ``ignore_fields`` are skipped).

    ``layer_ids`` (the diff_id of each merged layer, A's and B's): a path both
    sides took from layers with one diff_id holds the same entry, so it is
    not compared field by field.
    """
    ea, eb = fa.entries, fb.entries
    missing = [p for p in ea.keys() - eb.keys()]
    added = [p for p in eb.keys() - ea.keys()]
    changed: list[tuple[str, tuple[str, ...]]] = []
    wa, wb = fa.writer, fb.writer
    ids_a, ids_b = layer_ids if layer_ids is not None else ((), ())
    shared_a, shared_b = _shared_names(fa, fb), _shared_names(fb, fa)
    # Each pair of groups is compared once: a hostile archive may give one file many names.
    verdicts: dict[tuple[int, int], bool] = {}
    from_a, from_b = fa.content_from, fb.content_from
    for path, a in ea.items():
        b = eb.get(path)
        if b is None:
            continue
        relinked = False
        names_a, names_b = shared_a.get(path), shared_b.get(path)
        if names_a is not None and names_b is not None:
            pair = (id(names_a), id(names_b))
            known = verdicts.get(pair)
            if known is None:
                known = verdicts[pair] = names_a != names_b
            relinked = known
        elif names_a is not None or names_b is not None:
            # Linked on one side only: a change when another name of its file is in both.
            relinked = len(names_a or names_b or ()) > 1
        if a is b and not relinked:
            continue
        # One diff_id proves one entry, unless the entry is a link resolved to a lower layer's file;
        # only the names of its file may differ then. Not compared field by field: the content
        # digests of such layers may not have been taken (``layers_needing_content``).
        proven = False
        if layer_ids is not None and path not in from_a and path not in from_b:
            id_a = ids_a[wa[path]]
            proven = id_a is not None and id_a == ids_b[wb[path]]
        if proven and not relinked:
            continue
        # changed_fields compares every field but the path (equal here): () for equal entries.
        fields = () if proven else changed_fields(a, b, ignore_mtime=ignore_mtime, ignore=ignore_fields)
        if relinked:
            fields += ("hardlinks",)
        if fields:
            changed.append((path, fields))
    if ignored is not None:
        missing = [p for p in missing if not ignored(p)]
        added = [p for p in added if not ignored(p)]
        changed = [c for c in changed if not ignored(c[0])]
    return FilesystemDelta(missing=tuple(sorted(missing)), added=tuple(sorted(added)),
                           changed=tuple(sorted(changed)))


def _shared_names(own: MergedFilesystem, other: MergedFilesystem) -> dict[str, frozenset[str]]:
    """Each hardlinked path of ``own`` mapped to the names of its file that ``other`` holds too (one set per file)."""
    out: dict[str, frozenset[str]] = {}
    seen: dict[int, frozenset[str]] = {}
    theirs = other.entries
    for path, group in own.hardlink_groups().items():
        names = seen.get(id(group))
        if names is None:
            names = seen[id(group)] = frozenset(n for n in group if n in theirs)
        if path in theirs:
            out[path] = names
    return out


def linked_names(path: str, fa: MergedFilesystem, fb: MergedFilesystem,
                 groups_a: dict[str, frozenset[str]] | None = None,
                 groups_b: dict[str, frozenset[str]] | None = None) -> tuple[frozenset[str], frozenset[str]]:
    """The other names of ``path``'s file in A and in B, among the paths both filesystems hold.

    A name only one side has is a missing or added path, not a change of links.
    """
    ga = fa.hardlink_groups() if groups_a is None else groups_a
    gb = fb.hardlink_groups() if groups_b is None else groups_b
    ea, eb = fa.entries, fb.entries
    in_a = frozenset(n for n in ga.get(path, ()) if n != path and n in eb)
    in_b = frozenset(n for n in gb.get(path, ()) if n != path and n in ea)
    return in_a, in_b


def path_matcher(patterns: Sequence[str]) -> Callable[[str], bool] | None:
    """A predicate for ``--ignore`` globs, or None when there are none.

    Patterns use fnmatch syntax (``*`` also crosses ``/``) against the absolute
    path (a leading ``/`` is added to patterns that lack one); a pattern that
    names a directory also covers everything below it.
    """
    if not patterns:
        return None
    parts = []
    for pattern in patterns:
        if not pattern.startswith(("/", "*")):
            pattern = "/" + pattern
        regex = fnmatch.translate(pattern.rstrip("/") or "/")
        # fnmatch.translate anchors with \Z (\z on newer Pythons); re-anchor to
        # also accept the subtree below a matching directory.
        regex = re.sub(r"\\[Zz]$", "", regex)
        parts.append(f"(?:{regex})")
    compiled = re.compile("(?:" + "|".join(parts) + r")(?:/.*)?", re.DOTALL)

    def ignored(path: str) -> bool:
        return compiled.fullmatch("/" + path) is not None

    return ignored
