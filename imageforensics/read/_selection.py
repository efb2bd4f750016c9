"""Choosing one image from an input: ``a.tar:name:tag``, ``a.tar@N``, ``--platform os/arch[/variant]``.

The spellings follow skopeo's docker-archive transport
(``docker-archive:path[:docker-reference|@source-index]``). Pure: the only
look at the file system is whether a spec names an existing path as a whole.
"""

from __future__ import annotations

import os
import re

from imageforensics.errors import SelectionError
from imageforensics.model import Archive, Image, Platform
from imageforensics.untrusted import escape, show

_INDEX = re.compile(r"(?P<path>.+)@(?P<index>\d+)")
_DEFAULT_REGISTRY = "docker.io/"


def parse_input_spec(spec: str) -> tuple[str, str | None, int | None]:
    """Split ``path[:reference]`` or ``path@N`` into (path, reference, index); an existing path wins."""
    if spec == "-" or os.path.exists(spec):
        return spec, None, None
    m = _INDEX.fullmatch(spec)
    if m and os.path.exists(m.group("path")):
        return m.group("path"), None, int(m.group("index"))
    # The path is the longest prefix before a ':' that exists; the rest is the reference.
    positions = [i for i, ch in enumerate(spec) if ch == ":"]
    for i in positions:
        path, reference = spec[:i], spec[i + 1:]
        if path and reference and os.path.exists(path):
            return path, reference, None
    if m:
        return m.group("path"), None, int(m.group("index"))
    if positions and positions[0] > 0 and not re.match(r"[A-Za-z]:[\\/]", spec):
        return spec[: positions[0]], spec[positions[0] + 1:] or None, None
    return spec, None, None


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
