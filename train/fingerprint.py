"""The curated dataset's fingerprint: what a checkpoint records so evaluate can tell the versions apart."""

from __future__ import annotations

import hashlib
from pathlib import Path

from portraitkit.curate.outputs import SPLIT_FILES
from portraitkit.errors import UserError
from portraitkit.io import dumps_json, read_json, sha256_file


def curated_fingerprint(curated: str | Path) -> str:
    """sha256 of curate's params digest, its input hashes and the split files (paths left out)."""
    curated = Path(curated)
    identity_path = curated / "identity.json"
    if not identity_path.is_file():
        raise UserError(f"{identity_path}: not found (is {curated} a curate --out folder?)")
    identity = read_json(identity_path)
    if not isinstance(identity, dict) or "params_digest" not in identity:
        raise UserError(f"{identity_path}: no params_digest (not written by `portraitkit curate`?)")
    inputs = {k: v.get("sha256") for k, v in (identity.get("inputs") or {}).items() if isinstance(v, dict)}
    splits = {name: sha256_file(curated / name) for name in SPLIT_FILES if (curated / name).is_file()}
    key = {"params_digest": identity["params_digest"], "inputs": inputs, "splits": splits}
    return hashlib.sha256(dumps_json(key, indent=None).encode()).hexdigest()
