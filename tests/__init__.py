"""The test suite: one folder per stage of the package, as imageforensics/ is laid out; the package as a whole at the top."""
