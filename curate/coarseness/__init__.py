"""Coarseness flags of person polygons: signals (polygon_signals, image_signals), the score,
robust image reading and the ``flag`` stage (stage.run_flag). See stage.py for the outputs."""
