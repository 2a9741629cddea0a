"""The built-in demo data: a synthetic, deterministic stand-in for COCO person data.

``generate(out_dir, n_images, seed)`` writes::

    out_dir/
      images/000000000001.jpg ...          photos (JPEG, fixed quality)
      annotations/instances.json           COCO instances, all 80 real categories
      annotations/person_keypoints.json    COCO person keypoints (same person ids)
      truth/masks/<annotation_id>.png      pixel-exact visible mask of every non-crowd person
      truth/persons.parquet                which person polygons were coarsened, and how much
      README.md

The truth folder is never referenced from the COCO files: it is what a perfect
annotator would have drawn, for testing the coarseness flagger and the click tools.
Same seed and params give byte-identical files.
"""

from __future__ import annotations


from portraitkit.params.demo import DemoParams

from portraitkit.curate.demo.dataset import generate, iter_images, write_dataset

__all__ = ["generate", "iter_images", "write_dataset", "DemoParams"]
