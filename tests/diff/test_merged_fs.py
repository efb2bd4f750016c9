"""The merged filesystem: whiteouts, opaque directories, type replacement, attribution."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from imageforensics.diff._merged_fs import changed_fields, compare_filesystems, merge_layers, path_matcher
from imageforensics.model import FileEntry
from imageforensics.options import Limits
from tests.modelfactory import directory, file, hardlink, naive_merge, opaque, symlink, tree, whiteout


def paths(fs):
    return sorted(fs.entries)


def test_whiteout_removes_lower_path_and_subtree_only():
    fs = merge_layers([tree("a/b/c", "a/d", "e"), (whiteout("a"), file("a2"))])
    assert paths(fs) == ["a2", "e"]
    assert fs.removed_by == {"a": 1, "a/b": 1, "a/b/c": 1, "a/d": 1}
    assert fs.writer == {"a2": 1, "e": 0}


def test_whiteout_does_not_remove_same_layer_entries_whatever_their_order():
    fs = merge_layers([tree("a/x"), (directory("a"), file("a/y"), whiteout("a"))])
    # The whiteout hides the lower a/ (and a/x); the layer's own a/ and a/y stay.
    assert paths(fs) == ["a", "a/y"]
    assert fs.writer["a"] == 1 and fs.removed_by == {"a/x": 1}


def test_opaque_hides_lower_children_but_keeps_the_directory_and_same_layer_children():
    fs = merge_layers([tree("d/old/f", "d/g", "other"), (file("d/new"), opaque("d"))])
    assert paths(fs) == ["d", "d/new", "other"]
    assert fs.writer["d"] == 0 and fs.writer["d/new"] == 1
    assert set(fs.removed_by) == {"d/old", "d/old/f", "d/g"}


def test_opaque_root_hides_everything_below():
    fs = merge_layers([tree("a/b", "c"), (opaque(""), file("z"))])
    assert paths(fs) == ["z"]


def test_dir_over_dir_replaces_attributes_only():
    fs = merge_layers([(directory("d", mode=0o755), file("d/f")), (directory("d", mode=0o700, uid=5),)])
    assert paths(fs) == ["d", "d/f"]
    assert fs.entries["d"].mode == 0o700 and fs.entries["d"].uid == 5 and fs.writer["d"] == 1
    assert fs.writer["d/f"] == 0


def test_a_file_over_a_directory_replaces_the_subtree():
    fs = merge_layers([tree("d/x/y", "d/z"), (file("d", "now a file"),)])
    assert paths(fs) == ["d"] and fs.entries["d"].kind == "file"
    assert fs.removed_by == {"d/x": 1, "d/x/y": 1, "d/z": 1}


def test_a_symlink_replacing_a_file_and_a_directory_replacing_a_symlink():
    fs = merge_layers([(file("p", "data"), file("q")), (symlink("p", "/q"),), (directory("p"), file("p/in"))])
    assert fs.entries["p"].kind == "dir" and fs.writer["p"] == 2 and paths(fs) == ["p", "p/in", "q"]


def test_a_file_over_an_implicit_directory_replaces_its_subtree():
    # Only usr/local/x is listed: usr and usr/local exist implicitly, and "usr" as a file replaces them.
    fs = merge_layers([(file("usr/local/x"),), (file("usr", "now a file"),)])
    assert paths(fs) == ["usr"] and fs.removed_by == {"usr/local/x": 1}


def test_a_hardlink_holds_its_targets_file_and_shares_its_inode():
    fs = merge_layers([(file("bin/busybox", "bb", mode=0o755), hardlink("bin/sh", "bin/busybox"))])
    sh = fs.entries["bin/sh"]
    assert (sh.kind, sh.size, sh.content_digest, sh.mode) == ("file", 2, file("x", "bb").content_digest, 0o755)
    assert sh.path == "bin/sh" and fs.writer["bin/sh"] == 0
    assert fs.hardlink_groups() == {"bin/sh": {"bin/sh", "bin/busybox"}, "bin/busybox": {"bin/sh", "bin/busybox"}}


_NAMES = ("a", "b", "c", "d")


@st.composite
def _linked_layers(draw: st.DrawFn) -> list[tuple[FileEntry, ...]]:
    """Layers of files, directories, hardlinks and whiteouts over a few names (flat: no subtree)."""
    entry = st.one_of(
        st.builds(lambda n, d: file(n, d), st.sampled_from(_NAMES), st.sampled_from(("x", "y"))),
        st.builds(directory, st.sampled_from(_NAMES)),
        st.builds(hardlink, st.sampled_from(_NAMES), st.sampled_from(_NAMES + ("absent",))),
        st.builds(whiteout, st.sampled_from(_NAMES)),
    )
    return draw(st.lists(st.lists(entry, max_size=6).map(tuple), min_size=1, max_size=4))


def _reference_groups(layers: list[tuple[FileEntry, ...]]) -> dict[str, frozenset[str]]:
    """Which names are one file, as link(2) and unlink(2) applied in order make them (whiteouts first in a layer)."""
    kind: dict[str, str] = {}
    file_of: dict[str, object] = {}
    for entries in layers:
        for e in [e for e in entries if e.kind == "whiteout"]:
            kind.pop(e.path, None)
            file_of.pop(e.path, None)
        for e in [e for e in entries if e.kind != "whiteout"]:
            if e.kind == "hardlink" and kind.get(e.linkname, "dir") != "dir" and e.linkname != e.path:
                kind[e.path], file_of[e.path] = kind[e.linkname], file_of[e.linkname]
            else:
                kind[e.path], file_of[e.path] = e.kind, object()
    names: dict[int, set[str]] = {}
    for path, identity in file_of.items():
        if kind[path] != "dir":
            names.setdefault(id(identity), set()).add(path)
    return {path: frozenset(group) for group in names.values() if len(group) > 1 for path in group}


@given(_linked_layers())
def test_hardlink_groups_are_the_names_link_made_one_file(layers: list[tuple[FileEntry, ...]]) -> None:
    # Numbers are given to a file only when a second name first shares it: the groups are those of
    # numbering every file, through rewrites, removals and links to links.
    assert merge_layers(layers).hardlink_groups() == _reference_groups(layers)


def test_a_hardlink_whose_target_is_absent_stays_a_link_entry():
    fs = merge_layers([(hardlink("b", "nowhere"),)])
    assert fs.entries["b"].kind == "hardlink" and fs.entries["b"].linkname == "nowhere"
    assert fs.hardlink_groups() == {}


def test_duplicate_path_in_one_layer_last_wins():
    fs = merge_layers([(file("f", "one"), file("f", "two"))])
    assert fs.entries["f"] == file("f", "two")


def test_rewritten_path_is_no_longer_removed():
    fs = merge_layers([(file("f"),), (whiteout("f"),), (file("f", "again"),)])
    assert fs.removed_by == {} and fs.writer["f"] == 2


def test_changed_fields_names_each_difference_exactly():
    a = file("f", "x", mode=0o644, uid=0, gid=0, mtime=1, xattrs=(("user.a", "1"),))
    b = file("f", "y", mode=0o755, uid=1, gid=2, mtime=2, xattrs=())
    assert changed_fields(a, b) == ("content_digest", "mode", "uid", "gid", "mtime", "xattrs")
    assert changed_fields(a, b, ignore_mtime=True) == ("content_digest", "mode", "uid", "gid", "xattrs")
    assert changed_fields(file("f", "xx"), symlink("f", "t")) == ("kind", "size", "content_digest", "mode", "linkname")


_CHOICES: dict[str, tuple[object, ...]] = {
    "kind": ("file", "dir", "symlink", "hardlink", "char", "block", "fifo"), "size": (0, 5, 2**40),
    "content_digest": ("", "sha256:" + "0" * 64, "sha256:" + "f" * 64), "mode": (0o644, 0o755), "uid": (0, 1000),
    "gid": (0, 2**32 - 2), "linkname": ("", "t"), "devmajor": (0, 1), "devminor": (0, 3),
    "mtime_ns": (0, 10**18, 10**18 + 1), "xattrs": ((), (("user.a", "1"),)),
}


@st.composite
def _entry_pairs(draw: st.DrawFn) -> tuple[dict[str, object], dict[str, object]]:
    """Two entries' fields: B is A with a few fields (often one alone) set to another value."""
    fa = {name: draw(st.sampled_from(values)) for name, values in _CHOICES.items()}
    changed = draw(st.sets(st.sampled_from(tuple(_CHOICES)), max_size=3))
    fb = {**fa, **{name: draw(st.sampled_from([v for v in _CHOICES[name] if v != fa[name]])) for name in changed}}
    return fa, fb


