"""rootfs: an entry's parent chain resolved through the image's symlinks inside the root, as containerd's fs.RootPath does."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from imageforensics.audit import image_findings
from imageforensics.diff._merged_fs import merge_layers
from imageforensics.options import Limits
from imageforensics.rootfs import Redirect, RootLinks
from tests.modelfactory import build, directory, file, hardlink, naive_root_path, opaque, spec, step, symlink, whiteout


def links_of(*pairs: tuple[str, str]) -> RootLinks:
    links = RootLinks()
    for path, target in pairs:
        links.write(path, "symlink", target)
    return links


def test_absolute_relative_and_escaping_targets_stay_inside_the_root() -> None:
    links = links_of(("e", "/etc"), ("r", "../../../etc"), ("usr/lib64", "lib"), ("lib", "usr/lib"))
    assert links.resolve("e/passwd").path == "etc/passwd"
    assert links.resolve("r/shadow").path == "etc/shadow"
    assert links.resolve("usr/lib64/ld.so").path == "usr/lib/ld.so"
    # A chain of links: lib -> usr/lib, then the relative usr/lib64 -> lib from usr/.
    assert links.resolve("lib/x/y").path == "usr/lib/x/y"
    found = links.resolve("e/passwd")
    assert (found.link, found.target, found.loops) == ("e", "/etc", False)


def test_only_the_parent_chain_unless_whole() -> None:
    links = links_of(("e", "/etc"))
    assert links.resolve("e") .path == "e" and not links.resolve("e").link
    assert links.resolve("e", whole=True).path == "etc"
    assert links.resolve("other/file").link == ""


def test_a_target_is_cleaned_lexically_with_the_rest_as_go_joins_it() -> None:
    # c -> "c/.." names the root (Go's filepath.Join cleans before looking anything up): no loop.
    links = links_of(("c", "c/.."))
    found = links.resolve("c/a/b")
    assert (found.path, found.loops) == ("a/b", False)


def test_loops_and_long_chains_end() -> None:
    links = links_of(("a", "b"), ("b", "a/c"))
    assert links.resolve("a/x").loops
    chain = RootLinks(Limits(max_symlink_hops=3))
    for i in range(4):
        chain.write(f"l{i}", "symlink", f"l{i + 1}")
    assert chain.resolve("l1/x").path == "l4/x"      # 3 links
    assert chain.resolve("l0/x").loops               # 4 links: more than a runtime follows


def test_removing_a_link_or_an_ancestor_forgets_it() -> None:
    links = links_of(("d/e", "/etc"))
    assert links.resolve("d/e/x").path == "etc/x"
    links.remove("d")
    assert links.resolve("d/e/x").path == "d/e/x" and not links
    links = links_of(("d/e", "/etc"))
    links.remove_below("")
    assert not links
    links = links_of(("d/e", "/etc"))
    links.write("d/e", "dir")
    assert links.resolve("d/e/x").path == "d/e/x"


def test_apply_layer_resolves_opaque_whiteouts_then_entries() -> None:
    links = RootLinks()
    assert links.apply_layer((symlink("e", "/etc"),), 0) == []
    redirects = links.apply_layer((file("e/passwd"), whiteout("e/shadow"), opaque("e"), hardlink("h", "e/group")), 1)
    assert redirects == [
        Redirect(1, "e", "opaque", "etc", "e", "/etc"),
        Redirect(1, "e/shadow", "whiteout", "etc/shadow", "e", "/etc"),
        Redirect(1, "e/passwd", "file", "etc/passwd", "e", "/etc"),
    ]
    real, _ = links.place(hardlink("h", "e/group"), 1)
    assert real is not None and real.linkname == "etc/group"


def test_the_merged_filesystem_attributes_each_entry_to_the_path_written() -> None:
    fs = merge_layers([(directory("etc"), file("etc/passwd", "root")), (symlink("e", "/etc"),),
                       (file("e/passwd", "evil"), whiteout("e/group"))])
    assert sorted(fs.entries) == ["e", "etc", "etc/passwd"]
    assert fs.entries["etc/passwd"].content_digest == file("x", "evil").content_digest
    assert fs.writer["etc/passwd"] == 2 and fs.written_as == {"etc/passwd": "e/passwd"}
    assert fs.resolve("e/passwd").path == "etc/passwd" and fs.resolve("e").path == "etc"
    assert fs.resolve("e", whole=False).path == "e"


def test_a_loop_writes_nothing() -> None:
    fs = merge_layers([(symlink("a", "b"), symlink("b", "a/c"), file("a/x"))])
    assert sorted(fs.entries) == ["a", "b"]


def test_the_audit_names_every_entry_written_through_a_symlink() -> None:
    image = build(spec(step("RUN base", directory("etc"), file("etc/passwd", "root")),
                       step("RUN link", symlink("e", "../etc")),
                       step("RUN write", file("e/passwd", "evil"), whiteout("e/group")),
                       step("RUN loop", symlink("a", "a"), file("a/x"))))
    found = [f for f in image_findings(image) if f.code == "layer-write-through-symlink"]
    assert [(f.severity.name, f.evidence_value("entry"), f.evidence_value("written"), f.step_a) for f in found] == [
        ("ERROR", "a/x", "", 3),
        ("WARNING", "e/group", "etc/group", 2),
        ("WARNING", "e/passwd", "etc/passwd", 2),
    ]
    assert found[2].summary == "layer 2: file /e/passwd is written to /etc/passwd, through the symlink /e -> ../etc"


def test_the_audit_counts_what_it_does_not_list() -> None:
    many = [symlink("e", "/etc")] + [file(f"e/f{i}") for i in range(1005)]
    image = build(spec(step("RUN many", *many)))
    found = [f for f in image_findings(image) if f.code == "layer-write-through-symlink"]
    assert len(found) == 1001
    assert [f.evidence_value("unlisted") for f in found if f.evidence_value("unlisted") is not None] == [5]


NAMES = st.sampled_from(["a", "b", "c", "..", "."])
TARGETS = st.lists(NAMES, max_size=4).map("/".join) | st.lists(NAMES, max_size=3).map(lambda p: "/" + "/".join(p))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map("/".join), TARGETS,
                       max_size=5),
       st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=6).map("/".join))
def test_resolving_agrees_with_a_plain_walk_of_followsymlinkinscope(links: dict[str, str], path: str) -> None:
    # Entry names are normalised (no ".." or "."); targets hold anything. The reference walks strings (moby's symlink.FollowSymlinkInScope); links below another link are unreachable there
    # and in the trie alike, so only the links a runtime could create are kept.
    kept = {p: t for p, t in links.items() if not any(p.startswith(q + "/") for q in links)}
    tree = links_of(*kept.items())
    found = tree.resolve(path, whole=True)
    want = naive_root_path(kept, path)
    assert (None if found.loops else found.path) == want


def test_the_diff_names_the_path_the_runtime_writes_and_the_symlink() -> None:
    from imageforensics.diff._engine import diff_images
    from imageforensics.options import DiffOptions
    from tests.modelfactory import archive

    base = step("RUN base", directory("etc"), file("etc/passwd", "root"))
    good = build(spec(base, step("RUN app", file("app/run", "x"))))
    evil = build(spec(base, step("RUN app", file("app/run", "x"), symlink("e", "/etc"), file("e/passwd", "evil"))))
    for report, side in ((diff_images(archive(good), good, archive(evil, source="b.tar"), evil, DiffOptions()), "B"),
                         (diff_images(archive(evil), evil, archive(good, source="b.tar"), good, DiffOptions()), "A")):
        changed = [p for f in report.findings if f.code == "paths-changed" for p in f.paths]
        assert changed == ["/etc/passwd"]
        through = [f for f in report.findings if f.code == "layer-write-through-symlink"]
        assert [(f.side, f.evidence_value("entry"), f.evidence_value("written")) for f in through] == [
            (side, "e/passwd", "etc/passwd")]
        assert not any("/e/passwd" in f.paths for f in report.findings if f.code.startswith("paths-"))
