"""The Qt side of Masklab: the annotation window, its canvas, docks and background workers.

`core` never imports this package; everything here edits `core.annotation.Annotation` objects
through undoable commands and saves them with `core.project.Project`.
"""
