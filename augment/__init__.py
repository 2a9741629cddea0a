"""Augment: realistic portrait augmentation with albumentations.

- ``pipeline``: :class:`~augment.pipeline.Augmenter`, the albumentations pipeline built from
  ``params.augment`` (framing, rotation, shade, motion blur, lighting), with clicks as
  keypoints, the realism check and exact replay; the same object serves the stage and
  on-line training.
- ``transforms``: the custom albumentations transforms (tone curve, colour temperature,
  low light, cast shadow, uneven light, camera shake, subject motion, fused geometry).
- ``realism``: the "could a camera have produced this?" measures and bounds.
- ``stage`` / ``preview`` / ``cli``: the ``portraitkit augment`` stage.

Masks are 0 = background, 1 = person, ``mask_ignore_value`` (255) = padding to ignore.
"""
