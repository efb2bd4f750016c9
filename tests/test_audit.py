"""The single-image audit and forensic signals, on hand-built model values."""

from __future__ import annotations

import hashlib

import pytest

from imageforensics.parse import _archive_findings as archive_audit
from imageforensics import audit
from imageforensics.created_by import step_instruction
from imageforensics.findings import Severity
from imageforensics.model import EMPTY_GZIP_BUILDKIT, EMPTY_TAR_1024, Digest, FileEntry, HistoryStep, Image, Layer, Platform, RunConfig
from imageforensics.history import reconcile
from imageforensics.timestamp import Timestamp
from imageforensics.inline_cache import InlineCache


def d(seed: str) -> Digest:
    return Digest.sha256(hashlib.sha256(seed.encode()).hexdigest())


def layer(seed: str, *, diff: Digest | None = None, blob: Digest | None = None, readable: bool = True, empty_kind: str = "", entries: int = 1, anomalies: tuple[tuple[str, str], ...] = ()) -> Layer:
    return Layer(
        member=f"{seed}/layer.tar",
        blob_digest=blob or d(seed),
        diff_id=diff if diff is not None else d(seed),
        compression="none",
        size=1024,
        uncompressed_size=1024,
        entries=tuple(FileEntry(path=f"f{i}", kind="file") for i in range(entries)),
        readable=readable,
        problem="" if readable else "not a tar archive",
        empty_kind=empty_kind,
        anomalies=anomalies,
    )


def step(index: int, created_by: str, *, created: str | None = "2021-03-11T15:19:27Z", empty: bool = False, comment: str = "") -> HistoryStep:
    return HistoryStep(index=index, created=Timestamp.parse(created) if created else None, created_by=created_by, comment=comment, empty_layer=empty)


def image(steps: list[HistoryStep], layers: list[Layer | None], diff_ids: list[Digest] | None = None, *, created: str | None = None, inline_cache: bool = False) -> Image:
    ids = diff_ids if diff_ids is not None else [l.diff_id for l in layers if l is not None]  # type: ignore[misc]
    return Image(
        image_id=d("config"),
        config_member="config.json",
        manifest_digest=None,
        references=(),
        platform=Platform(os="linux", architecture="amd64"),
        created=Timestamp.parse(created) if created else None,
        author="",
        history=reconcile(tuple(steps), len(ids)),
        diff_ids=tuple(ids),
        layers=tuple(layers),
        layer_refs=tuple(f"l{i}" for i in range(len(layers))),
        run_config=RunConfig(),
        has_inline_cache=inline_cache,
        inline_cache=InlineCache() if inline_cache else None,
    )


def by_code(findings: tuple, code: str) -> list:
    return [f for f in findings if f.code == code]


def test_a_consistent_image_has_no_findings():
    img = image([step(0, "ADD file:x in /"), step(1, 'CMD ["sh"]', empty=True), step(2, "RUN make", created="2021-03-11T15:19:28Z")], [layer("a"), layer("b")])
    assert audit.audit_image(img) == ()


def test_reconcile_maps_non_empty_steps_in_order():
    steps = reconcile((step(0, "ADD a"), step(1, "ENV x", empty=True), step(2, "RUN b"), step(3, "RUN c")), 2)
    assert [s.layer_index for s in steps] == [0, None, 1, None]


def test_history_surplus_is_counted_exactly():
    img = image([step(0, "ADD a"), step(1, "RUN b"), step(2, "RUN c"), step(3, "RUN d")], [layer("a"), layer("b")])
    (f,) = by_code(audit.audit_image(img), "history-surplus")
    assert f.severity == Severity.WARNING
    assert f.evidence_value("surplus") == 2
    assert f.evidence_value("steps") == (2, 3)
    assert f.step_a == 2
    assert "4 non-empty steps for 2 diff_ids" in f.summary


def test_history_shortfall_is_counted_exactly():
    img = image([step(0, "ADD a")], [layer("a"), layer("b"), layer("c")])
    (f,) = by_code(audit.audit_image(img), "history-shortfall")
    assert f.evidence_value("shortfall") == 2
    assert f.evidence_value("layers") == (1, 2)


