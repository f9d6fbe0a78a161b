"""Dialogs of the window: import, export, keyboard shortcuts, about."""