@given(_entry_pairs(),
       st.sets(st.sampled_from(("kind", "size", "content_digest", "mode", "uid", "gid", "linkname", "device", "mtime",
                                "xattrs")), max_size=2),
       st.booleans())
def test_changed_fields_is_a_field_by_field_comparison(pair: tuple[dict[str, object], dict[str, object]],
                                                       ignore: set[str], ignore_mtime: bool) -> None:
    fa, fb = pair
    a, b = FileEntry(path="p", **fa), FileEntry(path="p", **fb)  # type: ignore[arg-type]
    expected = []
    for name in ("kind", "size", "content_digest", "mode", "uid", "gid", "linkname", "device", "mtime", "xattrs"):
        if name == "device":
            differs = (fa["devmajor"], fa["devminor"]) != (fb["devmajor"], fb["devminor"])
        elif name == "mtime":
            differs = fa["mtime_ns"] != fb["mtime_ns"] and not ignore_mtime
        elif name == "size":
            differs = fa["size"] != fb["size"] and fa["kind"] != "dir"
        else:
            differs = fa[name] != fb[name]
        if differs and name not in ignore:
            expected.append(name)
    assert changed_fields(a, b, ignore_mtime=ignore_mtime, ignore=frozenset(ignore)) == tuple(expected)
    assert (changed_fields(a, b) == ()) == (a == b or (a.kind == b.kind == "dir" and
                                                       FileEntry(path="p", **{**fa, "size": fb["size"]}) == b))  # type: ignore[arg-type]


