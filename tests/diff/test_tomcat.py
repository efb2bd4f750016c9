"""The seed's case in miniature, built with modelfactory: a BuildKit --cache-from
rebuild whose `COPY rootfs /` lost its layer (marked empty_layer) and whose
created times lag by 89.6 ms from `EXPOSE 8080` on."""

from __future__ import annotations

from dataclasses import replace

from imageforensics.diff._engine import diff_images
from imageforensics.options import DiffOptions
from imageforensics.findings import Severity, evidence_texts
from imageforensics.timestamp import Timestamp
from tests.modelfactory import archive, build, file, spec, step, tree, layer

ROOTFS = (
    "etc/nginx/conf.d/tomcat.conf", "etc/nginx/conf.d/default.conf", "etc/cont-init.d/10-tomcat",
    "etc/services.d/tomcat/run", "etc/services.d/tomcat/finish", "etc/services.d/nginx/run",
    "opt/tomcat/conf/server.xml", "opt/tomcat/conf/tomcat-users.xml", "opt/tomcat/conf/context.xml",
    "opt/tomcat/bin/setenv.sh", "usr/local/bin/install-war-into-tomcat.sh", "usr/local/bin/tomcat-healthcheck.sh",
)
# 7650 bytes of files in all: what `docker history` shows as the layer's SIZE (7.65kB).
ROOTFS_BYTES = {p: (p + "\n").ljust(640 if i < 11 else 610, "#") for i, p in enumerate(ROOTFS)}
BASE_DIRS = ("etc/nginx/conf.d", "etc/cont-init.d", "etc/services.d/tomcat", "etc/services.d/nginx",
             "opt/tomcat/conf", "opt/tomcat/bin", "usr/local/bin")


def tomcat_pair():
    base = tree(*(d + "/.keep" for d in BASE_DIRS), "bin/sh")
    steps_a = (
        step("ADD file:7d91c8a2a5a5a3b0 in / ", *base, created="2021-01-15T02:23:51.1Z"),
        step('CMD ["/bin/sh"]', created="2021-01-15T02:23:51.2Z"),
        step("RUN /bin/sh -c apk-install.sh openjdk11-jre # buildkit", file("usr/lib/jvm/java", "jvm"),
             created="2021-02-04T15:19:20.5Z", comment="buildkit.dockerfile.v0"),
        step("RUN /bin/sh -c apk-install.sh nginx &&     cleanup.sh # buildkit", file("usr/sbin/nginx", "nginx"),
             created="2021-02-04T15:19:27.7561234Z", comment="buildkit.dockerfile.v0"),
        step("WORKDIR /opt/tomcat", tree("opt/tomcat/.workdir")[-1], created="2021-02-04T15:19:27.8456647Z",
             comment="buildkit.dockerfile.v0"),
        step("EXPOSE map[8080/tcp:{}]", created="2021-02-04T15:19:27.9352723Z", comment="buildkit.dockerfile.v0"),
        step("COPY rootfs / # buildkit", layer_value=layer(*(file(p, ROOTFS_BYTES[p]) for p in ROOTFS)),
             created="2021-02-04T15:19:27.9352723Z", comment="buildkit.dockerfile.v0"),
    )
    a = spec(*steps_a, created="2021-02-04T15:19:27.9352723Z", references=("local/tomcat:pulled",))
    b_steps = list(steps_a)
    b_steps[5] = replace(b_steps[5], created="2021-02-04T15:19:27.8456647Z")
    b_steps[6] = replace(b_steps[6], created="2021-02-04T15:19:27.8456647Z", layer=None, empty_layer=True)
    b = replace(a, steps=tuple(b_steps), created="2021-02-04T15:19:27.8456647Z", references=("local/tomcat:bad",))
    return build(a), build(b)


def run(ia, ib, options=DiffOptions()):
    return diff_images(archive(ia, source="tomcat-pulled.tar"), ia, archive(ib, source="tomcat-cache-from.tar"),
                       ib, options)


