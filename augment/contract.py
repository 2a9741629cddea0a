"""The augment stage's output folder (see portraitkit.contracts)."""

from portraitkit.contracts import Contract, Table

CONTRACT = Contract(
    stage="augment",
    files=("variants.parquet", "preview.png", "summary.json"),
    tables={"variants": Table("variants.parquet", {"image_id": "int", "variant": "int", "image_file": "str",
                                                   "mask_file": "str"})},
)
