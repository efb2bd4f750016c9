"""Hypothesis strategies building random valid image specs and, from them, archives in every layout.

Everything is built in memory with tools/synth. The specs are valid images
(every image has at least one layer, references are unique and well formed,
each image's config is distinct) but otherwise odd on purpose: names with
spaces, unicode and long paths, whiteouts and opaque directories, hardlinks,
devices, xattrs with binary values, repeated layers, history with empty
steps, timestamps with 0-9 fraction digits and offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import strategies as st

from tools.synth import (
    DEFAULT_PATH, ArchiveSpec, Config, Entry, ImageSpec, Layer, Step, build_archive, zstd_available,
)

TAR_LAYOUTS = ("docker-legacy", "docker-containers-image", "docker-crane", "docker-oci-graphdriver",
               "docker-oci-containerd", "oci-archive")
ORDERS = ("as-written", "reversed", "shuffled", "manifest-first")
OUTER = ("none", "gzip", "bzip2", "xz")
# zstd runs the zstd program (once to write, once to read): keep it rarer than gzip.
LAYER_COMPRESSIONS = ("none", "none", "gzip", "gzip", "zstd") if zstd_available() else ("none", "gzip")

_NAME_CHARS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789._-+@ ,'\"#%:=~[]()é☃ü\\"))


@st.composite
def path_component(draw: st.DrawFn) -> str:
    """One path component: odd characters allowed, never ``.``, ``..`` or a whiteout prefix."""
    text = draw(st.text(_NAME_CHARS, min_size=1, max_size=12))
    if text in (".", "..") or text.startswith(".wh."):
        text = "x" + text
    return text


@st.composite
def entry_path(draw: st.DrawFn) -> str:
    """A relative path of 1-4 components, sometimes long enough to need PAX or the ustar prefix."""
    parts = draw(st.lists(path_component(), min_size=1, max_size=4))
    if draw(st.integers(0, 9)) == 0:
        parts.insert(0, "long-" + "d" * draw(st.integers(60, 160)))
    return "/".join(parts)


def timestamps() -> st.SearchStrategy[str]:
    """RFC 3339 strings as Go and others write them: 0-9 fraction digits, ``Z`` or ``±hh:mm``."""
    return st.builds(
        lambda y, mo, d, h, mi, s, frac, zone: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}",
        st.integers(1970, 2030), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23),
        st.integers(0, 59), st.integers(0, 59),
        st.one_of(st.just(""), st.integers(1, 9).flatmap(
            lambda n: st.integers(0, 10**n - 1).map(lambda v, n=n: "." + str(v).rjust(n, "0")))),
        st.one_of(st.just("Z"), st.builds(lambda sign, hh, mm: f"{sign}{hh:02d}:{mm:02d}",
                                           st.sampled_from("+-"), st.integers(0, 14), st.sampled_from([0, 30, 45]))),
    )


def mtimes() -> st.SearchStrategy[int]:
    """File mtimes in ns: whole seconds (ustar) or with a fraction (PAX), sometimes beyond the octal field."""
    seconds = st.one_of(st.integers(0, 2**31), st.integers(8**11, 8**11 + 10**6))
    return st.builds(lambda s, ns: s * 10**9 + ns, seconds, st.one_of(st.just(0), st.integers(1, 10**9 - 1)))


@st.composite
def layers(draw: st.DrawFn) -> Layer:
    """A layer of distinct entries of every kind (hardlinks point at earlier files of the same layer)."""
    paths = draw(st.lists(entry_path(), min_size=0, max_size=8, unique=True))
    entries: list[Entry] = []
    files: list[str] = []
    members: set[str] = set()
    for path in paths:
        kind = draw(st.sampled_from(["file", "file", "file", "dir", "symlink", "hardlink", "char", "block",
                                     "fifo", "whiteout", "opaque"]))
        if kind == "hardlink" and not files:
            kind = "file"
        common = dict(uid=draw(st.one_of(st.integers(0, 70000), st.integers(2**21, 2**24))),
                      gid=draw(st.integers(0, 70000)), mtime_ns=draw(mtimes()))
        if kind == "file":
            e = Entry(path, data=draw(st.binary(max_size=600)), mode=draw(st.integers(0, 0o7777)),
                      xattrs=tuple(sorted(draw(st.dictionaries(
                          st.sampled_from(["security.capability", "user.comment", "trusted.x", "user.ü"]),
                          st.binary(max_size=20), max_size=2)).items())), **common)  # type: ignore[arg-type]
            files.append(path)
        elif kind == "hardlink":
            e = Entry(path, kind="hardlink", linkname=draw(st.sampled_from(files)), mode=0o644, **common)  # type: ignore[arg-type]
        elif kind == "symlink":
            e = Entry(path, kind="symlink", linkname=draw(st.one_of(entry_path(), st.just("../../etc/passwd"))),
                      **common)  # type: ignore[arg-type]
        elif kind in ("char", "block"):
            e = Entry(path, kind=kind, devmajor=draw(st.integers(0, 255)), devminor=draw(st.integers(0, 255)),
                      **common)  # type: ignore[arg-type]
        elif kind in ("whiteout", "opaque"):
            e = Entry(path, kind=kind)
        else:
            e = Entry(path, kind=kind, mode=draw(st.integers(0, 0o7777)), **common)  # type: ignore[arg-type]
        if e.member_name.rstrip("/") in members:
            continue
        members.add(e.member_name.rstrip("/"))
        entries.append(e)
    return Layer(entries=tuple(entries), compression=draw(st.sampled_from(LAYER_COMPRESSIONS)),
                 type_bits=draw(st.booleans()), name_prefix=draw(st.sampled_from(["", "", "./"])))


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@st.composite
def histories(draw: st.DrawFn, n_layers: int) -> tuple[Step, ...]:
    """One non-empty step per layer, in order, with empty steps interleaved."""
    steps: list[Step] = []
    for i in range(n_layers + 1):
        for _ in range(draw(st.integers(0, 2))):
            steps.append(Step(created=draw(st.one_of(st.none(), timestamps())),
                              created_by=draw(st.one_of(st.none(), _TEXT.map(lambda t: f"ENV X={t}"))),
                              comment=draw(st.one_of(st.none(), st.just("buildkit.dockerfile.v0"))),
                              author=draw(st.one_of(st.none(), _TEXT)), empty_layer=True))
        if i < n_layers:
            steps.append(Step(created=draw(st.one_of(st.none(), timestamps())),
                              created_by=draw(_TEXT.map(lambda t: f"RUN /bin/sh -c {t} # buildkit")),
                              comment=draw(st.one_of(st.none(), st.just("buildkit.dockerfile.v0")))))
    return tuple(steps)


_PLATFORMS = [("linux", "amd64", ""), ("linux", "arm64", "v8"), ("linux", "arm", "v7"), ("linux", "s390x", ""),
              ("windows", "amd64", "")]


@st.composite
def configs(draw: st.DrawFn, index: int) -> Config:
    """Config fields; ``index`` goes into a label so that no two images of one archive share a config."""
    os_, arch, variant = draw(st.sampled_from(_PLATFORMS))
    words = st.lists(_TEXT, max_size=3).map(tuple)
    return Config(
        env=draw(st.one_of(st.none(), st.lists(_TEXT.map(lambda t: f"K={t}"), max_size=3).map(
            lambda v: (DEFAULT_PATH, *v)))),
        cmd=draw(st.one_of(st.none(), words)), entrypoint=draw(st.one_of(st.none(), words)),
        working_dir=draw(st.sampled_from(["", "/", "/opt/app"])), user=draw(st.sampled_from(["", "1000", "app:app"])),
        exposed_ports=tuple(draw(st.lists(st.sampled_from(["80", "8080/tcp", "53/udp", "443/tcp"]), unique=True, max_size=3))),
        volumes=tuple(draw(st.lists(st.sampled_from(["/data", "/var/lib/x"]), unique=True, max_size=2))),
        labels=tuple(sorted({"synth.index": str(index), **draw(st.dictionaries(
            st.sampled_from(["a", "org.opencontainers.image.title", "<&>"]), _TEXT, max_size=2))}.items())),
        os=os_, architecture=arch, variant=variant,
        created=draw(st.one_of(st.none(), timestamps())),
        author=draw(st.sampled_from(["", "kaniko", "Bazel"])),
        flavor=draw(st.sampled_from(["buildkit", "classic"])), docker_version=draw(st.sampled_from(["", "20.10.2"])),
        extra=draw(st.sampled_from([(), (("moby.buildkit.cache.v0", '"eyJsYXllcnMiOltdfQ=="'),)])),
    )


_REF_NAMES = st.sampled_from(["app", "local/app", "example.com/team/app", "localhost:5000/app", "ghcr.io/o/r/tomcat"])
_TAGS = st.text(st.sampled_from(list("abcdefghijklmnopqrstuvwxyz0123456789._-")), min_size=1, max_size=10).filter(
    lambda t: t[0] not in ".-")


@st.composite
def image_specs(draw: st.DrawFn, index: int = 0, shared: tuple[Layer, ...] = ()) -> ImageSpec:
    """One image: 1-4 layers (sometimes repeating a layer or the 1024-byte empty one)."""
    own = draw(st.lists(layers(), min_size=1, max_size=3))
    if shared and draw(st.booleans()):
        own = list(shared) + own
    if draw(st.integers(0, 4)) == 0:
        own.append(draw(st.sampled_from([Layer(), own[0]])))
    return ImageSpec(layers=tuple(own), history=draw(histories(len(own))), config=draw(configs(index)))


@st.composite
def archive_specs(draw: st.DrawFn, *, max_images: int = 2) -> ArchiveSpec:
    """1-``max_images`` images with unique references; later images may build on the first (Parent)."""
    count = draw(st.integers(1, max_images))
    refs = draw(st.lists(st.tuples(_REF_NAMES, _TAGS).map(lambda p: f"{p[0]}:{p[1]}"), unique=True,
                         min_size=0, max_size=count * 2))
    images: list[ImageSpec] = []
    for i in range(count):
        shared = images[0].layers if images else ()
        img = draw(image_specs(i, shared))
        mine = tuple(refs[i::count])
        parent = 0 if images and img.layers[: len(shared)] == shared and draw(st.booleans()) else None
        images.append(replace(img, references=mine, parent=parent))
    return ArchiveSpec(images=tuple(images), nested_index=draw(st.booleans()),
                       attestations=draw(st.booleans()), absent_platforms=tuple(draw(st.lists(
                           st.sampled_from(["linux/ppc64le", "linux/riscv64"]), unique=True, max_size=2))))


@dataclass(frozen=True)
class BuiltArchive:
    """An archive written in memory, with how it was written."""

    spec: ArchiveSpec
    layout: str
    order: str
    seed: int
    compression: str
    data: bytes = field(repr=False)


@st.composite
def archives(draw: st.DrawFn, layouts: tuple[str, ...] = TAR_LAYOUTS) -> BuiltArchive:
    """An archive in one of ``layouts``, members in any order, sometimes compressed as a whole."""
    layout = draw(st.sampled_from(layouts))
    spec = draw(archive_specs())
    if layout == "oci-archive":
        # A nested OCI index attaches the references to the whole set of images; keep them flat here.
        spec = replace(spec, nested_index=False)
    order, seed = draw(st.sampled_from(ORDERS)), draw(st.integers(0, 2**16))
    compression = draw(st.sampled_from(OUTER))
    return BuiltArchive(spec, layout, order, seed, compression,
                        build_archive(spec, layout, compression=compression, order=order, seed=seed))


# --------------------------------------------------------------------------- injected corruptions (issue 3)


def layer_steps(image: ImageSpec) -> list[int]:
    """History indexes of the steps that carry a layer (empty_layer != true), in layer order."""
    return [i for i, s in enumerate(image.history) if not s.empty_layer]


def shift_time(raw: str, ns: int) -> str:
    """``raw`` moved by ``ns`` nanoseconds, written as Go writes UTC times (RFC3339Nano, ``Z``)."""
    import calendar
    import time

    from imageforensics.timestamp import parse_ns

    value = parse_ns(raw)
    assert value is not None, raw
    value += ns
    seconds, frac = divmod(value, 10**9)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    assert calendar.timegm(time.gmtime(seconds)) == seconds
    digits = f"{frac:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def mark_empty_and_drop_layer(image: ImageSpec, step: int) -> ImageSpec:
    """The seed's corruption: a layer-bearing step flipped to empty_layer and its layer removed."""
    index = layer_steps(image).index(step)
    history = tuple(replace(s, empty_layer=True) if i == step else s for i, s in enumerate(image.history))
    return replace(image, history=history, layers=image.layers[:index] + image.layers[index + 1:])


