"""Tests of imageforensics/parse/: each layout family and the members store, on archives built in memory."""
