"""Renderers: pure functions from a Report (or the model) to text, JSON, Markdown or HTML.

Nothing here imports the diff engine or the reader, and nothing writes: the
CLI decides where output goes and whether colour is wanted.
"""
