"""The RPN laboratory: what a trained checkpoint's region proposal network does on one photo.

core/training/rpn_probe.py: the photo as training feeds it, one pass through the model up to the RPN head
objectness.py ground-truth (the training assignment) and predicted (sigmoid) objectness maps
proposals.py  proposals before and after NMS with their controls, and recall
decoding.py   anchors, regression targets, predicted deltas and decoded boxes of positive anchors
render.py     the three views as pictures (PIL); commands.py the `objectness` and `proposals` CLI
"""
