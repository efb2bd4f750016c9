"""Properties of the diff on varied synthetic images (built with modelfactory):
diff(a, a) is empty, diff(b, a) mirrors diff(a, b), and each injected corruption
yields exactly the expected findings at the right step and nothing else of
warning severity or above (but the signals each image's audit gives of it, where
they are stated). Filesystem expectations come from a naive reference merge
(modelfactory.naive_merge), not from the code under test."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import assume, given, settings, strategies as st

from imageforensics.audit import image_findings
from imageforensics.catalogue import REGISTRY, Category, code_spec
from imageforensics.diff._engine import diff_images
from imageforensics.digest import Digest
from imageforensics.options import DiffOptions
from imageforensics.findings import Severity
from tests.modelfactory import (EMPTY_GZIP_BUILDKIT, NS, T0_NS, add_whiteout, archive, build, change_content,
                                directory, drop_entry, file, insert_step, known_empty_layer, layer, mark_empty,
                                naive_merge, opaque, shift_time, spec, step, symlink, tree, whiteout)

DIRS = ["etc", "etc/app", "usr/local/bin", "opt/app/lib", "var/lib/data"]
NAMES = ["a", "b", "conf", "run.sh"]
METADATA = ["ENV A=1", "EXPOSE map[8080/tcp:{}]", "WORKDIR /app", 'CMD ["serve"]', "LABEL k=v"]


def merged(image_spec, upto=None):
    layers = [s.layer.entries for s in image_spec.steps[:upto] if s.layer is not None]
    return naive_merge(layers)


@st.composite
def image_specs(draw, min_steps=2, max_steps=7):
    n = draw(st.integers(min_steps, max_steps))
    steps = []
    t = T0_NS
    so_far = []
    for i in range(n):
        t += draw(st.sampled_from([0, 1, 1_000_000, 89_607_600, 3 * NS]))
        if i > 0 and draw(st.integers(0, 2)) == 0:
            steps.append(step(draw(st.sampled_from(METADATA)), created=t))
            continue
        files = draw(st.lists(st.tuples(st.sampled_from(DIRS), st.sampled_from(NAMES), st.booleans()),
                              min_size=1, max_size=5, unique_by=lambda x: x[:2]))
        paths = [f"{d}/{name}{'' if shared else '-' + str(i)}" for d, name, shared in files]
        data = draw(st.sampled_from(["v1", "v2"]))
        entries = list(tree(*paths, data=data))
        if draw(st.booleans()):
            entries[0] = replace(entries[0], mode=draw(st.sampled_from([0o755, 0o700])))
        visible = sorted(p for p in merged(spec(*steps)) if p not in paths
                         and not any(q.startswith(p + "/") or p.startswith(q + "/") for q in paths))
        if visible and draw(st.integers(0, 3)) == 0:
            entries.append(whiteout(draw(st.sampled_from(visible))))
        if visible and draw(st.integers(0, 4)) == 0:
            # A lower path replaced by another type: a symlink, or a file over a directory.
            target = draw(st.sampled_from(visible))
            entries.append(symlink(target, "/elsewhere") if draw(st.booleans()) else file(target, "now a file"))
        if so_far and draw(st.integers(0, 5)) == 0:
            entries.append(opaque(draw(st.sampled_from(DIRS))))
        text = draw(st.sampled_from([f"RUN build-{i} # buildkit", f"COPY dir{i} / # buildkit",
                                     "RUN apt-get update # buildkit"]))
        steps.append(step(text, *entries, created=t))
        so_far.extend(paths)
    return spec(*steps)


def diff(sa, sb, options=DiffOptions()):
    ia, ib = build(sa), build(sb)
    return diff_images(archive(ia, source="a.tar"), ia, archive(ib, source="b.tar"), ib, options)


# The diff's own codes; any other finding in a report is one side's audit, carried.
OWN_CODES = {spec.code for spec in REGISTRY.values() if spec.category not in (Category.INTEGRITY, Category.TIME_SIGNAL)}


def serious(report):
    """The report's findings at WARNING or above, but for a problem both images' own audits share.

    A generated image may hold such a problem (an entry written through one of its symlinks): the
    diff shows it once, for both (tests/diff/test_samples.py checks that), and it is not what a
    property's change made.
    """
    return [f for f in report.findings
            if f.severity >= Severity.WARNING and not (f.side == "" and f.code not in OWN_CODES)]


def fs_delta(sa, sb):
    ma = {p: e for p, (e, _) in merged(sa).items()}
    mb = {p: e for p, (e, _) in merged(sb).items()}
    missing = {"/" + p for p in ma.keys() - mb.keys()}
    added = {"/" + p for p in mb.keys() - ma.keys()}
    changed = {"/" + p for p in ma.keys() & mb.keys() if ma[p] != mb[p]}
    return missing, added, changed


def paths_of(report, *codes):
    return {p for f in report.findings if f.code in codes for p in f.paths}


def layer_steps(s):
    return [i for i, st_ in enumerate(s.steps) if st_.layer is not None]


SETTINGS = settings(max_examples=50, deadline=None)


@SETTINGS
@given(image_specs())
def test_an_image_against_itself_has_no_findings_but_its_own_audit_problems(s):
    # Audited: a signal both sides share (at the same steps) is no difference, but a problem is said once.
    ia = build(s)
    report = diff_images(archive(ia), ia, archive(ia), ia)
    own = sorted((f.code, f.step_a) for f in image_findings(ia) if f.severity >= Severity.WARNING)
    assert sorted((f.code, f.step_a) for f in report.findings) == own
    assert all(f.side == "" and f.step_a == f.step_b for f in report.findings)
    assert report.verdict_kind == "identical" and report.exit_status == 0
    assert all(r.match == "same" and r.marks == () for r in report.steps)


@SETTINGS
@given(image_specs())
def test_the_same_image_packaged_differently_is_identical_with_info_notes_only(s):
    ia = build(s)
    gz = replace(ia, layers=tuple(replace(l, compression="gzip", blob_digest=type(l.blob_digest).sha256(
        "f" * 63 + str(n % 10)), size=l.size // 2) for n, l in enumerate(ia.layers)))
    report = diff_images(archive(ia), ia, archive(gz, source="b.tar.gz", layout="oci-archive", compression="gzip"), gz)
    assert report.verdict_kind == "identical" and report.exit_status == 0
    assert [f.code for f in report.findings] == ["packaging-differs"]
    assert report.findings[0].severity is Severity.INFO


MIRROR = {"paths-missing": "paths-added", "paths-added": "paths-missing", "step-only-in-a": "step-only-in-b",
          "step-only-in-b": "step-only-in-a", "layer-only-in-a": "layer-only-in-b", "layer-only-in-b": "layer-only-in-a"}


def mirrored(f):
    drift = f.evidence_value("drift_ns")
    if f.code in ("timestamp-drift", "image-created-differs") and drift is not None:
        assert isinstance(drift, int)
        drift = -drift  # B minus A: negated when the sides swap
    # Path findings are always about B (B lacks the missing paths, holds the
    # added ones), so swapping the images swaps their codes but not their side;
    # the image that lacks them (absent_from) swaps.
    side = f.side if f.code in ("paths-missing", "paths-added") else {"A": "B", "B": "A"}.get(f.side, f.side)
    absent = {"A": "B", "B": "A"}.get(str(f.evidence_value("absent_from")))
    return (MIRROR.get(f.code, f.code), f.step_b, f.step_a, side,
            tuple(sorted(f.paths)), drift, f.severity, f.evidence_value("cause"), absent)


def plain(f):
    return (f.code, f.step_a, f.step_b, f.side, tuple(sorted(f.paths)), f.evidence_value("drift_ns"), f.severity,
            f.evidence_value("cause"), {"A": "A", "B": "B"}.get(str(f.evidence_value("absent_from"))))


@SETTINGS
@given(image_specs(), image_specs(), st.booleans())
def test_diff_b_a_mirrors_diff_a_b(sa, other, related):
    sb = other if not related else replace(other, steps=sa.steps[: len(sa.steps) // 2] + other.steps)
    ab, ba = diff(sa, sb), diff(sb, sa)
    assert diff(sa, sb) == ab  # deterministic: the same inputs give the same report
    one_image = (Category.INTEGRITY, Category.TIME_SIGNAL)
    # One image's signal is that image's (A or B), or both images' at once ("").
    assert all(code_spec(f.code).category not in one_image or f.side in ("A", "B") or f.summary.startswith(
        "in both images: ") for f in ab.findings)
    assert sorted(map(repr, map(mirrored, ab.findings))) == sorted(map(repr, map(plain, ba.findings)))
    # The verdict too: the same kind, with the sides swapped.
    assert ab.verdict_kind == ba.verdict_kind, (ab.verdict, ba.verdict)
    if ab.verdict_kind == "missing-content":
        assert ab.verdict[0] != ba.verdict[0] and ab.verdict[1:].startswith(" is missing content that ")
    assert [(r.index_a, r.index_b) for r in ab.steps if r.index_a is not None and r.index_b is not None] == \
        [(r.index_b, r.index_a) for r in ba.steps if r.index_a is not None and r.index_b is not None]
    assert [r.drift_ns for r in ab.steps if r.index_a is not None and r.index_b is not None] == \
        [-r.drift_ns if r.drift_ns is not None else None for r in ba.steps
         if r.index_a is not None and r.index_b is not None]


@SETTINGS
@given(image_specs(), st.data())
def test_step_marked_empty_with_its_layer_dropped(s, data):
    k = data.draw(st.sampled_from(layer_steps(s)))
    sb = mark_empty(s, k)
    # Audited like a read archive: the audit's own signal on B's step is carried too.
    report = diff(s, sb)
    found = serious(report)
    [empty] = [f for f in found if f.code == "step-wrongly-empty"]
    # ERROR when content is lost; a WARNING when later steps rewrote everything the step wrote.
    lost = {p for p in fs_delta(s, sb)[0] if _writer_steps(s)[p[1:]] == k}
    assert (empty.step_a, empty.step_b, empty.side) == (k, k, "B")
    assert empty.severity is (Severity.ERROR if lost else Severity.WARNING)
    assert empty.evidence_value("entries_a") == len(s.steps[k].layer.entries)
    [signal] = [f for f in report.findings if f.code == "fs-step-marked-empty"]
    assert (signal.side, signal.step_a, signal.step_b) == ("B", None, k)
    found = [f for f in found if f is not signal]
    assert {f.code for f in found} <= {"step-wrongly-empty", "paths-missing", "paths-added", "paths-changed",
                                       "paths-mtime-differ"}
    assert all(f.step_a == k for f in found), [(f.code, f.step_a) for f in found]
    missing, added, changed = fs_delta(s, sb)
    assert paths_of(report, "paths-missing") == missing
    assert paths_of(report, "paths-added") == added
    assert paths_of(report, "paths-changed", "paths-mtime-differ") == changed
    if missing:
        assert report.verdict_kind == "missing-content"
        assert report.verdict.startswith(f"B is missing content that A has: step {k} ")


def _layer_change_expectations(report, s, sb, k, *, audits=frozenset()):
    # ``audits``: codes of the images' own audits the change may raise as well, said about the images,
    # not the pair (an entry written below a symlink, checked by tests/hostile and tests/test_rootfs.py).
    found = [f for f in serious(report) if not (f.code in audits and f.side in ("A", "B", ""))]
    becomes_empty = not sb.steps[k].layer.entries
    expected_code = "step-wrongly-empty" if becomes_empty else "layer-content-differs"
    [main] = [f for f in found if f.code == expected_code]
    assert (main.step_a, main.step_b) == (k, k)
    missing, added, changed = fs_delta(s, sb)
    assert paths_of(report, "paths-missing") == missing
    assert paths_of(report, "paths-added") == added
    assert paths_of(report, "paths-changed", "paths-mtime-differ") == changed
    others = [f for f in found if f is not main]
    assert {f.code for f in others} <= {"paths-missing", "paths-added", "paths-changed", "paths-mtime-differ"}
    return others


@SETTINGS
@given(image_specs(), st.data())
def test_a_file_dropped_from_a_layer(s, data):
    k = data.draw(st.sampled_from(layer_steps(s)))
    files = [e.path for e in s.steps[k].layer.entries if e.kind == "file"]
    assume(files)
    p = data.draw(st.sampled_from(files))
    sb = drop_entry(s, k, p)
    others = _layer_change_expectations(diff(s, sb), s, sb, k)
    assert all(f.step_a == k for f in others)


@SETTINGS
@given(image_specs(), st.data())
def test_one_byte_of_a_file_changed(s, data):
    k = data.draw(st.sampled_from(layer_steps(s)))
    files = [e.path for e in s.steps[k].layer.entries if e.kind == "file"]
    assume(files)
    p = data.draw(st.sampled_from(files))
    sb = change_content(s, k, p)
    report = diff(s, sb)
    others = _layer_change_expectations(report, s, sb, k)
    assert all(f.code == "paths-changed" and f.step_a == k and f.paths == ("/" + p,) for f in others)
    [layer_finding] = [f for f in report.findings if f.code == "layer-content-differs"]
    assert layer_finding.paths == ("/" + p,)
    [content] = [c for c in layer_finding.evidence_value("entry_001") if c.field == "content"]
    assert content.path == "/" + p and isinstance(content.a, Digest) and isinstance(content.b, Digest)


@SETTINGS
@given(image_specs(min_steps=3), st.data())
def test_a_whiteout_added(s, data):
    k = data.draw(st.sampled_from([i for i in layer_steps(s) if i > 0] or [0]))
    own = {e.path for e in s.steps[k].layer.entries}
    below = sorted(p for p in merged(s, k) if not any(o == p or o.startswith(p + "/") for o in own))
    assume(below)
    p = data.draw(st.sampled_from(below))
    sb = add_whiteout(s, k, p)
    report = diff(s, sb)
    # Step k's own layer may turn a parent of p into a symlink: the whiteout then goes through it, and
    # where it lands is what fs_delta's reference merge computes.
    others = _layer_change_expectations(report, s, sb, k, audits=frozenset({"layer-write-through-symlink"}))
    assert all(f.code == "paths-missing" and f.step_b == k for f in others)
    assert all(f" deleted in B by step {k} " in f.summary for f in others)
    # B's own step removed them: a change with its cause, never an ERROR of lost content.
    assert all(f.severity is Severity.WARNING and f.evidence_value("cause") == "removed" for f in others)


@SETTINGS
@given(image_specs(), st.data(), st.sampled_from([1, -1, 89_607_600, -89_607_600, 7 * NS]))
def test_one_timestamp_shifted(s, data, ns):
    k = data.draw(st.integers(0, len(s.steps) - 1))
    report = diff(s, shift_time(s, k, ns))
    [f] = [f for f in serious(report) if f.code in OWN_CODES]
    # A side's audit may see the shifted time too (e.g. time going backwards): only time signals.
    assert all(code_spec(x.code).category is Category.TIME_SIGNAL and x.side in ("A", "B") for x in serious(report) if x is not f)
    assert (f.code, f.step_a, f.step_b) == ("timestamp-drift", k, k)
    assert f.evidence_value("drift_ns") == ns
    assert f.evidence_value("drifts") == ((k, ns),)
    assert report.verdict_kind == "metadata"
    assert [r.index_a for r in report.steps if "created" in r.marks] == [k]
    # Ignoring timestamps, the two are the same image after ignores.
    ignored = diff(s, shift_time(s, k, ns), DiffOptions(ignore_timestamps=True))
    assert serious(ignored) == [] and ignored.verdict_kind == "identical" and ignored.exit_status == 0
    assert ignored.verdict.startswith("identical after ignores")


@SETTINGS
@given(image_specs(), st.data(), st.booleans())
def test_a_step_inserted(s, data, with_layer):
    k = data.draw(st.integers(1, len(s.steps)))
    new = step("RUN inserted-step # buildkit", *tree("inserted/dir/x")) if with_layer else step("LABEL inserted=1")
    sb = insert_step(s, k, new)
    report = diff(s, sb)
    found = serious(report)
    [only] = [f for f in found if f.code == "step-only-in-b"]
    assert (only.step_a, only.step_b) == (None, k)
    rest = [f for f in found if f is not only]
    if with_layer:
        [added] = rest
        assert added.code == "paths-added" and added.step_b == k
        assert set(added.paths) == {"/inserted", "/inserted/dir", "/inserted/dir/x"}
    else:
        assert rest == []
    assert report.verdict_kind == "diverged" and report.verdict.startswith(f"diverged at step {k} of B ")


def test_copy_step_with_buildkits_empty_gzip_blob_is_called_out():
    a = spec(step("FROM x", file("a")), step("COPY rootfs / # buildkit", file("etc/conf", "c")))
    b = replace(a, steps=(a.steps[0], replace(a.steps[1], layer=known_empty_layer(EMPTY_GZIP_BUILDKIT))))
    report = diff(a, b)
    [f] = [f for f in report.findings if f.code == "step-wrongly-empty"]
    assert "an empty layer (32-byte empty gzip (BuildKit EmptyGZLayer))" in f.summary
    assert "BuildKit's empty gzip blob 4f4fb700ef54" in f.summary


def test_ignored_paths_do_not_count():
    a = spec(step("FROM x", *tree("app/main", "var/cache/apt/1")))
    b = spec(step("FROM x", *tree("app/main", "var/cache/apt/2")))
    plain_report = diff(a, b)
    assert plain_report.verdict_kind == "missing-content"
    report = diff(a, b, DiffOptions(ignore=("/var/cache",)))
    assert serious(report) == [] and report.exit_status == 0
    assert [f.code for f in report.findings] == ["layer-differs-ignored"]
    assert report.options == (("ignore", "/var/cache"),)
    # An ignore that does not cover the difference changes nothing: the one step wrote the other path in one
    # image only, and no step removed it, in either direction.
    assert diff(a, b, DiffOptions(ignore=("/var/cache/apt/1",))).verdict.startswith(
        "A is missing content that B has: 1 path written by step 0 `FROM x` in B is missing from A")
    assert diff(a, b, DiffOptions(ignore=("/var/cache/apt/2",))).verdict.startswith(
        "B is missing content that A has: 1 path written by step 0 `FROM x` in A is missing from B")


def test_mtime_only_changes_are_timestamps():
    a = spec(step("FROM x", directory("d", mtime=1), file("d/f", "same", mtime=1)))
    b = spec(step("FROM x", directory("d", mtime=1), file("d/f", "same", mtime=2)))
    report = diff(a, b)
    # Said once, as INFO: by the paths' finding (the layer's would say the same).
    assert serious(report) == [] and [f.code for f in report.findings] == ["paths-mtime-differ"]
    assert report.verdict_kind == "metadata"
    assert "mtime" in report.verdict and "1796" not in report.verdict
    ignored = diff(a, b, DiffOptions(ignore_timestamps=True))
    assert ignored.verdict_kind == "identical" and [f.code for f in ignored.findings] == ["layer-differs-ignored"]


def _writer_steps(image_spec):
    """Path -> history index of the step whose layer last wrote it (reference merge)."""
    with_layers = [i for i, x in enumerate(image_spec.steps) if x.layer is not None]
    return {p: with_layers[layer_index] for p, (_, layer_index) in merged(image_spec).items()}


@SETTINGS
@given(image_specs(), image_specs(), st.booleans())
def test_filesystem_findings_match_the_reference_merge_and_its_attribution(sa, other, related):
    sb = other if not related else replace(other, steps=sa.steps[: len(sa.steps) // 2] + other.steps)
    report = diff(sa, sb)
    missing, added, changed = fs_delta(sa, sb)
    assert paths_of(report, "paths-missing") == missing
    assert paths_of(report, "paths-added") == added
    assert paths_of(report, "paths-changed", "paths-mtime-differ") == changed
    wa, wb = _writer_steps(sa), _writer_steps(sb)
    for f in report.findings:
        for p in f.paths:
            if f.code == "paths-missing":
                assert f.step_a == wa[p[1:]]
            elif f.code == "paths-added":
                assert f.step_b == wb[p[1:]]
            elif f.code in ("paths-changed", "paths-mtime-differ"):
                assert (f.step_a, f.step_b) == (wa[p[1:]], wb[p[1:]])
    # Each path is reported once.
    listed = [p for f in report.findings if f.code.startswith("paths-") for p in f.paths]
    assert len(listed) == len(set(listed))


@SETTINGS
@given(image_specs(), st.data(), st.sampled_from(["empty-gzip", "empty-tar", "entry-less"]))
def test_a_layer_bearing_step_given_an_empty_layer(s, data, how):
    k = data.draw(st.sampled_from(layer_steps(s)))
    empty = {"empty-gzip": known_empty_layer(EMPTY_GZIP_BUILDKIT), "empty-tar": known_empty_layer(),
             "entry-less": layer()}[how]
    sb = replace(s, steps=s.steps[:k] + (replace(s.steps[k], layer=empty),) + s.steps[k + 1:])
    report = diff(s, sb)
    found = serious(report)
    # B's audit sees BuildKit's empty gzip blob on a COPY step (the cache-import corruption).
    signals = [(x.code, x.side, x.step_b) for x in found if x.code not in OWN_CODES]
    copies = s.steps[k].created_by.startswith("COPY ")
    assert signals == ([("empty-gzip-on-copy", "B", k)] if how == "empty-gzip" and copies else [])
    found = [x for x in found if x.code in OWN_CODES]
    [f] = [f for f in found if f.code == "step-wrongly-empty"]
    assert (f.step_a, f.step_b, f.side) == (k, k, "B")
    assert f.evidence_value("state_b").startswith("an empty layer (")
    assert {x.code for x in found} <= {"step-wrongly-empty", "paths-missing", "paths-added", "paths-changed",
                                       "paths-mtime-differ"}
    assert all(x.step_a == k for x in found), [(x.code, x.step_a, x.step_b, x.paths) for x in found]
    missing, _, _ = fs_delta(s, sb)
    assert paths_of(report, "paths-missing") == missing
