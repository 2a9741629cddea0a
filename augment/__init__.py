"""Augment: realistic portrait augmentation with albumentations."""
