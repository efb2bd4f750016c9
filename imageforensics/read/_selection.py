"""Naming one image of an input: the selector grammar, and choosing the image it names.

One grammar for every subcommand and for the library, standard input
included (``-@1``, ``-:name:tag``):

- ``PATH``, ``PATH:name:tag`` or ``PATH@N`` (skopeo's docker-archive
  spelling, ``docker-archive:path[:docker-reference|@source-index]``), the
  path being the longest prefix that exists, so a file whose name holds a
  ``:`` or ``@`` is still named by its whole name;
- skopeo's transports that name files: ``docker-archive:PATH[:ref|@N]``,
  ``oci-archive:PATH[:ref]``, ``oci:DIR[:ref]`` and ``dir:DIR``;
- ``--platform os/arch[/variant]``, given beside it, for multi-platform inputs.

Transports that name images held elsewhere (``docker://``, ``docker-daemon:``,
``containers-storage:``) and registry references are refused in one line that
says how to make a file of them. Pure: the only look at the file system is
whether a path exists.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from imageforensics.errors import SelectionError
from imageforensics.model import Archive, Image, Platform
from imageforensics.untrusted import escape, show

_INDEX = re.compile(r"(?P<path>.+)@(?P<index>\d+)")
_DEFAULT_REGISTRY = "docker.io/"
STDIN = "-"

# skopeo's transports (containers-transports(5)) that name a file or directory, with
# whether the part after the path may choose an image (dir: holds exactly one).
FILE_TRANSPORTS: dict[str, bool] = {"docker-archive": True, "oci-archive": True, "oci": True, "dir": False}
# Transports whose images are not files: where they live, and the command that makes an archive of one.
ELSEWHERE_TRANSPORTS: dict[str, tuple[str, str]] = {
    "docker": ("a registry", "docker pull {image} && docker save {image} | imageforensics inspect -"),
    "docker-daemon": ("the Docker daemon", "docker save {image} | imageforensics inspect -"),
    "containers-storage": ("podman's or buildah's storage", "podman save {image} | imageforensics inspect -"),
}
# distribution/reference's grammar, enough to tell a registry reference from a file name.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9.-]+:[0-9]+)"
_REFERENCE = re.compile(
    rf"(?:(?P<domain>{_DOMAIN})/)?(?P<name>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[a-z0-9]+:[0-9a-fA-F]{32,}))?")


@dataclass(frozen=True, slots=True)
class Selector:
    """An input and the image it names: the path (``-`` for standard input), and a reference or an index."""

    path: str
    reference: str | None = None
    index: int | None = None
    # The skopeo transport it was spelled with ("" when none): for messages only.
    transport: str = ""

    @property
    def chooses(self) -> bool:
        """True when the selector names one image (by reference or index), not just the input."""
        return self.reference is not None or self.index is not None

    @property
    def is_stdin(self) -> bool:
        """True for standard input."""
        return self.path == STDIN


def parse_selector(spec: str) -> Selector:
    """The selector a command-line input spells; SelectionError for an image that is not in a file.

    An existing path wins over every other reading, so a file named
    ``docker:x`` or ``a@1`` is read as that file.
    """
    if spec == STDIN or os.path.exists(spec):
        return Selector(spec)
    if spec.startswith(STDIN) and spec[1:2] in ("@", ":"):
        return _choice(STDIN, spec[1:], spec)
    transport, sep, rest = spec.partition(":")
    if sep and transport in ELSEWHERE_TRANSPORTS:
        _refuse_elsewhere(spec, transport, rest[2:] if rest.startswith("//") else rest)
    if sep and transport in FILE_TRANSPORTS:
        if not rest:
            raise SelectionError(f"{show(spec, 80)}: expected a path after {transport}:")
        selector = _path_selector(rest) if FILE_TRANSPORTS[transport] else Selector(rest)
        return Selector(selector.path, selector.reference, selector.index, transport)
    selector = _path_selector(spec)
    if not os.path.exists(selector.path) and _looks_like_image_name(spec):
        raise SelectionError(f"{show(spec, 80)}: no such file, and imageforensics reads files only (an archive, a "
                             f"directory or a snapshot), not images in a registry or a daemon; make one with: "
                             f"{ELSEWHERE_TRANSPORTS['docker'][1].format(image=show(spec, 80))}")
    return selector


def _choice(path: str, choice: str, spec: str) -> Selector:
    """``@N`` or ``:reference`` after a path."""
    if choice.startswith("@") and choice[1:].isdigit():
        return Selector(path, index=int(choice[1:]))
    if choice.startswith(":") and len(choice) > 1:
        return Selector(path, reference=choice[1:])
    raise SelectionError(f"{show(spec, 80)}: expected {escape(path)}:name:tag or {escape(path)}@N")


def _path_selector(spec: str) -> Selector:
    """``path``, ``path:reference`` or ``path@N``, the path being the longest prefix that exists."""
    if spec == STDIN or os.path.exists(spec):
        return Selector(spec)
    if spec.startswith(STDIN) and spec[1:2] in ("@", ":"):
        return _choice(STDIN, spec[1:], spec)
    m = _INDEX.fullmatch(spec)
    if m and os.path.exists(m.group("path")):
        return Selector(m.group("path"), index=int(m.group("index")))
    positions = [i for i, ch in enumerate(spec) if ch == ":"]
    for i in positions:
        path, reference = spec[:i], spec[i + 1:]
        if path and reference and os.path.exists(path):
            return Selector(path, reference=reference)
    if m:
        return Selector(m.group("path"), index=int(m.group("index")))
    if positions and positions[0] > 0 and not re.match(r"[A-Za-z]:[\\/]", spec):
        return Selector(spec[: positions[0]], reference=spec[positions[0] + 1:] or None)
    return Selector(spec)


def _refuse_elsewhere(spec: str, transport: str, image: str) -> None:
    where, command = ELSEWHERE_TRANSPORTS[transport]
    shown = show(image, 80) or "IMAGE"
    raise SelectionError(f"{show(spec, 80)}: an image in {where}; imageforensics reads files only (an archive, a "
                         f"directory or a snapshot): make one with: {command.format(image=shown)}")


def _looks_like_image_name(spec: str) -> bool:
    """Whether a spec that names no file reads as a registry reference (``nginx:1.25``, ``ghcr.io/o/app``)."""
    m = _REFERENCE.fullmatch(spec)
    if m is None:
        return False
    if m.group("domain") and ("." in m.group("domain") or ":" in m.group("domain") or m.group("domain") == "localhost"):
        return True
    # A bare name with a tag or digest and no dot in its last part: `app.tar:latest` reads as a missing file.
    return bool(m.group("tag") or m.group("digest")) and "." not in m.group("name").rsplit("/", 1)[-1]


def parse_input_spec(spec: str) -> tuple[str, str | None, int | None]:
    """``parse_selector`` as a tuple: (path, reference, index)."""
    selector = parse_selector(spec)
    return selector.path, selector.reference, selector.index


def _normalise_reference(reference: str) -> str:
    """docker.io/library/x:tag and x:tag name the same image; a missing tag means :latest."""
    ref = reference.strip()
    if "@" not in ref:
        last = ref.rsplit("/", 1)[-1]
        if ":" not in last:
            ref = f"{ref}:latest"
    if ref.startswith(_DEFAULT_REGISTRY):
        ref = ref[len(_DEFAULT_REGISTRY):]
    if ref.startswith("library/") and ref.count("/") == 1:
        ref = ref[len("library/"):]
    return ref


def reference_matches(wanted: str, reference: str) -> bool:
    """True when ``wanted`` names ``reference`` (exactly, after docker.io/library normalisation, or as a bare tag)."""
    if wanted == reference:
        return True
    return _normalise_reference(wanted) == _normalise_reference(reference)


def parse_platform(text: str) -> Platform:
    """``os/arch[/variant]`` → Platform; SelectionError when malformed."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise SelectionError(f"--platform {show(text, 60)}: expected os/arch or os/arch/variant, e.g. linux/arm64/v8")
    return Platform(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else "")


