"""The export stage's output folder (see portraitkit.contracts and ``train.export.stage``).

One folder per model: the exported files (same names for every model), ``export.json`` (what
was written: files, sizes, sha256, the source checkpoint and its dataset fingerprint, each file's
input spec for ``portraitkit evaluate``) and ``device.json`` (one row per device target: verdict
and the reason of each check; DVC metrics). The Core ML models are ``.mlpackage`` folders
(``PACKAGES``), hashed as a tree (``portraitkit.io.sha256_tree``). A file whose conversion failed
is absent; export.json ``errors`` and the targets reading it say why.
"""

from portraitkit.contracts import Contract, JsonFile

ONNX = "model.onnx"
TFLITE_FP32 = "model_fp32.tflite"
TFLITE_INT8 = "model_int8.tflite"
TFLITE_W8 = "model_w8.tflite"
COREML_FP16 = "model_fp16.mlpackage"
COREML_W8 = "model_w8.mlpackage"

#: every exported model, in the order they are written
MODEL_FILES = (ONNX, TFLITE_FP32, TFLITE_INT8, TFLITE_W8, COREML_FP16, COREML_W8)
#: the exported models that are folders, not files
PACKAGES = (COREML_FP16, COREML_W8)

VERDICTS = ("pass", "fail", "not-checkable-here")

CONTRACT = Contract(
    stage="export",
    files=("export.json", "device.json"),
    jsons={
        "export": JsonFile("export.json", {
            "stage": "str", "source": "dict", "dataset_fingerprint": "str", "curated_fingerprint": "str",
            "dataset_match": "bool", "input_spec": "dict", "files": "list", "errors": "dict", "int8_guard": "dict",
            "params": "dict",
        }),
        "device": JsonFile("device.json", {
            "stage": "str", "model": "str", "input_size": "int", "platform": "str", "summary": "dict", "targets": "dict",
        }),
    },
)

#: keys of each row of device.json ``targets`` (numbers are null where the check did not run)
TARGET_ROW_KEYS = ("target", "file", "format", "precision", "verdict", "reasons", "size_bytes", "iou", "max_dp",
                   "latency_median_ms", "latency_p90_ms", "checks")
