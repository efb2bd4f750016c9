"""Hypothesis properties over synthetic archives and models (shared strategies in tests/strategies.py)."""
