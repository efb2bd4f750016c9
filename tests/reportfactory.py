"""Hand-built Report values for the renderer tests (the diff engine is not used here).

``tomcat_report()`` is the seed's case in miniature, as REPORT-MOCK.md
describes it: the pulled image's ``COPY rootfs /`` carries a 7.65 kB layer
of 12 entries, the cache-from rebuild marks it empty_layer, and history
diverges from ``EXPOSE 8080`` with B's times 89.6 ms earlier.
``hostile_report(text)`` puts one untrusted string into every field that
comes from an archive. ``reports()`` is a hypothesis strategy over Reports.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from imageforensics.catalogue import REGISTRY, CodeSpec, Key
from imageforensics.digest import Digest
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.path_change import LINK_NAMES, PathChange
from imageforensics.report._values import VERDICT_KINDS, InputSide, LayerSide, Report, StepRow
from imageforensics.timestamp import Timestamp

A_ID = "sha256:2ea3401ac2fc9e0a0c1b0c5b6c1d7a7e0f3e1b58f5b8c8e0d2b3c4a5f6e7d8c9"
B_ID = "sha256:b61b0abdc7404c2d3e6f1a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"
A_SHA = "sha256:" + "a1" * 32
B_SHA = "sha256:" + "b2" * 32


def _digest(n: int) -> str:
    return f"sha256:{n:064x}"


ROOTFS_PATHS = (
    "/etc/nginx/conf.d/tomcat.conf",
    "/etc/services.d/tomcat/finish",
    "/etc/services.d/tomcat/run",
    "/opt/tomcat/conf/Catalina/localhost/ROOT.xml",
    "/opt/tomcat/conf/server.xml",
    "/opt/tomcat/conf/tomcat-users.xml",
    "/opt/tomcat/conf/web.xml",
    "/opt/tomcat/webapps/ROOT/index.html",
    "/usr/local/bin/install-war-into-tomcat.sh",
    "/usr/local/bin/tomcat-healthcheck.sh",
    "/usr/local/share/tomcat/README.md",
    "/var/log/tomcat/.keep",
)

_HISTORY = (
    # (created_by, created A, created B, layer A, layer B, empty_layer)
    ("/bin/sh -c #(nop) ADD file:3c7a1d5e0f4b9a6c8d2e in / ", "2021-01-15T22:19:43.364227817Z",
     "2021-01-15T22:19:43.364227817Z", LayerSide(diff_id=_digest(1), size=5_860_000, entries=480),
     LayerSide(diff_id=_digest(1), size=5_860_000, entries=480), False),
    ('/bin/sh -c #(nop)  CMD ["/bin/sh"]', "2021-01-15T22:19:43.563591101Z",
     "2021-01-15T22:19:43.563591101Z", None, None, True),
    ("RUN /bin/sh -c apk add --no-cache openjdk11-jre-headless # buildkit", "2021-02-04T15:18:02.4110036Z",
     "2021-02-04T15:18:02.4110036Z", LayerSide(diff_id=_digest(2), size=52_400_000, entries=1_873),
     LayerSide(diff_id=_digest(2), size=52_400_000, entries=1_873), False),
    ("RUN /bin/sh -c apk-install.sh nginx &&     cleanup.sh # buildkit", "2021-02-04T15:19:27.7561234Z",
     "2021-02-04T15:19:27.7561234Z", LayerSide(diff_id=_digest(3), size=1_150_000, entries=310),
     LayerSide(diff_id=_digest(3), size=1_150_000, entries=310), False),
    ("WORKDIR /opt/tomcat", "2021-02-04T15:19:27.8456647Z", "2021-02-04T15:19:27.8456647Z",
     LayerSide(diff_id=_digest(4), size=93, entries=1), LayerSide(diff_id=_digest(4), size=93, entries=1), False),
    ("EXPOSE map[8080/tcp:{}]", "2021-02-04T15:19:27.9352723Z", "2021-02-04T15:19:27.8456647Z", None, None, True),
    ("COPY rootfs / # buildkit", "2021-02-04T15:19:27.9352723Z", "2021-02-04T15:19:27.8456647Z",
     LayerSide(diff_id=_digest(5), size=7_650, entries=12), None, False),
)


def tomcat_steps() -> tuple[StepRow, ...]:
    """The aligned history of the seed's pair."""
    rows = []
    for i, (created_by, ca, cb, la, lb, empty) in enumerate(_HISTORY):
        ta, tb = Timestamp.parse(ca), Timestamp.parse(cb)
        assert ta.ns is not None and tb.ns is not None
        marks: list[str] = []
        if ta != tb:
            marks.append("created")
        match = "same"
        empty_b = empty or created_by.startswith("COPY")
        if la != lb:
            marks += ["empty_layer", "layer"]
            match = "content"
        elif marks:
            match = "metadata"
        rows.append(StepRow(
            index_a=i, index_b=i, created_by_a=created_by, created_by_b=created_by,
            created_a=ta, created_b=tb, drift_ns=tb.ns - ta.ns,
            empty_layer_a=empty, empty_layer_b=empty_b, layer_a=la, layer_b=lb,
            match=match, marks=tuple(marks),
        ))
    return tuple(rows)


