"""Dock widgets around the canvas: files, labels, shape properties."""
