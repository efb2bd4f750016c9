"""Parsing: the members of an archive, as the reader found them, into Archive and Image values.

Pure: the reader hands over ``Member`` values (and a ``LayerReader`` for the
layer blobs it kept in memory); ``parse_archive`` detects the layout and
dispatches to the family that reads it (``FAMILIES``).
"""

from imageforensics.parse._layouts import FAMILIES, parse_archive
from imageforensics.parse._members import LayerReader, Member, normalise_member_name

__all__ = [
    "FAMILIES",
    "LayerReader",
    "Member",
    "normalise_member_name",
    "parse_archive",
]
