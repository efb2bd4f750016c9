"""What changed, grouped by step: the diff's typed per-path changes, and the tables built from them."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageforensics.diff._merged_fs import changed_fields, path_changes
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.model import FileEntry
from imageforensics.path_change import PathChange
from imageforensics.report._changes import ChangeRow, changes_by_step
from imageforensics.report._escape import display_width
from imageforensics.report._text import render_brief, render_text
from imageforensics.diff._engine import diff_images
from imageforensics.report._html import render_html
from imageforensics.report._markdown import render_markdown
from imageforensics.report._values import Report
from tests.modelfactory import archive, build, directory, file, spec, step, symlink
from tests.reportfactory import tomcat_report

_T0 = 1_612_451_953_000_000_000  # 2021-02-04 15:19:13 UTC
_SHA_A = "sha256:2440" + "1" * 56 + "0ab1"
_SHA_B = "sha256:d535" + "2" * 56 + "7f2e"


def _changed(path: str, a: FileEntry, b: FileEntry, *, step: int = 3, code: str = "paths-changed") -> Finding:
    fields = changed_fields(a, b)
    severity = Severity.INFO if code == "paths-mtime-differ" else Severity.WARNING
    return Finding(code=code, severity=severity, summary="s", step_a=step, step_b=step,
                   created_by="COPY app /app", paths=("/" + path,),
                   evidence=evidence(count=1, fields=tuple((f, 1) for f in fields),
                                     change_001=path_changes("/" + path, a, b, fields)))


def _report(*findings: Finding):  # type: ignore[no-untyped-def]
    return replace(tomcat_report(), findings=findings)


def _rows(*findings: Finding) -> list[ChangeRow]:
    return [row for group in changes_by_step(_report(*findings)) for row in group.rows]


def test_mode_mtime_and_content_read_as_the_issue_shows_them() -> None:
    run = FileEntry(path="app/run.sh", kind="file", mode=0o644, mtime_ns=_T0)
    cache = FileEntry(path="opt/app/cache", kind="dir", mode=0o755, mtime_ns=_T0 + 3_600 * 16 * 10**9 + 1_000 * 10**9)
    conf = FileEntry(path="etc/app.conf", kind="file", size=3100, content_digest=_SHA_A, mtime_ns=_T0)
    rows = _rows(_changed("app/run.sh", run, replace(run, mode=0o755)),
                 _changed("opt/app/cache", cache, replace(cache, mtime_ns=cache.mtime_ns + 28 * 10**9),
                          code="paths-mtime-differ"),
                 _changed("etc/app.conf", conf, replace(conf, size=3200, content_digest=_SHA_B)))
    assert ChangeRow("/app/run.sh", "mode", "0644", "0755") in rows
    assert ChangeRow("/opt/app/cache", "mtime", "07:35:53", "07:36:21 (+28 s)", mtime_only=True,
                     delta_ns=28 * 10**9) in rows
    assert ChangeRow("/etc/app.conf", "content", "3.1 kB sha256:2440…0ab1", "3.2 kB sha256:d535…7f2e") in rows


def test_the_text_report_tables_changes_by_step_and_folds_mtime_only_rows() -> None:
    run = FileEntry(path="app/run.sh", kind="file", mode=0o644, mtime_ns=_T0)
    dirs = [FileEntry(path=f"d{i}", kind="dir", mtime_ns=_T0) for i in range(14)]
    mtimes = Finding(code="paths-mtime-differ", severity=Severity.INFO, summary="s", step_a=3, step_b=3,
                     paths=tuple("/" + d.path for d in dirs),
                     evidence=evidence(count=14, fields=(("mtime", 14),), **{
                         f"change_{i:03d}": path_changes("/" + d.path, d, replace(d, mtime_ns=_T0 + 28 * 10**9), ("mtime",))
                         for i, d in enumerate(dirs, 1)}))
    report = _report(_changed("app/run.sh", run, replace(run, mode=0o755)), mtimes)
    text = render_text(report)
    assert "  step 3  COPY app /app\n" in text
    assert re.search(r"\n    /app/run\.sh +mode +0644 +0755\n", text)
    assert "and 14 paths that differ only in mtime (+28 s); --all-mtimes lists them" in text
    listed = render_text(report, all_mtimes=True, max_paths=20)
    assert re.search(r"\n    /d13 +mtime +15:19:13 +15:19:41 \(\+28 s\)\n", listed)
    assert "only in mtime" not in listed


def test_max_paths_caps_the_changes_and_the_evidence_details() -> None:
    entries = [FileEntry(path=f"f{i:02d}", kind="file", mode=0o644) for i in range(30)]
    f = Finding(code="paths-changed", severity=Severity.WARNING, summary="s", step_a=3, step_b=3,
                paths=tuple("/" + e.path for e in entries),
                evidence=evidence(count=30, fields=(("mode", 30),), **{
                    f"change_{i:03d}": path_changes("/" + e.path, e, replace(e, mode=0o600), ("mode",))
                    for i, e in enumerate(entries[:20], 1)}))
    # The layer's entries: the same 30 paths, and 5 whose changes the merged filesystem does not show
    # (a later step wrote them again).
    hidden = [FileEntry(path=f"later/h{i}", kind="file", mode=0o644) for i in range(5)]
    details = [*entries[:20], *hidden]
    layer = Finding(code="layer-content-differs", severity=Severity.WARNING, summary="s", step_a=3, step_b=3,
                    paths=(*f.paths, *("/" + e.path for e in hidden)), evidence=evidence(changed_entries=35, **{
                        f"entry_{i:03d}": (PathChange("/" + e.path, "mode", 0o644, 0o600),)
                        for i, e in enumerate(details, 1)}))
    text = render_text(_report(f, layer), max_paths=3)
    assert "/f02 " in text and "/f03 " not in text.split("WARNING")[0]
    assert "… and 27 more changes" in text
    # The table says each path's change; the findings do not repeat it.
    assert "change_001=" not in text
    # Its paths with a row under CHANGED are counted there; the 10 without a detail are named, capped.
    assert "paths (30): 20 under CHANGED, step 3, each with its change" in text
    finding = text[text.index("paths (30):"):]
    assert "/f20" in finding and "/f22" in finding and "/f23" not in finding and "/f19" not in finding
    assert "… and 7 more (--max-paths to show)" in finding
    assert not re.search(r"entry_0(0\d|1\d|20)=", text)
    # The layer's other entries are listed, capped.
    assert "entry_021=/later/h0" in text and "entry_023=/later/h2" in text and "entry_024=" not in text
    assert "… and 2 more details (--max-paths to show)" in text
    assert "paths (35): 30 under CHANGED, step 3" in text and "… and 2 more (--max-paths to show)" in text


def test_a_change_of_a_path_the_finding_does_not_list_is_refused() -> None:
    with pytest.raises(ValueError, match="a path it does not list"):
        Finding(code="paths-changed", severity=Severity.WARNING, summary="s", paths=("/x",),
                evidence=evidence(count=1, change_001=(PathChange("/y", "mode", 0o644, 0o755),)))
    with pytest.raises(ValueError, match="must be of type tuple\\[PathChange, ...\\]"):
        Finding(code="paths-changed", severity=Severity.WARNING, summary="s", paths=("/x", "/y"),
                evidence=evidence(count=2, change_001=(PathChange("/x", "mode", 0o644, 0o755),
                                                       PathChange("/y", "uid", 0, 1))))
    with pytest.raises(ValueError, match="must be of type"):
        Finding(code="paths-changed", severity=Severity.WARNING, summary="s", paths=("/x",),
                evidence=evidence(count=1, change_001="/x: mode 0644 → 0755"))
    with pytest.raises(ValueError, match="mode in B must be int"):
        PathChange("/x", "mode", 0o644, "0755")
    with pytest.raises(ValueError, match="the same in A and B"):
        PathChange("/x", "uid", 5, 5)


def test_a_hostile_path_cannot_shift_the_columns() -> None:
    path = "a: mode 0o777 -> 0o000; b"
    a = FileEntry(path=path, kind="file", mode=0o644)
    rows = _rows(_changed(path, a, replace(a, uid=5)))
    assert rows == [ChangeRow("/" + path, "uid", "0", "5")]


_entries = st.builds(
    FileEntry, path=st.just("p"), kind=st.sampled_from(["file", "dir", "symlink"]),
    size=st.integers(0, 10**12), mode=st.integers(0, 0o7777), uid=st.integers(0, 2**32), gid=st.integers(0, 2**32),
    mtime_ns=st.integers(-(10**19), 10**19), linkname=st.text(max_size=8),
    content_digest=st.sampled_from(["", _SHA_A, _SHA_B]),
    xattrs=st.lists(st.tuples(st.text(max_size=3), st.text(max_size=3)), max_size=2).map(tuple))


@settings(max_examples=200, deadline=None)
@given(_entries, _entries)
def test_every_field_the_diff_finds_changed_is_one_typed_change_and_one_row(a: FileEntry, b: FileEntry) -> None:
    fields = changed_fields(a, b)
    if not fields:
        return
    changes = path_changes("/p", a, b, fields)
    named = {"content_digest": "content"}
    assert [c.field for c in changes] == [named.get(f, f) for f in fields]
    exact = {"size": (a.size, b.size), "mode": (a.mode, b.mode), "uid": (a.uid, b.uid), "gid": (a.gid, b.gid),
             "mtime": (a.mtime_ns, b.mtime_ns), "kind": (a.kind, b.kind), "linkname": (a.linkname, b.linkname),
             "xattrs": (a.xattrs, b.xattrs)}
    for c in changes:
        if c.field in exact:
            assert (c.a, c.b) == exact[c.field]
        elif c.field == "content":
            assert (str(c.a) if c.a else "", str(c.b) if c.b else "") == (a.content_digest, b.content_digest)
    rows = _rows(_changed("p", a, b))
    shown = {"content_digest": "content", "linkname": "link"}
    expected = {shown.get(f, f) for f in fields}
    if "content_digest" in fields:
        expected.discard("size")  # said with the content
    assert {r.change for r in rows} == expected, (rows, fields)
    for row in rows:
        if row.change == "mode":
            assert (row.a, row.b) == (f"{a.mode:04o}", f"{b.mode:04o}")
        if row.change == "uid":
            assert (row.a, row.b) == (str(a.uid), str(b.uid))
        if row.change == "link":
            assert (row.a, row.b) == (a.linkname, b.linkname)


def _diff(a_entries: tuple[FileEntry, ...], b_entries: tuple[FileEntry, ...]) -> Report:
    base = step("ADD rootfs /", directory("app"), file("bin/sh", "sh"))
    image_a = build(spec(base, step("COPY app /app", *a_entries)))
    image_b = build(spec(base, step("COPY app /app", *b_entries)))
    return diff_images(archive(image_a, source="a.tar"), image_a, archive(image_b, source="b.tar"), image_b)


def test_a_mode_change_is_the_typed_change_the_diff_found_and_its_row_in_every_format() -> None:
    report = _diff((file("app/run.sh", "echo", mode=0o644),), (file("app/run.sh", "echo", mode=0o755),))
    changed = next(f for f in report.findings if f.code == "paths-changed")
    assert changed.evidence_value("change_001") == (PathChange("/app/run.sh", "mode", 0o644, 0o755),)
    layer = next(f for f in report.findings if f.code == "layer-content-differs")
    assert layer.evidence_value("entry_001") == (PathChange("/app/run.sh", "mode", 0o644, 0o755),)
    assert [r for g in changes_by_step(report) for r in g.rows] == [ChangeRow("/app/run.sh", "mode", "0644", "0755")]
    assert re.search(r"\n    /app/run\.sh +mode +0644 +0755\n", render_text(report))
    assert "| `/app/run.sh` | mode | 0644 | 0755 |" in render_markdown(report)
    assert re.search(r"<td><code>/app/run\.sh</code></td>\s*<td>mode</td>\s*<td>0644</td>\s*<td>0755</td>",
                     render_html(report))


def test_a_changed_symlink_target_and_kind_are_typed_as_the_diff_found_them() -> None:
    report = _diff((symlink("app/current", "v1"), file("app/x", "1")),
                   (symlink("app/current", "v3"), symlink("app/x", "/etc/passwd")))
    changes = {c for f in report.findings if f.code == "paths-changed"
               for name, v in f.evidence if name.startswith("change_") for c in v}  # type: ignore[union-attr]
    assert PathChange("/app/current", "linkname", "v1", "v3") in changes
    assert PathChange("/app/x", "kind", "file", "symlink") in changes
    rows = [r for g in changes_by_step(report) for r in g.rows]
    assert ChangeRow("/app/current", "link", "v1", "v3") in rows
    assert ChangeRow("/app/x", "kind", "file", "symlink") in rows


# Names made of what a reading of text would split on.
_SPLITTERS = ("a", "b", ": ", " → ", "→", "; ", ";", "\n", " ", "mode ", "uid ", "0644", "(", ")", " in A, ")
_hostile_names = st.lists(st.sampled_from(_SPLITTERS), min_size=1, max_size=8).map("".join).filter(
    lambda n: "/" not in n and n.strip() not in ("", ".", ".."))


@settings(max_examples=150, deadline=None)
@given(_hostile_names, _hostile_names, _hostile_names)
def test_names_holding_separators_cannot_shift_the_columns(name: str, target_a: str, target_b: str) -> None:
    if target_a == target_b:
        target_b += "x"
    a = (file(f"app/{name}", "1", mode=0o644), symlink(f"app/{name}.link", target_a))
    b = (file(f"app/{name}", "1", mode=0o755, uid=7), symlink(f"app/{name}.link", target_b))
    rows = [r for g in changes_by_step(_diff(a, b)) for r in g.rows]
    assert rows == [ChangeRow(f"/app/{name}", "mode", "0644", "0755"), ChangeRow(f"/app/{name}", "uid", "0", "7"),
                    ChangeRow(f"/app/{name}.link", "link", target_a, target_b)]
    # The text table shows each row on one line, its path escaped, whatever the names hold.
    text = render_text(_diff(a, b), width=400)
    table = text.split("CHANGED", 1)[1].split("\n\n", 2)[1].splitlines()
    assert len(table) == 5 and table[1].split() == ["PATH", "CHANGE", "A", "B"]
    assert all(line.startswith("    /app/") for line in table[2:])


def test_full_digests_are_never_broken_over_lines() -> None:
    conf = FileEntry(path="etc/app.conf", kind="file", size=3100, content_digest=_SHA_A)
    report = _report(*tomcat_report().findings, _changed("etc/app.conf", conf, replace(conf, content_digest=_SHA_B)))
    for width in (80, 100, 132):
        text = render_text(report, full_digests=True, width=width)
        assert max(display_width(line) for line in text.splitlines()) <= width
        for digest in re.findall(r"sha256:[0-9a-f]+", text):
            assert len(digest) == 71, (width, digest)
        assert _SHA_A in text and _SHA_B in text
        short = render_text(report, width=width)
        assert _SHA_A not in short and "sha256:2440…0ab1" in short


def test_brief_is_the_verdict_alone() -> None:
    report = tomcat_report()
    assert render_brief(report) == report.verdict + "\n"
    assert render_brief(report).count("\n") == 1


def test_mtime_only_paths_are_named_by_their_finding_while_the_table_folds_them() -> None:
    dirs = [FileEntry(path=f"d{i}", kind="dir", mode=0o755, mtime_ns=10**18) for i in range(4)]
    f = Finding(code="paths-mtime-differ", severity=Severity.INFO, summary="s", step_a=2, step_b=2,
                paths=tuple("/" + e.path for e in dirs),
                evidence=evidence(count=4, fields=(("mtime", 4),), **{
                    f"change_{i:03d}": path_changes("/" + e.path, e, replace(e, mtime_ns=e.mtime_ns + 10**9), ("mtime",))
                    for i, e in enumerate(dirs, 1)}))
    folded = render_text(_report(f))
    assert "and 4 paths that differ only in mtime (+1 s)" in folded
    assert "their mtimes: counted under CHANGED, step 2 (--all-mtimes lists each)" in folded
    assert "paths (4):" in folded and all(f"  /d{i}\n" in folded for i in range(4))
    listed = render_text(_report(f), all_mtimes=True)
    # Each is a row of the table now: the finding counts them and names none again.
    assert "paths (4): 4 under CHANGED, step 2, each with its change" in listed
    assert "their mtimes" not in listed
    assert sum(line.strip().startswith("/d0") for line in listed.splitlines()) == 1
