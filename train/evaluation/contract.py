"""The evaluate stage's output folder (see portraitkit.contracts and ``train.evaluation.stage``).

Always: ``metrics.json``, ``per_image.parquet`` and ``predictions/<image_id>.png``. Interactive
models add ``noc_instances.parquet``, ``noc_curve.csv`` and the ``INTERACTIVE_KEYS`` of metrics.json.
"""

from portraitkit.contracts import Contract, JsonFile, Table

CONTRACT = Contract(
    stage="evaluate",
    files=("metrics.json", "per_image.parquet"),
    tables={
        "per_image": Table("per_image.parquet", {
            "image_id": "int", "file_name": "str", "width": "int", "height": "int", "n_persons": "int",
            "iou": "float", "iou_background": "float", "miou": "float", "boundary_iou": "float",
            "intersection": "int", "union": "int", "gt_pixels": "int", "pred_pixels": "int",
        }),
        "noc_instances": Table("noc_instances.parquet", {
            "image_id": "int", "annotation_id": "int", "predictor": "str", "noc85": "int", "noc90": "int",
            "reached85": "bool", "reached90": "bool", "ious": "list",
        }),
    },
    jsons={
        "metrics": JsonFile("metrics.json", {
            "stage": "str", "split": "str", "n_images": "int", "iou": "float", "miou": "float",
            "boundary_iou": "float", "iou_pooled": "float", "model": "dict", "input_spec": "dict",
            "dataset_fingerprint": "str?", "model_dataset_fingerprint": "str?", "dataset_match": "bool?",
        }),
    },
)

#: metrics.json keys of an interactive model (beside a ``grabcut`` object with the same keys, when run)
INTERACTIVE_KEYS = ("noc85", "noc90", "noc85_failed", "noc90_failed", "iou_at_1", "iou_at_3", "iou_at_5")
PREDICTIONS = "predictions"
NOC_CURVE = "noc_curve.csv"
