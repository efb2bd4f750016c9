"""The path a layer entry really writes: its parent chain resolved through the image's symlinks, inside the root.

A runtime applies a layer with the layers below it already in place, and
resolves each entry's name as the kernel does inside a chroot: a symlink
among the entry's parent directories is followed, an absolute target starts
again at the root of the image and ``..`` stops at it. containerd's applier
resolves the parent with continuity's ``fs.RootPath`` (symlinks walked in
scope, "too many links" after 255), moby's ``chrootarchive`` applies the
layer inside a chroot of the root, and moby's ``symlink.FollowSymlinkInScope``
does the same walk by hand. So a layer holding ``e -> /etc`` and then
``e/passwd`` replaces ``/etc/passwd``, whatever the tar names.

Only the parent chain is resolved: the last name is what the entry creates
or replaces (a file over a symlink replaces the symlink, moby
``createTarFile``: ``RemoveAll`` unless dir over dir). Whiteouts are resolved
the same way (``.wh.NAME`` removes NAME in the resolved directory); an
opaque marker ``D/.wh..wh..opq`` lies in D, so D is resolved whole; a
hardlink's target is resolved as ``link(2)`` resolves it (its parent chain).

``RootLinks`` holds the symlinks of the filesystem being built, and only
them (a trie of the links and the directories above them, so a path off the
trie costs one lookup per name and a removal the size of what it removes);
``RootLinks.apply_layer`` resolves one layer's entries in the order the
merged filesystem applies them and keeps its symlinks up to date. The merged
filesystem of the diff and the single-image audit both build on it, so they
attribute every entry to the same path. Pure: no I/O.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, replace

from imageforensics.model import FileEntry
from imageforensics.options import Limits


@dataclass(frozen=True, slots=True)
class Redirect:
    """A layer entry written (or removed) through a symlink: the name in the tar and the path the runtime writes.

    ``link`` is the first symlink of the chain followed and ``target`` what it
    points at (as stored). ``written`` is "" when the chain does not end
    (a loop, or more links than a runtime follows): the runtime refuses the
    layer, and the entry is kept under its own name.
    """

    layer: int
    entry: str
    kind: str
    written: str
    link: str
    target: str

    @property
    def loops(self) -> bool:
        """True when resolving never ends (the runtime fails with "too many links")."""
        return not self.written


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a path leads inside the root: ``path`` ("" for the root), the first symlink followed ("" if none)."""

    path: str
    link: str = ""
    target: str = ""
    loops: bool = False


class _Node:
    """One name on the way to a symlink: the names below it, or (for a symlink) its target."""

    __slots__ = ("kids", "target")

    def __init__(self) -> None:
        self.kids: dict[str, _Node] = {}
        self.target: str | None = None


