"""Curate: demo data, COCO loading and validation, the portrait subset, coarseness flags."""
