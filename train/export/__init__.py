"""Export of trained models to ONNX, TFLite and Core ML, each checked against device targets."""
