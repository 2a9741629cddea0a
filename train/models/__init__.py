"""Mobile segmentation models, one module each, registered by name."""
