"""portraitkit: COCO to versioned, reviewed, augmented person-segmentation datasets.

This package holds only what every stage shares: the CLI that mounts each stage's
commands, the params schema and small I/O helpers. Stage code lives in the
top-level packages ``curate``, ``annotate``, ``augment``, ``train`` and ``reports``.
"""

__version__ = "0.1.0"
