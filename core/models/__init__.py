"""Trainable models. Build them through core.models.registry.build_model; every model follows the
torchvision detection interface and uses Masklab's RPN (core.anchors.rpn)."""
