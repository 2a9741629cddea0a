"""Every stage's declared output contract holds for what the real stage writes; misfits are one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest

from portraitkit.annotate.clicks.contract import CONTRACT as CLICKS
from portraitkit.augment.contract import CONTRACT as AUGMENT
from portraitkit.contracts import read_table
from portraitkit.curate.coarseness.contract import CONTRACT as FLAG
from portraitkit.curate.contract import CONTRACT as CURATE
from portraitkit.errors import UserError
from portraitkit.io import write_parquet


@pytest.mark.parametrize("contract,folder", [(CURATE, "curated"), (FLAG, "flags"), (CLICKS, "clicks"),
                                             (AUGMENT, "augmented")])
def test_real_stage_output_meets_its_contract(stage_outputs, contract, folder):
    root = getattr(stage_outputs, folder)
    assert [f for f in contract.files if not (root / f).is_file()] == []
    for name in contract.tables:
        df = read_table(root, contract, name)
        assert len(df) > 0 and set(contract.table(name).columns) <= set(df.columns)


def test_wrong_or_missing_column_names_file_and_column(stage_outputs, tmp_path):
    df = pd.read_parquet(stage_outputs.flags / "flags.parquet")
    write_parquet(tmp_path / "flags.parquet", df.assign(coarseness=df["coarseness"].astype(str)))
    with pytest.raises(UserError, match=r"flags.parquet: column coarseness: expected float"):
        read_table(tmp_path, FLAG, "flags")
    write_parquet(tmp_path / "flags.parquet", df.drop(columns=["flagged"]))
    with pytest.raises(UserError, match=r"flags.parquet: missing column\(s\) flagged$"):
        read_table(tmp_path, FLAG, "flags")


def test_json_file_contract_names_file_and_key(tmp_path):
    from portraitkit.contracts import check_output, read_json_file
    from portraitkit.io import write_json
    from portraitkit.train.contract import CONTRACT as TRAIN

    with pytest.raises(UserError, match=r"metrics.json: not found \(is .* a `portraitkit train` output\?\)"):
        read_json_file(tmp_path, TRAIN, "metrics")
    with pytest.raises(UserError, match=r"missing model.pt, metrics.json, timing.json"):
        check_output(tmp_path, TRAIN)
    write_json(tmp_path / "metrics.json", {"stage": "train"})
    with pytest.raises(UserError, match=r"metrics.json: missing key\(s\) arch, "):
        read_json_file(tmp_path, TRAIN, "metrics")
    write_json(tmp_path / "timing.json", {"seconds_per_step": "fast", "device": "cpu"})
    with pytest.raises(UserError, match=r"timing.json: key seconds_per_step: expected float, found str$"):
        read_json_file(tmp_path, TRAIN, "timing")
    write_json(tmp_path / "timing.json", [1])
    with pytest.raises(UserError, match=r"timing.json: expected a JSON object$"):
        read_json_file(tmp_path, TRAIN, "timing")
