"""History alignment: pass 1 (steps to layers) and pass 2 (steps across images)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings, strategies as st

from imageforensics.diff._align import (REASON_COPY_DEST, REASON_EXACT, REASON_INSTRUCTION, REASON_LAYER, align_images, image_units,
                                  step_layer_indexes)
from imageforensics.created_by import normalise_created_by
from imageforensics.history import reconcile
from imageforensics.options import Limits
from tests.modelfactory import build, file, mark_empty, spec, step


def rows(pairs):
    return [(p.a.index if p.a else None, p.b.index if p.b else None) for p in pairs]


def test_normalise_created_by_states_what_it_removed():
    assert normalise_created_by("COPY rootfs / # buildkit") == ("COPY rootfs /", ("BuildKit '# buildkit' suffix",))
    assert normalise_created_by("/bin/sh -c #(nop)  EXPOSE 8080/tcp")[0] == "EXPOSE 8080/tcp"
    assert normalise_created_by("EXPOSE map[8080/tcp:{}]") == ("EXPOSE 8080/tcp", ("EXPOSE written as a Go map",))
    assert normalise_created_by("EXPOSE map[443/tcp:{} 80/udp:{}]")[0] == "EXPOSE 443/tcp 80/udp"
    assert normalise_created_by("EXPOSE 8080")[0] == "EXPOSE 8080/tcp"
    assert normalise_created_by("/bin/sh -c apk add  curl")[0] == "RUN /bin/sh -c apk add curl"
    assert normalise_created_by("RUN /bin/sh -c apk add curl # buildkit")[0] == "RUN /bin/sh -c apk add curl"
    assert normalise_created_by("|1 V=2 /bin/sh -c make")[0] == "RUN |1 V=2 /bin/sh -c make"
    assert normalise_created_by("WORKDIR /opt") == ("WORKDIR /opt", ())
    # After a SHELL instruction the classic builder spells the prefix with that shell.
    assert normalise_created_by("/bin/sh -e -c #(nop)  CMD [\"x\"]")[0] == 'CMD ["x"]'
    assert normalise_created_by("/bin/bash -o pipefail -c make all")[0] == "RUN /bin/bash -o pipefail -c make all"
    assert normalise_created_by("cmd /S /C #(nop)  WORKDIR C:\\app")[0] == "WORKDIR C:\\app"


def test_pass1_uses_the_readers_layer_index_and_derives_it_the_same_way():
    image = build(spec(step("FROM", file("a")), step("ENV x=1"), step("RUN b", file("b"))))
    assert step_layer_indexes(image) == (0, None, 1)
    bare = replace(image, history=tuple(replace(s, layer_index=None) for s in image.history))
    assert step_layer_indexes(bare) == (0, None, 1)
    # Surplus non-empty steps get no layer; layers no step reaches become units of their own.
    short = replace(bare, history=bare.history[:1])
    assert [(u.index, u.layer_index) for u in image_units(short)] == [(0, 0), (None, 1)]


def test_without_diff_ids_the_reader_matches_no_step_and_the_diff_matches_the_manifests_layers():
    # One rule (history.layer_indexes), two counts: the reader counts rootfs.diff_ids, so a
    # config without them leaves every step unmatched; the diff then counts the manifest's layers.
    image = build(spec(step("FROM", file("a")), step("ENV x=1"), step("RUN b", file("b"))))
    no_ids = replace(image, diff_ids=(), history=reconcile(image.history, 0))
    assert [s.layer_index for s in no_ids.history] == [None, None, None]
    assert step_layer_indexes(no_ids) == (0, None, 1)


def test_layer_count_mismatch_does_not_shift_later_steps():
    a = spec(step("FROM base", file("a")), step("COPY x / # buildkit", file("x")),
             step("RUN make # buildkit", file("m")), step("CMD [\"run\"]"))
    b = mark_empty(a, 1)
    pairs = align_images(build(a), build(b))
    assert rows(pairs) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert pairs[2].a.layer_index == 2 and pairs[2].b.layer_index == 1
    assert pairs[2].reason == REASON_EXACT


def test_inserted_and_removed_steps_are_explicit():
    a = spec(step("FROM base", file("a")), step("RUN one", file("1")), step("RUN two", file("2")))
    b = spec(step("FROM base", file("a")), step("LABEL new=1"), step("RUN two", file("2")))
    pairs = align_images(build(a), build(b))
    assert rows(pairs) == [(0, 0), (1, None), (None, 1), (2, 2)]
    assert [p.kind for p in pairs] == ["both", "only-a", "only-b", "both"]


def test_changed_instruction_pairs_by_keyword_and_builder_spellings_pair_with_a_reason():
    a = spec(step("FROM base", file("a")), step("RUN apt-get install x", file("x")), step("EXPOSE map[80/tcp:{}]"))
    b = spec(step("FROM base", file("a")), step("RUN apt-get install y", file("y")), step("/bin/sh -c #(nop)  EXPOSE 80/tcp"))
    pairs = align_images(build(a), build(b))
    assert rows(pairs) == [(0, 0), (1, 1), (2, 2)]
    assert pairs[1].reason == REASON_INSTRUCTION
    assert pairs[2].reason.startswith("normalised created_by (") and "Go map" in pairs[2].reason


def test_same_layer_with_rewritten_text_pairs_by_diff_id():
    a = spec(step("ADD file:abc in /", file("a")), step("CMD x"))
    b = spec(step("something else entirely", file("a")), step("CMD x"))
    pairs = align_images(build(a), build(b))
    assert rows(pairs) == [(0, 0), (1, 1)] and pairs[0].reason == REASON_LAYER


def test_repeated_steps_pair_by_layer_then_time_deterministically():
    # Two identical RUN texts; B lost the first. The layer decides which one B's is.
    a = spec(step("FROM", file("a")), step("RUN update", file("u1")), step("RUN update", file("u2")))
    b = spec(step("FROM", file("a")), step("RUN update", file("u2")))
    assert rows(align_images(build(a), build(b))) == [(0, 0), (1, None), (2, 1)]
    # Without layers to tell them apart the created time does.
    a = spec(step("FROM", file("a")), step("ENV X=1", created=5), step("ENV X=1", created=9))
    b = spec(step("FROM", file("a")), step("ENV X=1", created=5))
    b = replace(b, steps=(b.steps[0], replace(b.steps[1], created=a.steps[1].created)))
    assert rows(align_images(build(a), build(b))) == [(0, 0), (1, 1), (2, None)]


def test_unrelated_histories_do_not_pair():
    a = spec(step("ADD file:a in /", file("a")), step("USER x"))
    b = spec(step("COPY b /", file("b")), step("WORKDIR /"))
    assert rows(align_images(build(a), build(b))) == [(0, None), (1, None), (None, 0), (None, 1)]


TEXTS = st.sampled_from(["RUN a", "RUN b", "COPY c /", "ENV d=1", "EXPOSE 80", "WORKDIR /w"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TEXTS, st.booleans()), min_size=1, max_size=8), st.data())
def test_alignment_is_a_monotone_cover_and_keeps_identical_steps_paired(steps, data):
    specs = [step(t, file(f"f{i}")) if has_layer else step(t) for i, (t, has_layer) in enumerate(steps)]
    a = spec(*specs)
    drop = data.draw(st.sets(st.integers(0, len(specs) - 1)))
    b = spec(*[s for i, s in enumerate(a.steps) if i not in drop])
    pairs = align_images(build(a), build(b))
    ia = [p.a.index for p in pairs if p.a is not None]
    ib = [p.b.index for p in pairs if p.b is not None]
    assert ia == list(range(len(a.steps))) and ib == list(range(len(b.steps)))
    # Each kept step pairs with its own copy (same text, layer and time), never with a neighbour.
    kept = [i for i in range(len(a.steps)) if i not in drop]
    assert [(p.a.index, p.b.index) for p in pairs if p.a and p.b] == list(zip(kept, range(len(kept))))


def test_classic_copy_spelling_pairs_with_buildkits_by_destination():
    a = spec(step("FROM", file("a")), step("/bin/sh -c #(nop) COPY dir:3f2a9c0b1d in /app ", file("app/x")),
             step("/bin/sh -c #(nop) COPY file:9e8d7c6b5a in /etc/conf ", file("etc/conf")))
    b = spec(step("FROM", file("a")), step("COPY --chown=1:1 src /app # buildkit", file("app/x", "2")),
             step("COPY conf /etc/conf # buildkit", file("etc/conf", "2")))
    pairs = align_images(build(a), build(b))
    assert [p.reason for p in pairs[1:]] == [REASON_COPY_DEST, REASON_COPY_DEST]
    # Two BuildKit COPYs to different places are a changed step, not a spelling.
    c = spec(step("FROM", file("a")), step("COPY src /srv # buildkit", file("srv/x")),
             step("COPY conf /etc/conf # buildkit", file("etc/conf", "2")))
    assert [p.reason for p in align_images(build(b), build(c))[1:]] == [REASON_INSTRUCTION, REASON_EXACT]


def test_hostile_repetitive_histories_still_align():
    # Alternating steps defeat prefix trimming; past the limits a linear pass pairs them.
    a = spec(*[step(["RUN x", "RUN y"][i % 2]) for i in range(40)])
    b = spec(*[step(["RUN y", "RUN x"][i % 2]) for i in range(40)])
    pairs = align_images(build(a), build(b), Limits(max_alignment_cells=1, max_difflib_units=1))
    assert [p.a.index for p in pairs if p.a] == list(range(40)) and [p.b.index for p in pairs if p.b] == list(range(40))
    both = [(p.a.index, p.b.index) for p in pairs if p.a and p.b]
    assert len(both) == 39 and len({b - a for a, b in both}) == 1
    assert all(p.a.created_by == p.b.created_by for p in pairs if p.a and p.b)