def test_compare_filesystems_and_ignore_patterns():
    fa = merge_layers([tree("etc/a", "var/cache/x/1", "keep")])
    fb = merge_layers([tree("etc/b", "var/cache/x/2") + (file("keep", "changed"),)])
    delta = compare_filesystems(fa, fb)
    assert delta.missing == ("etc/a", "var/cache/x/1")
    assert delta.added == ("etc/b", "var/cache/x/2")
    assert delta.changed == (("keep", ("size", "content_digest")),)
    ignored = path_matcher(["/var/cache", "etc/*", "/kee?"])
    delta = compare_filesystems(fa, fb, ignored=ignored)
    assert delta.missing == delta.added == delta.changed == ()


def test_path_matcher_semantics():
    m = path_matcher(["/var/cache/*", "*.pyc"])
    assert m is not None
    assert m("var/cache/apt/x") and m("usr/lib/a.pyc") and m("a/b/c.pyc/inside")
    assert not m("var/cache") and not m("var/cachet/x") and not m("usr/lib/a.py")
    assert path_matcher([]) is None


NAMES = st.sampled_from(["a", "b", "c"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)


@st.composite
def entries(draw):
    path = draw(PATHS)
    kind = draw(st.sampled_from(["file", "dir", "dir", "symlink", "whiteout", "opaque"]))
    if kind == "file":
        return file(path, draw(st.sampled_from(["x", "y"])))
    if kind == "dir":
        return directory(path, mode=draw(st.sampled_from([0o755, 0o700])))
    if kind == "symlink":
        # Targets out of the tree, into it (relative, absolute, up past the root), onto themselves.
        return symlink(path, draw(st.sampled_from(["/elsewhere", "a", "b/c", "../b", "../../../c", "/a/b", "c/..", ".",
                                                   "", "/", path.rpartition("/")[2]])))
    return whiteout(path) if kind == "whiteout" else opaque(path)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(entries(), max_size=6), max_size=5))
def test_merge_agrees_with_the_naive_reference(layers):
    fs = merge_layers(layers)
    expected = naive_merge(layers)
    assert fs.entries == {p: e for p, (e, _) in expected.items()}
    assert fs.writer == {p: i for p, (_, i) in expected.items()}
    # Every removed path was present once and is absent now.
    assert not set(fs.removed_by) & set(fs.entries)


def test_a_hostile_deep_name_costs_no_more_than_its_length():
    deep = "/".join(["d"] * 30000)
    layers = [[file(f"{i}/{deep}") for i in range(20)], [whiteout("3"), opaque("")]]
    fs = merge_layers(layers)
    assert fs.entries == {} and len(fs.removed_by) == 20


def _operations(work) -> int:
    """How many Python and C function calls ``work()`` makes: a count of work done, not a time."""
    import sys

    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += 1

    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


def _deep_layers(n: int):
    deep = "/".join(["p"] * 300)
    return [[file(f"{deep}/{i % 7}/f{i}") for i in range(n)],
            [file(f"{deep}/{i % 7}/f{i}", "again") for i in range(0, n, 2)]
            + [whiteout(f"{deep}/{i % 7}/f{i}") for i in range(1, n, 4)] + [symlink(f"{deep}/l", "/")]]


def test_merging_entries_deeper_than_hundreds_of_levels_is_linear():
    # Quadratic work (a scan of every deep path per entry) makes four times the entries cost sixteen times the calls.
    small, large = (_operations(lambda: merge_layers(_deep_layers(n))) for n in (500, 2000))
    assert large < 5 * small, (small, large)


def test_diffing_entries_deeper_than_hundreds_of_levels_is_linear():
    from imageforensics.diff._engine import diff_images
    from imageforensics.options import DiffOptions
    from tests.modelfactory import archive, build, spec, step

    def work(n: int) -> None:
        a_layers = _deep_layers(n)
        b_layers = [a_layers[0], a_layers[1][:-3]]
        ia = build(spec(*(step(f"RUN {i}", *entries) for i, entries in enumerate(a_layers))))
        ib = build(spec(*(step(f"RUN {i}", *entries) for i, entries in enumerate(b_layers))))
        diff_images(archive(ia), ia, archive(ib, source="b.tar"), ib, DiffOptions())

    small, large = _operations(lambda: work(500)), _operations(lambda: work(2000))
    assert large < 5 * small, (small, large)
