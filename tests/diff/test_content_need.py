"""Which layers the diff compares files of (diff/_content_need): the layers read again for their content digests."""

from __future__ import annotations

from dataclasses import replace

from imageforensics.diff._content_need import layers_needing_content
from tests.modelfactory import build, file, layer, spec, step, whiteout


def test_equal_images_need_no_content() -> None:
    image = build(spec(step("COPY a /", file("etc/a", "1")), step("COPY b /", file("etc/b", "2"))))
    assert layers_needing_content(image, image) == (frozenset(), frozenset())


def test_a_changed_layer_is_needed_on_both_sides_and_shared_layers_are_not() -> None:
    base = step("COPY base /", file("etc/base", "x"))
    a = build(spec(base, step("COPY app /", file("app/run", "1"))))
    b = build(spec(base, step("COPY app /", file("app/run", "2"))))
    assert layers_needing_content(a, b) == (frozenset({1}), frozenset({1}))


def test_a_path_overwritten_by_a_later_layer_on_one_side_needs_the_shared_writer() -> None:
    base = step("COPY base /", file("etc/conf", "x"), file("etc/other", "y"))
    a = build(spec(base))
    b = build(spec(base, step("COPY conf /", file("etc/conf", "z"))))
    # A's etc/conf comes from the shared layer 0, B's from its own layer 1: both are compared.
    # B's layer 0 is compared with nothing (all it wrote is either overwritten or equal).
    assert layers_needing_content(a, b) == (frozenset({0}), frozenset({1}))


def test_reordered_layers_need_the_writers_that_differ() -> None:
    one = step("COPY one /", file("etc/x", "1"))
    two = step("COPY two /", file("etc/x", "2"), file("etc/y", "2"))
    a = build(spec(one, two))
    b = build(spec(two, one))
    # The steps align by created_by, with equal diff_ids: no entries are compared step by step.
    # /etc/x is last written by "two" in A and by "one" in B: both writers are compared;
    # /etc/y is written by "two" on both sides: equal diff_ids, not compared.
    assert layers_needing_content(a, b) == (frozenset({1}), frozenset({1}))
    # Alignment keeps order: A's changed "one" (step 0) pairs with nothing, and all it
    # wrote is overwritten by "two" in A, so its files are never compared.
    c = build(spec(step("COPY one /", file("etc/x", "9")), two))
    assert layers_needing_content(c, b) == (frozenset({1}), frozenset({1}))
    # Overwritten by nothing, it is compared with B's "one" at /etc/z.
    e = build(spec(step("COPY one /", file("etc/x", "9"), file("etc/z", "9")), two))
    f = build(spec(two, step("COPY one /", file("etc/x", "1"), file("etc/z", "1"))))
    assert layers_needing_content(e, f) == (frozenset({0, 1}), frozenset({1}))


def test_an_absent_blob_is_replaced_by_the_layer_with_its_diff_id() -> None:
    shared = layer(file("etc/x", "1"))
    a = build(spec(step("COPY x /", layer_value=shared), step("RUN y", file("etc/y", "1"))))
    b = build(spec(step("COPY x /", layer_value=shared), step("RUN y", file("etc/y", "2")),
                   step("RUN x", file("etc/x", "3"))))
    # A's blob of the shared layer is absent: its entries are taken from B's layer 0.
    a = replace(a, layers=(None, a.layers[1]))
    need_a, need_b = layers_needing_content(a, b)
    assert need_a == frozenset({1}) and 0 in need_b and {1, 2} <= need_b


def test_a_whiteout_on_one_side_needs_no_content_of_the_removed_path() -> None:
    base = step("COPY base /", file("etc/a", "1"), file("etc/b", "1"))
    a = build(spec(base, step("RUN rm", whiteout("etc/a"))))
    b = build(spec(base, step("RUN rm", whiteout("etc/b"))))
    # The aligned layers differ (their entries are compared); etc/b and etc/a are only on one side.
    assert layers_needing_content(a, b) == (frozenset({1}), frozenset({1}))
