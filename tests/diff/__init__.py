"""Tests of imageforensics/diff/: alignment, the merged filesystem, config comparison, the engine."""