def platform_matches(wanted: Platform, have: Platform) -> bool:
    """os and architecture must match; a variant is compared only when both give one (arm64 is v8 by default)."""
    if wanted.os != have.os or wanted.architecture != have.architecture:
        return False
    if wanted.variant and have.variant:
        return wanted.variant == have.variant
    if wanted.variant and not have.variant:
        return wanted.architecture == "arm64" and wanted.variant == "v8"
    return True


def describe_choice(index: int, image: Image) -> str:
    """One line per image for SelectionError messages: ``@N refs platform id``."""
    refs = ", ".join(show(r, 80) for r in image.references) or "(no reference)"
    return f"@{index} {refs} {escape(str(image.platform))} {image.image_id.short}"


def _choices(archive: Archive, images: list[tuple[int, Image]]) -> str:
    return "; ".join(describe_choice(i, image) for i, image in images)


def select_image(archive: Archive, *, reference: str | None = None, index: int | None = None,
                 platform: str | None = None) -> Image:
    """The one image the user means; SelectionError listing the choices when it is ambiguous or absent."""
    src = escape(archive.source)
    candidates = list(enumerate(archive.images))
    if not candidates:
        raise SelectionError(f"{src}: holds no image to choose from (see `inspect` for its findings)")
    if index is not None:
        if not 0 <= index < len(archive.images):
            raise SelectionError(f"{src}@{index}: there are {len(archive.images)} image(s), @0 to @{len(archive.images) - 1}: {_choices(archive, candidates)}")
        candidates = [(index, archive.images[index])]
    if reference is not None:
        matched = [(i, image) for i, image in candidates if any(reference_matches(reference, r) for r in image.references)]
        if not matched:
            raise SelectionError(f"{src}:{show(reference, 80)}: no image has this reference; choose one of: {_choices(archive, candidates)}")
        candidates = matched
    if platform is not None:
        wanted = parse_platform(platform)
        matched = [(i, image) for i, image in candidates if platform_matches(wanted, image.platform)]
        if not matched:
            raise SelectionError(f"{src}: no image for platform {show(platform, 60)}; platforms here: {_choices(archive, candidates)}")
        candidates = matched
    if len(candidates) > 1:
        what = "several images" if len({str(img.platform) for _, img in candidates}) == 1 else "several images or platforms"
        hint = "add :name:tag or @N" + ("" if platform else ", or --platform os/arch[/variant]")
        raise SelectionError(f"{src}: holds {what}; {hint} to choose one of: {_choices(archive, candidates)}")
    return candidates[0][1]
