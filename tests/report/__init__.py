"""Tests of imageforensics/report/: every renderer, escaping, the golden files."""