def tomcat_findings() -> tuple[Finding, ...]:
    """The findings the seed's author assembled by hand, as the diff engine states them."""
    copy = "COPY rootfs / # buildkit"
    return (
        Finding(code="step-wrongly-empty", severity=Severity.ERROR,
                summary="step 6 carries a 7.65 kB layer (12 entries) in A but is marked empty_layer in B",
                step_a=6, step_b=6, created_by=copy,
                evidence=evidence(layer_size_a=7650, entries_a=12, diff_id_a=Digest.parse(_digest(5)),
                                  empty_layer_b=True, state_b="marked empty_layer")),
        Finding(code="paths-missing", severity=Severity.ERROR,
                summary="12 paths written by step 6 `COPY rootfs /` in A are absent from B, "
                        "e.g. /usr/local/bin/install-war-into-tomcat.sh",
                step_a=6, created_by=copy, paths=ROOTFS_PATHS, evidence=evidence(count=12)),
        Finding(code="timestamp-drift", severity=Severity.WARNING,
                summary="history diverges from step 5 `EXPOSE map[8080/tcp:{}]`: created -89.6 ms "
                        "earlier in B; step 6 the same",
                step_a=5, step_b=5, created_by="EXPOSE map[8080/tcp:{}]",
                evidence=evidence(created_a=Timestamp.parse("2021-02-04T15:19:27.9352723Z"),
                                  created_b=Timestamp.parse("2021-02-04T15:19:27.8456647Z"), drift_ns=-89607600)),
        Finding(code="timestamps-shared", severity=Severity.INFO, side="B",
                summary="steps 4-6 share one created time (a cache-import signature)",
                step_b=4, evidence=evidence(runs=((4, 6),))),
    )


def side(label: str) -> InputSide:
    """The header facts of one input of the tomcat pair."""
    if label == "A":
        return InputSide(source="samples/tomcat-pulled.tar", layout="docker-legacy", compression="none",
                         archive_sha256=A_SHA, image_id=A_ID, references=("local/tomcat:pulled",),
                         platform="linux/amd64", layer_count=5, history_count=7,
                         created="2021-02-04T15:19:27.9352723Z", size=59_473_920)
    return InputSide(source="samples/tomcat-cache-from.tar", layout="docker-legacy", compression="none",
                     archive_sha256=B_SHA, image_id=B_ID, references=("local/tomcat:bad",),
                     platform="linux/amd64", layer_count=4, history_count=7,
                     created="2021-02-04T15:19:27.8456647Z", size=59_463_680)


def tomcat_report() -> Report:
    """The seed's case in miniature, built by hand."""
    return Report(
        tool_version="0.1.0",
        a=side("A"),
        b=side("B"),
        verdict_kind="missing-content",
        verdict="B is missing content that A has: step 6 `COPY rootfs /` carries a 7.65 kB layer "
                "(12 entries) in A but is marked empty_layer in B, and its 12 paths are absent from B. "
                "History diverges from step 5 `EXPOSE map[8080/tcp:{}]` (created 89.6 ms earlier in B).",
        findings=tomcat_findings(),
        steps=tomcat_steps(),
    )