def edit_layer(image: ImageSpec, layer: int, entries: tuple[Entry, ...]) -> ImageSpec:
    """The image with one layer's entries replaced."""
    layers = tuple(replace(l, entries=entries) if i == layer else l for i, l in enumerate(image.layers))
    return replace(image, layers=layers)


def drop_entry(image: ImageSpec, layer: int, path: str) -> ImageSpec:
    """One entry removed from one layer."""
    return edit_layer(image, layer, tuple(e for e in image.layers[layer].entries if e.path != path))


def flip_byte(image: ImageSpec, layer: int, path: str, offset: int = 0) -> ImageSpec:
    """One byte of one regular file changed (the file must have data)."""
    def flipped(e: Entry) -> Entry:
        if e.path != path:
            return e
        assert isinstance(e.data, bytes) and e.data, path
        at = offset % len(e.data)
        return replace(e, data=e.data[:at] + bytes([e.data[at] ^ 0xFF]) + e.data[at + 1:])
    return edit_layer(image, layer, tuple(flipped(e) for e in image.layers[layer].entries))


def add_whiteout(image: ImageSpec, layer: int, path: str) -> ImageSpec:
    """A whiteout of ``path`` appended to one layer."""
    return edit_layer(image, layer, image.layers[layer].entries + (Entry(path, kind="whiteout"),))


