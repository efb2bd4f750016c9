"""Tests of imageforensics/read/: sources, the outer tar, compression, layer blobs, selection, progress."""
