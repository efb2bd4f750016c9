"""The interop tier: archives made by the real tools, checked against what those tools report."""
