"""The curate stage's output folder (see portraitkit.contracts)."""

from portraitkit.contracts import Contract, Table

CONTRACT = Contract(
    stage="curate",
    files=("manifest.parquet", "funnel.json", "identity.json", "train.json", "val.json", "test.json"),
    tables={"manifest": Table("manifest.parquet", {
        "image_id": "int", "file_name": "str", "kept": "bool", "width": "int", "height": "int",
        "n_persons": "int", "coverage": "float", "reason": "str", "split": "str",
    })},
)
