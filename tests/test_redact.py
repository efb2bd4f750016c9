"""Redacted snapshots still diff exactly: a redacted value equals the plain value it hides."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from imageforensics.diff._config import compare_config
from imageforensics.diff._engine import diff_images
from imageforensics.model import RunConfig
from imageforensics.redact import as_redacted_as, is_redacted, redact_env, redact_value
from imageforensics.snapshot import load_snapshot, write_snapshot
from tests.modelfactory import build, file, spec, step

ROOT = Path(__file__).resolve().parents[1]
PULLED = ROOT / "samples" / "tomcat-pulled.tar"


def with_config(**fields):
    image = build(spec(step("FROM", file("a"))))
    return replace(image, run_config=replace(image.run_config, **fields))


def test_a_redacted_env_value_equals_the_plain_value_it_hides():
    plain = with_config(env=("PATH=/bin", "TOKEN=s3cret", "BARE"), labels=(("owner", "me"),))
    hidden = with_config(env=redact_env(plain.run_config.env), labels=(("owner", redact_value("me")),))
    assert all(is_redacted(e.split("=", 1)[1]) for e in hidden.run_config.env if "=" in e)
    assert compare_config(plain, hidden) == [] and compare_config(hidden, plain) == []


def test_a_redacted_value_still_differs_from_another_plain_value():
    plain = with_config(env=("TOKEN=other",), labels=(("owner", "you"),))
    hidden = with_config(env=(f"TOKEN={redact_value('s3cret')}",), labels=(("owner", redact_value("me")),))
    fields = sorted(f.path for f in compare_config(plain, hidden) if f.code == "config-differs")
    assert fields == ["env", "labels"]


@given(st.dictionaries(st.text(st.characters(blacklist_characters="="), min_size=1, max_size=5), st.text(max_size=8), max_size=4),
       st.sets(st.text(min_size=1, max_size=5)))
def test_matching_redaction_only_touches_keys_hidden_on_the_other_side(env, hidden_keys):
    plain = RunConfig(env=tuple(f"{k}={v}" for k, v in env.items()))
    other = RunConfig(env=tuple(f"{k}={redact_value(v) if k in hidden_keys else v}" for k, v in env.items()))
    matched = as_redacted_as(plain, other)
    assert matched.env == other.env


@pytest.mark.skipif(not PULLED.is_file(), reason="samples not generated")
def test_redacted_snapshot_diffs_like_its_archive():
    from imageforensics.read._archive import read_archive

    archive = read_archive(str(PULLED))
    snap = load_snapshot(write_snapshot(archive, redact=frozenset({"env", "labels"})), source="pulled.json")
    image, snap_image = archive.images[0], snap.images[0]
    assert snap_image.run_config != image.run_config  # the values really are hidden
    report = diff_images(archive, image, snap, snap_image)
    assert report.verdict_kind == "identical" and report.exit_status == 0
    assert any("redacted: env, labels" in note for note in report.b.notes)


# Letters no digest, no "redacted:sha256:" and no instruction word holds, so a survivor is a leak.
_SECRET = st.text(alphabet="GHIJKLMNOPQUVWXYZgijklmnopquvwxyz!%+,;~ ", min_size=2, max_size=30).filter(
    lambda v: v.strip() and not v.startswith(" "))
_NAME = st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True)
_SPELLINGS = ("ENV {assign}", "/bin/sh -c #(nop)  ENV {assign}", "ARG {assign}", "/bin/sh -c #(nop)  ARG {assign}",
              "RUN |{n} {assign} /bin/sh -c make # buildkit", "|{n} {assign} /bin/sh -c make",
              "LABEL {assign}", "/bin/sh -c #(nop)  LABEL {assign}")


@given(st.lists(st.tuples(_NAME, _SECRET), min_size=1, max_size=3, unique_by=lambda kv: kv[0]),
       st.sampled_from(_SPELLINGS))
def test_no_value_survives_redaction_in_created_by(assignments, spelling):
    from imageforensics.redact import redact_created_by

    if spelling.startswith(("RUN |", "|")):
        # Build args in the |N prefix hold no spaces (the prefix is split on them).
        assignments = [(k, v.replace(" ", "")) for k, v in assignments if v.replace(" ", "")]
    text = spelling.format(n=len(assignments), assign=" ".join(f"{k}={v}" for k, v in assignments))
    redacted = redact_created_by(text, frozenset({"env", "labels"}))
    # The builder's own words around the assignments stay; a value must not survive between them
    # (the words themselves may hold its letters: "#(nop)" holds "no").
    head, tail = (part.format(n=len(assignments)) for part in spelling.split("{assign}"))
    assert redacted.startswith(head) and redacted.endswith(tail), (text, redacted)
    body = redacted[len(head):len(redacted) - len(tail)]
    for _, value in assignments:
        assert value.strip() not in body, (text, redacted)
    assert redact_created_by(redacted, frozenset({"env", "labels"})) == redacted
