"""Hardlinks in the diff: a link holds the file it names; link structure alone is its own INFO finding."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings, strategies as st

from imageforensics.diff._content_need import layers_needing_content
from imageforensics.diff._engine import diff_images
from imageforensics.diff._merged_fs import merge_layers
from imageforensics.findings import Severity, evidence_texts
from imageforensics.options import DiffOptions
from imageforensics.path_change import PathChange
from imageforensics.report._changes import ChangeRow, changes_by_step
from tests.modelfactory import archive, build, directory, file, hardlink, spec, step, whiteout


def diff(ia, ib, options=DiffOptions()):
    return diff_images(archive(ia), ia, archive(ib, source="b.tar"), ib, options)


def found(report, code):
    return [f for f in report.findings if f.code == code]


def changed_paths(report):
    """Every path paths-changed names, with the fields its finding counts."""
    return sorted(p for f in found(report, "paths-changed") for p in f.paths)


def relinked_paths(report):
    return sorted(p for f in found(report, "paths-hardlinks-differ") for p in f.paths)


BASE = step("FROM base", directory("hl"), file("etc/base", "base"))


def both_orders(a, b):
    return diff(a, b), diff(b, a)


def test_content_written_in_a_later_layer_is_a_content_change_of_both_names():
    # BuildKit records `echo v2 > /hl/data.txt` over a link pair as the file under one name and
    # the link under the other (pair-hl-one vs pair-hl-changed): both names hold v2.
    one = step("RUN ln", file("hl/data-link.txt", "v1\n"), hardlink("hl/data.txt", "hl/data-link.txt"))
    a = build(spec(BASE, one))
    b = build(spec(BASE, one, step("RUN echo v2", file("hl/data-link.txt", "v2\n"),
                                    hardlink("hl/data.txt", "hl/data-link.txt"))))
    for report in both_orders(a, b):
        assert changed_paths(report) == ["/hl/data-link.txt", "/hl/data.txt"]
        [changed] = found(report, "paths-changed")
        assert dict(changed.evidence_value("fields")) == {"content_digest": 2}
        assert found(report, "paths-mtime-differ") == []
        assert found(report, "paths-hardlinks-differ") == []  # one file with two names in both
        assert report.verdict_kind == "diverged"


def test_rewriting_one_name_in_a_later_layer_breaks_the_link_as_the_runtime_does():
    # The runtime replaces the written name with a new file; the other name keeps the old one.
    one = step("RUN ln", file("hl/a", "v1"), hardlink("hl/b", "hl/a"))
    a = build(spec(BASE, one))
    b = build(spec(BASE, one, step("RUN cp", file("hl/b", "v2"))))
    fb = merge_layers([layer.entries for layer in b.layers])
    assert fb.entries["hl/a"].content_digest == file("x", "v1").content_digest
    assert fb.entries["hl/b"].content_digest == file("x", "v2").content_digest and fb.hardlink_groups() == {}
    for report in both_orders(a, b):
        assert changed_paths(report) == ["/hl/b"]
        assert relinked_paths(report) == ["/hl/a", "/hl/b"]
        # Grouped by writing steps: /hl/a (step 1 in both) kept its bytes, /hl/b (B's step 2) did not.
        same = {f.paths: f.evidence_value("same_content") for f in found(report, "paths-hardlinks-differ")}
        assert same == {("/hl/a",): True, ("/hl/b",): False}


def test_a_link_and_a_copy_of_the_same_bytes_differ_only_in_link_structure():
    a = build(spec(BASE, step("RUN ln", file("hl/a.txt", "same\n"), hardlink("hl/b.txt", "hl/a.txt"))))
    b = build(spec(BASE, step("RUN cp", file("hl/a.txt", "same\n"), file("hl/b.txt", "same\n"))))
    ab, ba = both_orders(a, b)
    for report in (ab, ba):
        assert changed_paths(report) == []
        assert found(report, "paths-mtime-differ") == []
        [links] = found(report, "paths-hardlinks-differ")
        assert links.severity is Severity.INFO and links.paths == ("/hl/a.txt", "/hl/b.txt")
        assert links.evidence_value("same_content") is True and links.evidence_value("count") == 2
        assert "size" not in links.summary and "content sha256" not in links.summary
    # Inside the aligned layers the link entry is compared as the file it names, too.
    [layer_ab] = found(ab, "layer-content-differs")
    assert layer_ab.paths == ("/hl/b.txt",)
    assert layer_ab.evidence_value("entry_001") == (PathChange("/hl/b.txt", "hardlink", "/hl/a.txt", ""),)
    [layer_ba] = found(ba, "layer-content-differs")
    assert layer_ba.evidence_value("entry_001") == (PathChange("/hl/b.txt", "hardlink", "", "/hl/a.txt"),)
    assert [t.text for t in evidence_texts(layer_ab) if t.name == "entry_001"] == [
        "/hl/b.txt: changed: a hardlink to /hl/a.txt in A, a file of its own in B"]
    assert found(ab, "paths-hardlinks-differ")[0].evidence_value("change_002") == \
        (PathChange("/hl/b.txt", "hardlinks", ("/hl/a.txt",), ()),)
    assert found(ba, "paths-hardlinks-differ")[0].evidence_value("change_002") == \
        (PathChange("/hl/b.txt", "hardlinks", (), ("/hl/a.txt",)),)
    assert ChangeRow("/hl/b.txt", "hardlinks", "one file with /hl/a.txt", "a file of its own") in \
        [r for g in changes_by_step(ab) for r in g.rows]


def test_a_link_and_a_copy_of_other_bytes_is_a_real_content_change():
    a = build(spec(BASE, step("RUN ln", file("hl/a.txt", "same\n"), hardlink("hl/b.txt", "hl/a.txt"))))
    b = build(spec(BASE, step("RUN cp", file("hl/a.txt", "same\n"), file("hl/b.txt", "other!\n"))))
    for report in both_orders(a, b):
        assert changed_paths(report) == ["/hl/b.txt"]
        [changed] = found(report, "paths-changed")
        assert dict(changed.evidence_value("fields")) == {"content_digest": 1, "size": 1}
        [links] = found(report, "paths-hardlinks-differ")
        assert links.evidence_value("same_content") is False


def without_content_digests(image, keep):
    """``image`` as a deferred read leaves it: files of the layers not in ``keep`` have no content digest."""
    layers = tuple(layer if i in keep or layer is None else
                   replace(layer, entries=tuple(replace(e, content_digest="") if e.kind == "file" else e
                                                for e in layer.entries))
                   for i, layer in enumerate(image.layers))
    return replace(image, layers=layers)


def test_a_link_broken_above_a_shared_layer_is_compared_without_that_layers_content():
    # /hl/a keeps the shared layer's file on both sides; only its other name differs (B rewrote
    # /hl/b). One diff_id proves one entry: the shared layer's content digests are not needed,
    # and the diff must not compare them (the deferred read leaves them out).
    one = step("RUN ln", file("hl/a", "v1"), hardlink("hl/b", "hl/a"))
    a = build(spec(BASE, one))
    b = build(spec(BASE, one, step("RUN cp", file("hl/b", "v2"))))
    for x, y in ((a, b), (b, a)):
        need_x, need_y = layers_needing_content(x, y)
        assert 1 not in (need_x if x is b else need_y)
        deferred = diff(without_content_digests(x, need_x), without_content_digests(y, need_y))
        assert deferred == diff(x, y)
        assert changed_paths(deferred) == ["/hl/b"] and relinked_paths(deferred) == ["/hl/a", "/hl/b"]


def test_a_link_whose_target_is_whited_out_later_keeps_the_file():
    a = build(spec(BASE, step("RUN ln", file("hl/a", "data"), hardlink("hl/b", "hl/a")),
                   step("RUN rm", whiteout("hl/a"))))
    b = build(spec(BASE, step("RUN ln", file("hl/b", "data"))))
    fa = merge_layers([layer.entries for layer in a.layers])
    assert "hl/a" not in fa.entries and fa.entries["hl/b"] == file("hl/b", "data")
    assert fa.hardlink_groups() == {}
    for report in both_orders(a, b):
        assert changed_paths(report) == [] and relinked_paths(report) == []


def test_a_link_to_a_path_in_a_lower_layer_holds_that_layers_file():
    lower = step("COPY a", file("hl/a", "v1"))
    a = build(spec(BASE, lower, step("RUN ln", hardlink("hl/b", "hl/a"))))
    b = build(spec(BASE, lower, step("RUN cp", file("hl/b", "v1"))))
    fa = merge_layers([layer.entries for layer in a.layers])
    assert fa.content_from == {"hl/b": 1} and fa.entries["hl/b"].size == 2
    for report in both_orders(a, b):
        assert changed_paths(report) == []
        assert relinked_paths(report) == ["/hl/a", "/hl/b"]


def test_an_identical_link_layer_over_different_targets_is_still_compared():
    # The link layers have one diff_id, but the file they name differs below them.
    link = step("RUN ln", hardlink("hl/b", "hl/a"))
    a = build(spec(BASE, step("COPY a", file("hl/a", "v1")), link))
    b = build(spec(BASE, step("COPY a", file("hl/a", "v2")), link))
    assert a.layers[2].diff_id == b.layers[2].diff_id
    for report in both_orders(a, b):
        assert changed_paths(report) == ["/hl/a", "/hl/b"]
    # The content the link holds is the lower layer's: that layer's digests are needed.
    need_a, need_b = layers_needing_content(a, b)
    assert 1 in need_a and 1 in need_b


def test_a_dangling_link_is_compared_as_a_link_entry():
    a = build(spec(BASE, step("RUN ln", hardlink("hl/b", "hl/nowhere"))))
    b = build(spec(BASE, step("RUN cp", file("hl/b", "x"))))
    for report in both_orders(a, b):
        assert changed_paths(report) == ["/hl/b"]


NAMES = st.sampled_from(["a", "b", "c", "d", "e"])
DATA = st.sampled_from(["x", "y", "zz"])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(NAMES, DATA, min_size=2), st.data())
def test_replacing_a_copy_by_a_link_to_an_identical_file_is_never_a_content_change(files, data):
    names = sorted(files)
    copy = tuple(file(f"d/{n}", files[n]) for n in names)
    # Some names whose bytes equal an earlier name's become links to it.
    linked = []
    for i, n in enumerate(names):
        twins = [m for m in names[:i] if files[m] == files[n] and m not in dict(linked)]
        if twins and data.draw(st.booleans()):
            linked.append((n, data.draw(st.sampled_from(twins))))
    links = dict(linked)
    entries = tuple(hardlink(f"d/{n}", f"d/{links[n]}") if n in links else file(f"d/{n}", files[n]) for n in names)
    a = build(spec(BASE, step("RUN cp", *copy)))
    b = build(spec(BASE, step("RUN ln", *entries)))
    ab, ba = both_orders(a, b)
    assert changed_paths(ab) == [] and changed_paths(ba) == []
    expected = sorted({f"/d/{p}" for pair in linked for p in pair})
    assert relinked_paths(ab) == relinked_paths(ba) == expected


def test_one_file_with_many_names_is_compared_once_per_group():
    # Every name of one file against copies: linear in the names, not quadratic.
    n = 5000
    a = build(spec(BASE, step("RUN ln", file("d/0", "x"), *(hardlink(f"d/{i}", "d/0") for i in range(1, n)))))
    b = build(spec(BASE, step("RUN cp", *(file(f"d/{i}", "x") for i in range(n)))))
    report = diff(a, b)
    assert changed_paths(report) == []
    [links] = found(report, "paths-hardlinks-differ")
    assert links.evidence_value("count") == n and len(links.paths) == n