def test_history_absent():
    img = image([], [layer("a")])
    assert [f.code for f in audit.audit_image(img)] == ["history-absent"]


def test_diff_id_mismatch_names_the_layer_and_step():
    img = image([step(0, "ADD a"), step(1, "RUN b")], [layer("a"), layer("b")], [d("a"), d("other")])
    (f,) = by_code(audit.audit_image(img), "diff-id-mismatch")
    assert f.severity == Severity.ERROR
    assert f.evidence_value("layer") == 1
    assert f.evidence_value("declared") == d("other")
    assert f.evidence_value("actual") == d("b")
    assert f.step_a == 1 and f.created_by == "RUN b"


def test_layer_count_mismatch():
    img = image([step(0, "ADD a")], [layer("a")], [d("a"), d("b")])
    (f,) = by_code(audit.audit_image(img), "layer-count-mismatch")
    assert (f.evidence_value("layers"), f.evidence_value("diff_ids")) == (1, 2)


def test_unreadable_empty_repeated_and_odd_layers():
    empty = layer("e", diff=Digest.sha256(EMPTY_TAR_1024), empty_kind="1024-byte empty tar (docker's empty layer)", entries=0)
    odd = layer("o", anomalies=(("absolute-name", "/etc/x"), ("absolute-name", "/etc/y"), ("device-node", "dev/null (char 1:3)")))
    img = image(
        [step(0, "ADD a"), step(1, "RUN true"), step(2, "RUN true"), step(3, "COPY x /"), step(4, "RUN odd")],
        [layer("a", readable=False), empty, empty, layer("c"), odd],
    )
    found = audit.audit_image(img)
    (unreadable,) = by_code(found, "layer-unreadable")
    assert unreadable.severity == Severity.ERROR and unreadable.evidence_value("layer") == 0
    assert [f.evidence_value("layer") for f in by_code(found, "layer-empty")] == [1, 2]
    (repeated,) = by_code(found, "layer-repeated")
    assert repeated.evidence_value("layers") == (1, 2)
    assert "1024-byte empty tar" in repeated.summary
    anomalies = {f.evidence_value("anomaly"): f.evidence_value("count") for f in by_code(found, "layer-anomaly")}
    assert anomalies == {"absolute-name": 2, "device-node": 1}


@pytest.mark.parametrize("created_by,instruction", [
    ("COPY rootfs / # buildkit", "COPY"),
    ("/bin/sh -c #(nop) COPY file:abc in / ", "COPY"),
    ("/bin/sh -c #(nop) ADD dir:abc in /srv ", "ADD"),
    ("RUN /bin/sh -c apk add x # buildkit", "RUN"),
    ("/bin/sh -c apk add x", "RUN"),
    ("|2 A=1 B=2 /bin/sh -c make", "RUN"),
    ('/bin/sh -c #(nop)  CMD ["sh"]', "CMD"),
    ("EXPOSE map[8080/tcp:{}]", "EXPOSE"),
    ("", ""),
    ("bazel build", ""),
])
def test_step_instruction(created_by, instruction):
    assert step_instruction(created_by) == instruction


def test_filesystem_step_marked_empty_is_a_warning():
    img = image([step(0, "ADD a"), step(1, "COPY rootfs / # buildkit", empty=True), step(2, "EXPOSE 8080", empty=True)], [layer("a")])
    (f,) = by_code(audit.history_signals(img), "fs-step-marked-empty")
    assert f.severity == Severity.WARNING and f.step_a == 1 and f.evidence_value("instruction") == "COPY"


def test_squashed_image_marks_steps_empty_as_expected():
    img = image(
        [step(0, "ADD a"), step(1, "RUN make", empty=True), step(2, "", comment="merge sha256:" + "1" * 64 + " to sha256:" + "2" * 64)],
        [layer("a"), layer("s")],
    )
    found = audit.history_signals(img)
    (f,) = by_code(found, "fs-step-marked-empty")
    assert f.severity == Severity.INFO and f.evidence_value("squashed") == "docker build --squash"
    assert by_code(found, "squash-signature")[0].step_a == 2


