"""The flag stage's output folder (see portraitkit.contracts)."""

from portraitkit.contracts import Contract, Table

CONTRACT = Contract(
    stage="flag",
    files=("flags.parquet", "images.parquet", "summary.json"),
    tables={
        "flags": Table("flags.parquet", {"annotation_id": "int", "image_id": "int", "coarseness": "float",
                                         "flagged": "bool", "reasons": "str"}),
        "images": Table("images.parquet", {"image_id": "int", "n_persons": "int", "n_flagged": "int"}),
    },
)
