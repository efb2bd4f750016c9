"""Property: a healthy inline cache built by BuildKit's rules is never flagged; the v0.8.0/0.8.1 shift always is, at the right step."""

from __future__ import annotations

from hypothesis import given, strategies as st

from imageforensics.audit import check_inline_cache, inline_cache_findings
from tests.cachekit import EMPTY_TAR, Step, build, v080_shift, with_cache

_INSTRUCTIONS = ("RUN a # buildkit", "COPY b /b # buildkit", "ADD c /c # buildkit", "WORKDIR /w")


@st.composite
def images(draw: st.DrawFn):
    n = draw(st.integers(1, 8))
    steps = [Step(draw(st.sampled_from(_INSTRUCTIONS)) + f" {i}", empty=draw(st.booleans()),
                  entries=(f"p{i}", f"p{i}/f")) for i in range(n)]
    base = draw(st.integers(0, 3))
    meta = tuple(sorted(draw(st.sets(st.integers(0, n - 1), max_size=n))))
    if base == 0 and steps[0].empty:
        base = 1  # an empty first layer of a FROM scratch image: no base to stand on
    return build(steps, base_layers=base, metadata_after=meta)


@given(images())
def test_a_healthy_cache_is_never_flagged(built):
    image, _ = built
    found = inline_cache_findings(image)
    assert [f.code for f in found] == ["inline-cache"]


@given(images())
def test_the_v080_shift_is_flagged_at_the_right_step(built):
    image, records = built
    empties = [i for i, d in enumerate(image.diff_ids) if d == EMPTY_TAR]
    poisoned = with_cache(image, v080_shift(image, records))
    check = check_inline_cache(poisoned)
    assert check is not None
    if not empties:
        assert check.kind == "healthy"
        return
    assert check.kind == "poisoned"
    n = len(image.diff_ids)
    k = len(empties)
    # The chain ends k layers short: the top k layer steps are the ones a --cache-from build flips.
    assert check.points_at == n - 1 - k and check.should == n - 1
    owners = {s.layer_index: s.index for s in image.history if s.layer_index is not None}
    assert [s.index for s in check.lost_steps] == [owners[i] for i in range(n - k, n)]
    (f,) = inline_cache_findings(poisoned)
    assert f.code == "inline-cache-poisoned" and f.step_a == owners[n - k]