def test_a_run_step_that_changed_nothing_is_information():
    img = image([step(0, "ADD a"), step(1, "RUN /bin/sh -c true # buildkit", empty=True)], [layer("a")])
    (f,) = by_code(audit.history_signals(img), "fs-step-marked-empty")
    assert f.severity == Severity.INFO and f.evidence_value("instruction") == "RUN"


def test_buildah_single_layer_commit_is_recognised():
    img = image(
        [step(0, "ADD a"), step(1, "/bin/sh -c #(nop) COPY file:x in /", empty=True), step(2, '/bin/sh -c #(nop) CMD ["x"]', comment="FROM localhost/base:latest")],
        [layer("a"), layer("merged")],
    )
    found = audit.history_signals(img)
    (f,) = by_code(found, "fs-step-marked-empty")
    assert f.severity == Severity.INFO and f.evidence_value("squashed") == "buildah/podman single-layer build"
    assert by_code(found, "squash-signature")[0].evidence_value("kind") == "buildah/podman single-layer build"


def test_empty_gzip_layer_on_a_copy_step():
    gz = layer("g", blob=Digest.sha256(EMPTY_GZIP_BUILDKIT), diff=Digest.sha256(EMPTY_TAR_1024), entries=0)
    img = image([step(0, "ADD a"), step(1, "COPY app / # buildkit")], [layer("a"), gz])
    (f,) = by_code(audit.history_signals(img), "empty-gzip-on-copy")
    assert f.step_a == 1 and f.evidence_value("blob") == Digest.sha256(EMPTY_GZIP_BUILDKIT)


def test_timestamps_shared_backwards_zero_epoch():
    img = image(
        [
            step(0, "ADD a", created="1970-01-01T00:00:00Z"),
            step(1, "RUN b", created="2021-03-11T15:19:27.9352723Z"),
            step(2, "WORKDIR /x", created="2021-03-11T15:19:27.9352723Z"),
            step(3, "COPY c /", created="2021-03-11T15:19:27.8456647Z"),
            step(4, "RUN k", created="0001-01-01T00:00:00Z"),
        ],
        [layer("a"), layer("b"), layer("w"), layer("c"), layer("k")],
        created="2021-03-11T15:19:28Z",
    )
    found = audit.history_signals(img)
    assert by_code(found, "timestamps-shared")[0].evidence_value("runs") == ((1, 2),)
    (back,) = by_code(found, "time-backwards")
    assert back.step_a == 3 and "-89.6 ms" in back.summary
    assert by_code(found, "time-zero")[0].evidence_value("steps") == (4,)
    assert by_code(found, "time-epoch")[0].evidence_value("steps") == (0,)
    (created,) = by_code(found, "image-created-mismatch")
    assert created.evidence_value("last_step") == Timestamp.parse("0001-01-01T00:00:00Z")


def test_a_metadata_step_sharing_the_previous_time_is_normal():
    img = image([step(0, "RUN a", created="2021-03-11T15:19:20Z"), step(1, "EXPOSE 80", empty=True), step(2, "COPY b /", created="2021-03-11T15:19:28Z")], [layer("a"), layer("b")])
    assert by_code(audit.history_signals(img), "timestamps-shared") == []


def test_one_time_for_the_whole_history_is_not_a_signal():
    img = image([step(0, "ADD a"), step(1, "RUN b"), step(2, "CMD x", empty=True)], [layer("a"), layer("b")], created="2021-03-11T15:19:27Z")
    assert audit.history_signals(img) == ()


def test_unparseable_time_and_inline_cache_and_buildkit_repair():
    img = image(
        [step(0, "ADD a", created="yesterday"), step(1, "", comment="buildkit.exporter.image.v0")],
        [layer("a"), layer("b")],
        inline_cache=True,
    )
    found = audit.history_signals(img)
    assert by_code(found, "time-unparseable")[0].step_a == 0
    assert by_code(found, "history-repaired")[0].step_a == 1
    assert by_code(found, "inline-cache")


def test_archive_level_finding_builders_carry_evidence():
    f = archive_audit.blob_digest_mismatch("blobs/sha256/" + "a" * 64, Digest.sha256("a" * 64), d("x"))
    assert f.severity == Severity.ERROR and f.path.startswith("blobs/")
    absent = archive_audit.manifests_absent("index.json", [(d("1"), "linux/amd64", False), (d("2"), "", True)], 4)
    assert absent.severity == Severity.INFO
    assert (absent.evidence_value("absent"), absent.evidence_value("listed"), absent.evidence_value("attestations")) == (2, 4, 1)
    assert "\x1b" not in archive_audit.link_problem("member-link-escapes", "a\x1b[31m", "../x").summary


