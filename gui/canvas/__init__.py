"""The canvas: a custom QWidget that draws layers under one image->widget transform."""
