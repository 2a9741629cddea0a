"""The clicks stage's output folder (see portraitkit.contracts)."""

from portraitkit.contracts import Contract, Table

CONTRACT = Contract(
    stage="clicks",
    files=("clicks.parquet", "summary.json"),
    tables={"clicks": Table("clicks.parquet", {"annotation_id": "int", "image_id": "int", "strategy": "str",
                                               "set_index": "int", "positives": "list", "negatives": "list"})},
)