def hostile_report(text: str) -> Report:
    """The tomcat report with ``text`` in every field whose value comes from an archive."""
    base = tomcat_report()
    steps = tuple(replace(r, created_by_a=text + r.created_by_a, created_by_b=r.created_by_b + text,
                          created_a=Timestamp(text, None) if r.index_a == 1 else r.created_a)
                  for r in base.steps)
    findings = tuple(replace(f, summary=f.summary + text, created_by=text, path=text,
                             paths=(text,) + f.paths + (text,)) for f in base.findings)
    # Evidence keys are the registry's; its text values come from the archive: a config field, say.
    findings += (Finding(code="config-differs", severity=Severity.WARNING, summary=text, path=text,
                         evidence=evidence(field=text, a=text, b=text, only_in_a=text, only_in_b=text, changed=text)),)
    a = replace(base.a, source=text, references=(text, "x:" + text), platform=text, image_id=text,
                notes=(text,), layout=text)
    b = replace(base.b, archive_sha256=text, created=text)
    return replace(base, a=a, b=b, verdict=text + base.verdict + text, findings=findings, steps=steps,
                   options=((text, text),))


# --- hypothesis strategies ---------------------------------------------------

# Arbitrary text, biased towards what attacks a renderer.
HOSTILE_PIECES = ("\x1b[31m", "\x1b]8;;http://evil\x07", "|", "\n", "\r", "<script>alert(1)</script>",
                  "](javascript:alert(1))", "[x]", "\u202e", "\x00", "\udcff", "`", "``", "\\", "\\|",
                  "&lt;", "*", "_", "<!--", "-->", "<details>", "</details>", "# ", "www.evil.com",
                  "http://evil.example/", "\u2028", "\t", "\x7f", "\x9b", "\U0001f600", "漢字", "e\u0301")
hostile_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=5)), max_size=8).map("".join),
)

_timestamps = st.one_of(
    st.none(),
    st.builds(Timestamp, hostile_text, st.one_of(st.none(), st.integers(-(10**19), 10**19))),
    st.integers(0, 4 * 10**18).map(lambda ns: Timestamp(f"{ns}", ns)),
)
_layer_sides = st.one_of(st.none(), st.builds(
    LayerSide, diff_id=hostile_text, size=st.integers(0, 10**12), entries=st.integers(0, 10**7),
    empty_kind=hostile_text, present=st.booleans()))
_opt_int = st.one_of(st.none(), st.integers(0, 10**6))
_pairs = st.lists(st.tuples(hostile_text, hostile_text), max_size=4).map(tuple)

# Evidence values whose text reads back as the same value (catalogue.parse_evidence_text): text
# inside a tuple or a pair is kept to plain names, as the tool writes there.
_NAME = st.text(alphabet="abcdefxyz_./0123456789", min_size=1, max_size=8)
_DIGESTS = st.binary(min_size=32, max_size=32).map(lambda b: Digest.sha256(b.hex()))
_SCALARS = {int: st.integers(-(10**15), 10**15), bool: st.booleans(), Digest: _DIGESTS,
            Timestamp: hostile_text.map(Timestamp.parse)}


def _part(kind: type, *, whole: bool, nullable: bool = False) -> st.SearchStrategy[object]:
    part = hostile_text if kind is str and whole else _NAME if kind is str else _SCALARS[kind]
    return st.one_of(st.none(), part) if nullable else part


def _value(k: Key) -> st.SearchStrategy[object]:
    if len(k.parts) == 2:
        # The first part of a lone pair may be any text: it is read back up to the last joiner.
        item: st.SearchStrategy[object] = st.tuples(
            _part(k.parts[0], whole=k.separator is None, nullable=k.nullable),
            _part(k.parts[1], whole=False, nullable=k.nullable))
    else:
        item = _part(k.parts[0], whole=k.separator is None)
    return item if k.separator is None else st.lists(item, max_size=4).map(tuple)


_ns = st.integers(-(10**19), 10**19)
_CHANGE_VALUES: dict[str, st.SearchStrategy[object]] = {
    "kind": hostile_text, "linkname": hostile_text, "hardlink": hostile_text,
    "size": st.integers(0, 10**13), "mode": st.integers(0, 0o7777), "uid": st.integers(0, 2**32),
    "gid": st.integers(0, 2**32), "mtime": _ns,
    "content": st.one_of(st.none(), _DIGESTS, st.just("not a digest")),
    "device": st.tuples(st.integers(0, 2**32), st.integers(0, 2**32)),
    "xattrs": st.lists(st.tuples(hostile_text, hostile_text), max_size=2).map(tuple),
    "hardlinks": st.lists(hostile_text, max_size=LINK_NAMES).map(tuple),
}


