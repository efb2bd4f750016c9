"""Parsing: the members of an archive, as the reader found them, into Archive and Image values.

Pure: the reader hands over ``Member`` values (and a ``LayerReader`` for the
layer blobs it kept in memory); ``parse_archive`` detects the layout and
dispatches to the family that reads it (``FAMILIES``). ``read_package_database``
reads the package database files the reader kept from a layer.
"""

from imageforensics.parse._layouts import FAMILIES, parse_archive
from imageforensics.parse._members import LayerReader, Member, normalise_member_name
from imageforensics.parse._packages import database_manager
from imageforensics.parse._packages import read_database as read_package_database
from imageforensics.parse._packages import too_large as package_database_too_large

__all__ = [
    "FAMILIES",
    "LayerReader",
    "Member",
    "database_manager",
    "normalise_member_name",
    "package_database_too_large",
    "parse_archive",
    "read_package_database",
]
