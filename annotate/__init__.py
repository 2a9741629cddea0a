"""Annotate: synthetic clicks for interactive segmentation and the FiftyOne review loop."""
