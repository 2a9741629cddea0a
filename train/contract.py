"""The train stage's output folder (see portraitkit.contracts).

``model.pt`` is the checkpoint of ``train.checkpoint`` (read it with ``load_checkpoint``);
``metrics.json`` the run's numbers (``dvc metrics show``); ``timing.json`` the execution facts
kept out of metrics.json so that equal runs write equal bytes. A ``dvclive/`` folder, when the
stage logs through dvclive, holds the training curves (``plots/metrics/**.tsv``).
"""

from portraitkit.contracts import Contract, JsonFile

CONTRACT = Contract(
    stage="train",
    files=("model.pt", "metrics.json", "timing.json"),
    jsons={
        "metrics": JsonFile("metrics.json", {
            "stage": "str", "arch": "str", "interactive": "bool", "steps": "int", "n_train": "int", "n_val": "int",
            "val_iou": "float?", "final_loss": "float", "first_loss": "float", "n_params": "int", "macs": "int",
            "dataset_fingerprint": "str", "params_digest": "str",
        }),
        "timing": JsonFile("timing.json", {"seconds_per_step": "float", "device": "str"}),
    },
)

#: Per-step curves (dvclive TSVs: a ``step`` column and the value), present when the run logged them:
#: curve name -> path inside the run folder. Readers treat a missing file as "not logged".
CURVES = {
    "loss": "dvclive/plots/metrics/train/loss.tsv",
    "val_iou": "dvclive/plots/metrics/val/iou.tsv",
}
