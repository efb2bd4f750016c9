"""Which layers' file content digests the diff will compare.

Hashing every file's data costs as much as hashing the layer itself. Equal
diff_ids prove equal content, so the diff compares files only of layers whose
diff_id differs from the other image's, and of the layers that last wrote a
path whose last writers differ. Knowing those from the entries alone (paths,
kinds, whiteouts: no content digest is needed to merge layers), the reader can
hash the content of just those layers. This module mirrors what
``diff.pair_findings`` (``stepdiff.layer_content``) and ``fsdiff`` compare.
"""

from __future__ import annotations

from imageforensics.diff._align import align_images, effective_diff_id, layer_count
from imageforensics.diff._paths import entries_at
from imageforensics.diff._merged_fs import merge_layers
from imageforensics.model import Image
from imageforensics.options import DiffOptions
from imageforensics.redact import history_as_redacted_as


def layers_needing_content(image_a: Image, image_b: Image,
                           options: DiffOptions = DiffOptions()) -> tuple[frozenset[int], frozenset[int]]:
    """The layer indexes of A and of B whose files' content digests the diff (with ``options``) compares."""
    # Aligned as the diff aligns them: a redacted history is compared with the other redacted alike.
    image_a, image_b = history_as_redacted_as(image_a, image_b), history_as_redacted_as(image_b, image_a)
    need_a: set[int] = set()
    need_b: set[int] = set()

    def need(side: str, index: int) -> None:
        image, other = (image_a, image_b) if side == "a" else (image_b, image_a)
        own, theirs = (need_a, need_b) if side == "a" else (need_b, need_a)
        layer = image.layers[index] if index < len(image.layers) else None
        if layer is not None and layer.readable:
            own.add(index)
            return
        # An absent or unreadable blob is replaced by any readable layer with
        # its diff_id, in either image (fsdiff.entries_at): all of them, then.
        want = effective_diff_id(image, index)
        if want is None:
            return
        for i, candidate in enumerate(image.layers):
            if candidate is not None and candidate.readable and candidate.diff_id == want:
                own.add(i)
        for i, candidate in enumerate(other.layers):
            if candidate is not None and candidate.readable and candidate.diff_id == want:
                theirs.add(i)

    # Aligned steps whose layers' diff_ids differ: their entries are compared (layer-content-differs).
    for pair in align_images(image_a, image_b, options.limits):
        a, b = pair.a, pair.b
        if a is None or b is None or a.layer_index is None or b.layer_index is None:
            continue
        if a.diff_id != b.diff_id:
            need("a", a.layer_index)
            need("b", b.layer_index)

    # The merged filesystems: a path whose last writers have different
    # diff_ids (or an unknown one) is compared field by field (fsdiff).
    seq_a = [effective_diff_id(image_a, i) for i in range(layer_count(image_a))]
    seq_b = [effective_diff_id(image_b, i) for i in range(layer_count(image_b))]
    if seq_a == seq_b and None not in seq_a:
        return frozenset(need_a), frozenset(need_b)
    layers_a = [entries_at(image_a, image_b, i) for i in range(len(seq_a))]
    layers_b = [entries_at(image_b, image_a, i) for i in range(len(seq_b))]
    if any(e is None for e in layers_a) or any(e is None for e in layers_b):
        # fsdiff does not compare filesystems with an absent layer.
        return frozenset(need_a), frozenset(need_b)
    fa = merge_layers([e for e in layers_a if e is not None], options.limits)
    fb = merge_layers([e for e in layers_b if e is not None], options.limits)
    writers_b = fb.writer
    from_a, from_b = fa.content_from, fb.content_from
    for path, wa in fa.writer.items():
        wb = writers_b.get(path)
        if wb is None:
            continue
        # A hardlink resolved to a lower layer's file holds that layer's content (fsdiff compares it);
        # a path linked differently from writers with one diff_id is not compared field by field.
        linked_a, linked_b = from_a.get(path), from_b.get(path)
        id_a = seq_a[wa]
        if id_a is not None and id_a == seq_b[wb] and linked_a is None and linked_b is None:
            continue
        need("a", wa if linked_a is None else linked_a)
        need("b", wb if linked_b is None else linked_b)
    return frozenset(need_a), frozenset(need_b)