def shift_step_time(image: ImageSpec, step: int, ns: int) -> ImageSpec:
    """One history entry's created time moved by ``ns`` (the entry must have a created time)."""
    created = image.history[step].created
    assert created is not None
    history = tuple(replace(s, created=shift_time(created, ns)) if i == step else s for i, s in enumerate(image.history))
    return replace(image, history=history)


def insert_step(image: ImageSpec, at: int, step: Step, layer: Layer | None = None) -> ImageSpec:
    """A history entry inserted before index ``at``; with ``layer`` it is a layer-bearing step."""
    history = image.history[:at] + (replace(step, empty_layer=layer is None),) + image.history[at:]
    if layer is None:
        return replace(image, history=history)
    position = sum(1 for s in image.history[:at] if not s.empty_layer)
    return replace(image, history=history, layers=image.layers[:position] + (layer,) + image.layers[position:])


# --------------------------------------------------------------------------- related pairs (issue 14 item 6)

_CHANGE_KINDS = ("delete-later", "add-later", "modify-later", "lose-step", "rebuild-step", "drift")


def _later_step(image: ImageSpec, text: str, entries: tuple[Entry, ...], created: str | None) -> ImageSpec:
    """A layer-bearing step appended, as a later build FROM the image adds one."""
    step = Step(created=created, created_by=f"{text} # buildkit", comment="buildkit.dockerfile.v0")
    return replace(image, layers=image.layers + (Layer(entries=entries),), history=image.history + (step,))