@st.composite
def path_changes_of(draw: st.DrawFn, path: str) -> tuple[PathChange, ...]:
    """One path's changes: a few fields, each with two different values of its type (or its presence alone)."""
    if draw(st.integers(0, 5)) == 0:
        side = draw(st.booleans())
        return (PathChange(path, "presence", side, not side),)
    out: list[PathChange] = []
    for name in draw(st.lists(st.sampled_from(sorted(_CHANGE_VALUES)), min_size=1, max_size=4, unique=True)):
        a, b = draw(_CHANGE_VALUES[name]), draw(_CHANGE_VALUES[name])
        if a == b and name != "hardlinks":
            continue
        out.append(PathChange(path, name, a, b))  # type: ignore[arg-type]
    return tuple(out) or (PathChange(path, "uid", 0, 1),)


@st.composite
def findings_of(draw: st.DrawFn, spec: CodeSpec, typed_changes: bool = False) -> Finding:
    """A valid finding of one registered code: any subset of its declared evidence, with hostile text.

    A path's changes (read typed, never from text) only with ``typed_changes``.
    """
    paths = draw(st.lists(hostile_text, max_size=12).map(tuple))
    values: dict[str, object] = {}
    for k in spec.keys:
        if k.duration_of or (k.path_changes and not (typed_changes and paths)):
            continue
        for n in range(draw(st.integers(0, 3)) if k.numbered else int(draw(st.booleans()))):
            value = draw(path_changes_of(draw(st.sampled_from(paths)))) if k.path_changes else draw(_value(k))
            values[f"{k.name}_{n + 1:03d}" if k.numbered else k.name] = value
    return Finding(code=spec.code, severity=draw(st.sampled_from(spec.severities)), summary=draw(hostile_text),
                   side=draw(st.sampled_from(["", "A", "B"])), step_a=draw(_opt_int), step_b=draw(_opt_int),
                   created_by=draw(hostile_text), path=draw(hostile_text), paths=paths,
                   evidence=tuple(sorted(values.items())))  # type: ignore[arg-type]


_SPECS = sorted(REGISTRY.values(), key=lambda s: s.code)
# Findings whose evidence reads back from its text (snapshots, format 1), and those of reports (typed changes too).
findings = st.sampled_from(_SPECS).flatmap(findings_of)
report_findings = st.sampled_from(_SPECS).flatmap(lambda s: findings_of(s, typed_changes=True))

_SAMPLE = {int: 1, bool: True, str: "x", Digest: Digest.sha256("ab" * 32),
           Timestamp: Timestamp.parse("2021-02-04T15:19:27Z")}


def sample_evidence(spec: CodeSpec) -> tuple[tuple[str, object], ...]:
    """One value of its type for every key a code declares (the first of a numbered family)."""
    values: dict[str, object] = {}
    for k in spec.keys:
        if k.duration_of or k.path_changes:
            continue  # a path's changes need a path the finding lists
        item = _SAMPLE[k.parts[0]] if len(k.parts) == 1 else tuple(_SAMPLE[t] for t in k.parts)
        values[f"{k.name}_001" if k.numbered else k.name] = item if k.separator is None else (item, item)
    return tuple(sorted(values.items()))

step_rows = st.builds(
    StepRow, index_a=_opt_int, index_b=_opt_int, created_by_a=hostile_text, created_by_b=hostile_text,
    created_a=_timestamps, created_b=_timestamps, drift_ns=st.one_of(st.none(), st.integers(-(10**18), 10**18)),
    empty_layer_a=st.one_of(st.none(), st.booleans()), empty_layer_b=st.one_of(st.none(), st.booleans()),
    layer_a=_layer_sides, layer_b=_layer_sides,
    match=st.sampled_from(["same", "metadata", "content", "only-a", "only-b"]),
    marks=st.lists(st.sampled_from(["created", "empty_layer", "layer", "created_by", "comment", "author"]),
                   max_size=3, unique=True).map(tuple))

input_sides = st.builds(
    InputSide, source=hostile_text, layout=hostile_text, compression=hostile_text, archive_sha256=hostile_text,
    image_id=hostile_text, references=st.lists(hostile_text, max_size=5).map(tuple), platform=hostile_text,
    layer_count=st.integers(0, 5000), history_count=st.integers(0, 5000), created=hostile_text,
    size=st.integers(0, 10**13), notes=st.lists(hostile_text, max_size=2).map(tuple))

reports = st.builds(
    Report, tool_version=hostile_text, a=input_sides, b=input_sides, verdict_kind=st.sampled_from(VERDICT_KINDS),
    verdict=hostile_text, findings=st.lists(report_findings, max_size=6).map(tuple),
    steps=st.lists(step_rows, max_size=8).map(tuple), options=_pairs)
