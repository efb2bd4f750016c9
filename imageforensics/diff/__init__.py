"""Diffing: two images in, a Report out (findings, verdict, the aligned history). Pure.

``diff_images`` compares an image of one archive with an image of another;
``layers_needing_content`` says, from diff_ids and paths alone, which layers'
file content digests that comparison looks at (the reader can then hash just
those). ``inside`` looks inside one image: its listings, one path's history
through the layers, and which layer holds a file's bytes.
"""

from imageforensics.diff import _inside as inside

from imageforensics.diff._content_need import layers_needing_content
from imageforensics.diff._engine import diff_images

__all__ = [
    "diff_images",
    "inside",
    "layers_needing_content",
]