def _files(image: ImageSpec) -> list[str]:
    return sorted({e.path.rstrip("/") for l in image.layers for e in l.entries if e.kind == "file"})


@st.composite
def related_pairs(draw: st.DrawFn) -> tuple[ImageSpec, ImageSpec]:
    """Two images of one build, the second changed as real pairs are (a later version, a rebuild, a loss).

    From one image, B is made by a few of: a later step that deletes a path
    (whiteout), adds files or modifies one (content or mode); a layer-bearing
    step marked empty_layer with its layer dropped (the cache-import loss); a
    step rebuilt with other content; a created time shifted. Either image may
    come first: a property over these pairs catches any rule that depends on
    which image is A.
    """
    base = draw(image_specs())
    other = base
    stamp = "2021-02-04T15:19:27.7561234Z"
    for n, kind in enumerate(draw(st.lists(st.sampled_from(_CHANGE_KINDS), min_size=1, max_size=3))):
        files = _files(other)
        if kind == "delete-later" and files:
            gone = draw(st.sampled_from(files))
            other = _later_step(other, f"RUN /bin/sh -c rm -rf /{gone}", (Entry(gone, kind="whiteout"),), stamp)
        elif kind == "add-later":
            other = _later_step(other, f"COPY new{n} /srv/", (Entry("srv", kind="dir", mode=0o755),
                                                              Entry(f"srv/new-{n}.txt", data=b"new %d" % n)), stamp)
        elif kind == "modify-later" and files:
            path = draw(st.sampled_from(files))
            changed = Entry(path, data=draw(st.sampled_from([b"v2", b""])), mode=draw(st.sampled_from([0o644, 0o755])))
            other = _later_step(other, f"RUN /bin/sh -c edit /{path}", (changed,), stamp)
        elif kind == "lose-step" and len(layer_steps(other)) > 1:
            other = mark_empty_and_drop_layer(other, draw(st.sampled_from(layer_steps(other)[1:])))
        elif kind == "rebuild-step":
            layer = draw(st.integers(0, len(other.layers) - 1))
            entries = other.layers[layer].entries + (Entry(f"rebuilt-{n}.txt", data=b"rebuilt"),)
            other = edit_layer(other, layer, entries)
        elif kind == "drift":
            timed = [i for i, s in enumerate(other.history) if s.created is not None]
            if timed:
                other = shift_step_time(other, draw(st.sampled_from(timed)), draw(st.sampled_from([1, 10**9])))
    return (other, base) if draw(st.booleans()) else (base, other)
