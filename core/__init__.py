"""Masklab core: data model, formats, anchors, models and training. Never imports Qt."""