class RootLinks:
    """The symlinks of a root filesystem as layers build it, to resolve names inside the root as a runtime does."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self._root = _Node()
        self._max_hops = limits.max_symlink_hops
        self._max_steps = limits.max_symlink_steps
        # The last parent directory resolved and where it led: tar entries come by directory.
        self._memo_parent: str | None = None
        self._memo: Resolved = Resolved("")

    def __bool__(self) -> bool:
        return bool(self._root.kids)

    # ---- resolving ----

    def resolve(self, path: str, *, whole: bool = False) -> Resolved:
        """Where ``path`` leads: its parent chain resolved (``whole``: its last name too), the root never left."""
        if not self._root.kids:
            return Resolved(path)
        if whole:
            return self._walk(path)
        parent, _, name = path.rpartition("/")
        if not parent:
            return Resolved(path)
        if parent != self._memo_parent:
            self._memo = self._walk(parent)
            self._memo_parent = parent
        through = self._memo
        if not through.link:
            return Resolved(path)
        if through.loops:
            return Resolved(path, through.link, through.target, True)
        return Resolved(f"{through.path}/{name}" if through.path else name, through.link, through.target)

    def _walk(self, path: str) -> Resolved:
        """Every name of ``path`` resolved, as continuity's ``RootPath`` walks it (lexical ``..`` on the resolved part)."""
        root = self._root
        todo = path.split("/")
        todo.reverse()
        done: list[str] = []
        nodes: list[_Node | None] = [root]
        hops = steps = 0
        first = first_target = ""
        while todo:
            steps += 1
            if steps > self._max_steps:
                return Resolved(path, first, first_target, True)
            name = todo.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if done:
                    done.pop()
                    nodes.pop()
                continue
            here = nodes[-1]
            node = here.kids.get(name) if here is not None else None
            if node is not None and node.target is not None:
                hops += 1
                if not first:
                    first, first_target = "/".join((*done, name)), node.target
                if hops > self._max_hops:
                    return Resolved(path, first, first_target, True)
                target = node.target
                if target.startswith("/"):
                    done.clear()
                    del nodes[1:]
                # Go's filepath.Join(target, rest): cleaned lexically before any name of it is looked up.
                todo.reverse()
                rest = "/".join(todo)
                joined = f"{target}/{rest}" if target and rest else target or rest
                todo = posixpath.normpath(joined).split("/") if joined else []
                todo.reverse()
                steps += len(todo)
                continue
            done.append(name)
            nodes.append(node)
        return Resolved("/".join(done), first, first_target)

    # ---- keeping the links up to date ----

    def _forget_memo(self, path: str) -> None:
        memo = self._memo_parent
        if memo is not None and (memo == path or memo.startswith(path + "/") or not path):
            self._memo_parent = None

    def _chain(self, path: str, create: bool) -> list[_Node] | None:
        """The nodes from the root to ``path`` (created when ``create``), or None when it is off the trie."""
        nodes = [self._root]
        if not path:
            return nodes
        node = self._root
        for name in path.split("/"):
            nxt = node.kids.get(name)
            if nxt is None:
                if not create:
                    return None
                nxt = node.kids[name] = _Node()
            elif nxt.target is not None and create:
                # A symlink the tar writes below (a state no runtime makes): the name is a directory now.
                nxt.target = None
            nodes.append(nxt)
            node = nxt
        return nodes

    def _prune(self, path: str, nodes: list[_Node]) -> None:
        names = path.split("/")
        for i in range(len(names), 0, -1):
            node = nodes[i]
            if node.kids or node.target is not None:
                return
            del nodes[i - 1].kids[names[i - 1]]

    def remove(self, path: str) -> None:
        """``path`` and everything below it are gone."""
        if not path:
            self.remove_below(path)
            return
        nodes = self._chain(path, create=False)
        if nodes is None:
            return
        self._forget_memo(path)
        nodes[-1].kids.clear()
        nodes[-1].target = None
        self._prune(path, nodes)

    def remove_below(self, path: str) -> None:
        """Everything below the directory ``path`` is gone (an opaque directory)."""
        nodes = self._chain(path, create=False)
        if nodes is None or not nodes[-1].kids:
            return
        self._forget_memo(path)
        nodes[-1].kids.clear()
        if path:
            self._prune(path, nodes)

    def write(self, path: str, kind: str, target: str = "") -> None:
        """An entry of ``kind`` now stands at ``path`` (a directory over a directory keeps what is below)."""
        if kind == "symlink":
            if not path:
                return  # the root stays a directory
            self._forget_memo(path)
            nodes = self._chain(path, create=True)
            assert nodes is not None
            nodes[-1].kids.clear()
            nodes[-1].target = target
            return
        nodes = self._chain(path, create=False)
        if nodes is None:
            return
        node = nodes[-1]
        if kind == "dir" and node.target is None:
            return
        self.remove(path)

    def place(self, entry: FileEntry, layer: int) -> tuple[FileEntry | None, Redirect | None]:
        """``entry`` under the path the runtime writes (None when its chain loops), and its ``Redirect`` if a symlink led there.

        The parent chain is resolved (an opaque directory's path whole), and a
        hardlink's target as ``link(2)`` resolves it. The links themselves are
        not changed: the caller applies the entry (``write``, ``remove``).
        """
        kind = entry.kind
        where = self.resolve(entry.path, whole=kind == "opaque")
        redirect = None
        if where.link:
            redirect = Redirect(layer, entry.path, kind, "" if where.loops else where.path, where.link, where.target)
            if where.loops:
                return None, redirect
            entry = replace(entry, path=where.path)
        if kind == "hardlink" and entry.linkname:
            named = self.resolve(entry.linkname)
            if named.link and not named.loops:
                entry = replace(entry, linkname=named.path)
        return entry, redirect

    def apply_layer(self, entries: Sequence[FileEntry], layer: int) -> list[Redirect]:
        """Apply one layer's entries to the links; return those written (or removed) through a symlink.

        In the order the merged filesystem applies them: opaque directories,
        then whiteouts, then the layer's own entries, each resolved against
        the symlinks as they stand then. An entry whose chain loops changes
        nothing (the runtime refuses it, "too many links"). Without the other
        entries' kinds, a symlink the layers put below a file (a state no
        runtime makes) is kept when a directory replaces that file.
        """
        redirects: list[Redirect] = []
        if not self and not any(e.kind == "symlink" for e in entries):
            return redirects
        for group in (("opaque",), ("whiteout",), None):
            for e in entries:
                kind = e.kind
                if (kind not in group) if group is not None else kind in ("opaque", "whiteout"):
                    continue
                real, redirect = self.place(e, layer)
                if redirect is not None:
                    redirects.append(redirect)
                if real is None:
                    continue
                if kind == "opaque":
                    self.remove_below(real.path)
                elif kind == "whiteout":
                    self.remove(real.path)
                else:
                    self.write(real.path, kind, real.linkname)
        return redirects
