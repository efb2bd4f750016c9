"""Tests of imageforensics/cli/: the command line as a user meets it."""