def test_copy_step_has_the_layer_in_a_and_is_marked_empty_in_b():
    report = run(*tomcat_pair())
    [f] = [f for f in report.findings if f.code == "step-wrongly-empty"]
    assert f.severity is Severity.ERROR
    assert (f.step_a, f.step_b, f.side) == (6, 6, "B")
    assert f.created_by == "COPY rootfs / # buildkit"
    assert f.evidence_value("layer_size_a") == 7650
    assert f.evidence_value("entries_a") == 12
    assert f.evidence_value("tar_size_a") == 1024 + 12 * 512 + 11 * 1024 + 2 * 512
    assert f.evidence_value("empty_layer_b") is True
    assert "7.65 kB layer (12 entries) in A" in f.summary and "marked empty_layer in B" in f.summary
    assert "COPY step marked empty_layer" in f.summary


def test_history_diverges_at_expose_with_exact_drift():
    report = run(*tomcat_pair())
    [f] = [f for f in report.findings if f.code == "timestamp-drift"]
    assert f.severity is Severity.WARNING
    assert (f.step_a, f.step_b) == (5, 5)
    assert f.created_by == "EXPOSE map[8080/tcp:{}]"
    assert f.evidence_value("drift_ns") == -89_607_600
    assert {t.name: t.text for t in evidence_texts(f)}["drift"] == "-89.6 ms"
    assert f.evidence_value("created_a") == Timestamp.parse("2021-02-04T15:19:27.9352723Z")
    assert f.evidence_value("created_b") == Timestamp.parse("2021-02-04T15:19:27.8456647Z")
    assert f.evidence_value("drifts") == ((5, -89607600), (6, -89607600))
    assert "step 5 `EXPOSE 8080/tcp`" in f.summary and "-89.6 ms" in f.summary


def test_missing_paths_are_listed_and_attributed_to_the_copy_step():
    report = run(*tomcat_pair())
    [f] = [f for f in report.findings if f.code == "paths-missing"]
    assert f.severity is Severity.ERROR
    assert (f.step_a, f.step_b) == (6, 6)
    assert f.paths == tuple(sorted("/" + p for p in ROOTFS))
    assert f.summary.startswith("12 paths written by step 6 `COPY rootfs /` in A are missing from B")


def test_nothing_else_of_warning_severity_and_the_verdict_says_it_first():
    report = run(*tomcat_pair())
    serious = sorted(f.code for f in report.findings if f.severity >= Severity.WARNING)
    # B's audit adds its COPY step marked empty_layer, as for the archives (samples/tomcat-*.tar).
    assert serious == ["fs-step-marked-empty", "image-created-differs", "paths-missing", "step-wrongly-empty",
                       "timestamp-drift"]
    assert report.verdict_kind == "missing-content" and report.exit_status == 1
    assert report.verdict.startswith("B is missing content that A has: step 6 `COPY rootfs /` carries a "
                                     "7.65 kB layer (12 entries) in A but is marked empty_layer in B")
    assert "12 paths of A are absent from B" in report.verdict
    assert report.verdict.endswith("Created times drift from step 5 `EXPOSE 8080/tcp` on (-89.6 ms in B). "
                                   "Pattern: a BuildKit cache import that lost a layer "
                                   "(moby/buildkit#1981, #2198; moby/moby#41219).")


def test_single_image_signals_from_the_audit_are_carried_where_the_sides_differ():
    report = run(*tomcat_pair())
    side = [(f.code, f.side, f.step_a, f.step_b) for f in report.findings if f.side and f.code not in
            ("step-wrongly-empty", "paths-missing")]
    # B's COPY marked empty_layer is B's alone; both images share times with neighbours, at different steps.
    assert ("fs-step-marked-empty", "B", None, 6) in side
    assert ("timestamps-shared", "B", None, 4) in side
    # A signal both images show at the same aligned step is not carried.
    assert not {(c, a) for c, _, a, _ in side if a is not None} & {(c, b) for c, _, _, b in side if b is not None}
    assert report.verdict_kind == "missing-content"


def test_step_rows_mark_the_differing_cells():
    report = run(*tomcat_pair())
    assert [(r.index_a, r.index_b) for r in report.steps] == [(i, i) for i in range(7)]
    by_index = {r.index_a: r for r in report.steps}
    assert by_index[6].marks == ("created", "empty_layer", "layer")
    assert by_index[6].match == "content"
    assert by_index[6].layer_a is not None and by_index[6].layer_a.size == 7650 and by_index[6].layer_b is None
    assert by_index[5].marks == ("created",) and by_index[5].drift_ns == -89_607_600
    assert all(by_index[i].marks == () and by_index[i].match == "same" for i in range(5))
