"""``portraitkit evaluate``: one scoring harness for our checkpoints, their exports and third-party segmenters.

- :mod:`.metrics`: person / background IoU, their mean (mIoU) and Boundary IoU of one image;
- :mod:`.runners`: a model file (``.pt``, ``.onnx``, ``.tflite``) behind one ``Runner`` interface;
- :mod:`.interactive`: NoC of click models beside the GrabCut baseline;
- :mod:`.stage`: the evaluate stage's outputs.
"""
