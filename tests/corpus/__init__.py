"""The real-archive corpus in ../shared/corpus against the facts in its INDEX.md (skipped when absent)."""