def test_every_emitted_code_is_registered():
    """Scan the sources for codes passed to the finding constructors: each must be registered, as an audit code."""
    import re
    from pathlib import Path

    from imageforensics.catalogue import REGISTRY, Category

    package = Path(audit.__file__).parent
    emitted: set[str] = set()
    for name in ("audit.py", "parse/_archive_findings.py"):
        source = (package / name).read_text(encoding="utf-8")
        emitted |= set(re.findall(r'_f\(\s*"([a-z0-9-]+)"', source))
        emitted |= set(re.findall(r'"(member-link-[a-z-]+)"', source))
    audit_codes = {code for code, spec in REGISTRY.items() if spec.category in (Category.INTEGRITY, Category.TIME_SIGNAL)}
    assert emitted and emitted <= set(REGISTRY)
    assert emitted == audit_codes

def test_steps_with_empty_layers_sharing_a_time_did_not_write_the_filesystem():
    # BuildKit gives WORKDIR and a no-op RUN entry-less layers; they may share one time (docker/cache-rebuilt.tar).
    t = "2026-12-03T09:10:24.463193342Z"
    shared = [step(0, "ADD a", created="2026-12-03T09:09:52Z"), step(1, "WORKDIR /opt # buildkit", created=t),
              step(2, "RUN /bin/sh -c true # buildkit", created=t)]
    empty = image(shared, [layer("a"), layer("w", entries=0, empty_kind="entry-less tar"),
                           layer("t", diff=Digest.sha256(EMPTY_TAR_1024), entries=0)])
    (f,) = by_code(audit.history_signals(empty), "timestamps-shared")
    assert f.evidence_value("runs") == ((1, 2),)
    assert "cache-import" not in f.summary and "at most one step of each run wrote the filesystem" in f.summary
    # The same steps with content in their layers did write it: the cache-import wording.
    full = image(shared, [layer("a"), layer("w"), layer("t")])
    (g,) = by_code(audit.history_signals(full), "timestamps-shared")
    assert "although several of them wrote the filesystem (a cache-import signature)" in g.summary


# ---- builders' own conventions (imageforensics.builders) ------------------------------------

FROM_BASE = "FROM localhost/rt-base:latest"


def test_buildah_bud_without_layers_whose_last_step_is_a_copy_is_squashed_not_a_buildkit_loss():
    # buildah bud (no --layers): COPY, RUN, ENV empty; the one layer on the last step, a COPY (pair-bah-single).
    img = image([step(0, "", comment="busybox-static rootfs"),
                 step(1, "/bin/sh -c #(nop) COPY file:2ef8 in /srv/app/app.txt ", empty=True),
                 step(2, "/bin/sh -c mkdir -p /srv/app/conf", empty=True),
                 step(3, "/bin/sh -c #(nop) ENV APP=1", empty=True),
                 step(4, "/bin/sh -c #(nop) COPY file:a57d in /srv/app/extra.txt ", comment=FROM_BASE)],
                [layer("base"), layer("merged")])
    found = audit.audit_image(img)
    marked = by_code(found, "fs-step-marked-empty")
    assert [(f.step_a, f.severity) for f in marked] == [(1, Severity.INFO), (2, Severity.INFO)]
    assert not any("BuildKit" in f.summary for f in found)
    (sig,) = by_code(found, "squash-signature")
    assert sig.step_a == 4 and sig.evidence_value("kind") == "buildah/podman single-layer build"


def test_podman_squash_whose_last_step_is_a_run_is_squashed():
    img = image([step(0, "", comment="busybox-static rootfs"),
                 step(1, "/bin/sh -c mkdir /hl && echo same > /hl/z.txt", empty=True),
                 step(2, "/bin/sh -c ln /hl/z.txt /hl/a.txt", comment=FROM_BASE)],
                [layer("base"), layer("merged")])
    squash = audit.squash_of(img)
    assert squash is not None and squash.carrier == 2 and squash.merged == (1,) and not squash.whole_image


def test_podman_squash_all_has_one_layer_and_no_base_entry():
    img = image([step(0, "/bin/sh -c mkdir -p /srv/web", empty=True), step(1, "/bin/sh -c #(nop) COPY file:b3 in /srv/web/ ", empty=True),
                 step(2, '/bin/sh -c #(nop) CMD ["cat"]', comment=FROM_BASE)], [layer("all")])
    squash = audit.squash_of(img)
    assert squash is not None and squash.whole_image and squash.merged == (0, 1) and squash.kind == "podman build --squash-all"


def test_a_healthy_buildah_commit_image_is_not_squashed():
    # buildah from + copy + commit: one layer per step, the step's created_by the container's command (pair-bah-commit).
    img = image([step(0, "", comment="busybox-static rootfs"), step(1, "/bin/sh", comment=FROM_BASE)],
                [layer("base"), layer("copy")])
    assert audit.squash_of(img) is None and not by_code(audit.audit_image(img), "squash-signature")


@pytest.mark.parametrize("created_by,comment,blamed", [
    ("COPY app.txt /app/app.txt # buildkit", "buildkit.dockerfile.v0", True),
    ("COPY app.txt /app/", "", True),  # no builder's spelling: the BuildKit hypothesis stands
    ("/bin/sh -c #(nop) COPY file:ab12 in /app/ ", "", False),  # the classic builder never drops a layer so
])
def test_only_buildkit_steps_are_blamed_on_buildkit(created_by, comment, blamed):
    img = image([step(0, "ADD a"), step(1, created_by, empty=True, comment=comment), step(2, "COPY b /b # buildkit")],
                [layer("a"), layer("b")])
    (f,) = by_code(audit.audit_image(img), "fs-step-marked-empty")
    assert f.severity == Severity.WARNING and ("BuildKit < 0.10" in f.summary) == blamed


def test_a_copy_marked_empty_in_a_buildah_image_is_not_blamed_on_buildkit():
    img = image([step(0, "", comment="busybox-static rootfs"), step(1, "/bin/sh -c #(nop) COPY file:ab in /x ", comment=FROM_BASE),
                 step(2, "COPY y /y", empty=True), step(3, "/bin/sh -c #(nop) ENV A=1", empty=True, comment="FROM 3f98d36b7b53")],
                [layer("a"), layer("b")])
    (f,) = by_code(audit.audit_image(img), "fs-step-marked-empty")
    assert f.severity == Severity.WARNING and "BuildKit" not in f.summary


def test_buildah_layers_with_a_run_that_changed_nothing_is_not_squashed():
    # buildah bud --layers comments every step "FROM <previous image ID>", a no-op RUN marked empty too.
    img = image([step(0, "", comment="busybox-static rootfs"),
                 step(1, "/bin/sh -c true", empty=True, comment="FROM localhost/rt-base:latest"),
                 step(2, "/bin/sh -c #(nop) COPY file:a5 in /x ", comment="FROM 3f98d36b7b53")],
                [layer("base"), layer("copy")])
    assert audit.squash_of(img) is None
    (f,) = by_code(audit.audit_image(img), "fs-step-marked-empty")
    assert f.severity == Severity.INFO and "squash" not in f.summary


def test_a_dropped_layer_sharing_the_time_is_the_cache_import_signature():
    # The seed's case: WORKDIR's entry-less layer wrote nothing, the COPY marked empty_layer lost its layer.
    t = "2021-02-04T15:19:27.8456647Z"
    img = image([step(0, "ADD a", created="2021-02-04T15:19:20Z"), step(1, "WORKDIR /opt/tomcat", created=t),
                 step(2, "EXPOSE map[8080/tcp:{}]", created=t, empty=True),
                 step(3, "COPY rootfs / # buildkit", created=t, empty=True)],
                [layer("a"), layer("w", entries=0, empty_kind="entry-less tar")])
    (f,) = by_code(audit.history_signals(img), "timestamps-shared")
    assert "step 3 (COPY) among them is marked empty_layer (a cache-import signature" in f.summary
    assert "several of them wrote" not in f.summary
