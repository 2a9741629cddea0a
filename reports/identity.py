"""The dataset's identity: params digest, input file hashes and output hashes.

Two people holding the same dataset version see the same fingerprint. The fingerprint
covers the params that shape the data (every section but ``report`` and ``review``, which
only configure tools, and no execution setting such as ``workers``: see
``portraitkit.params.base.execution_field``) and the hash of every stage output folder present,
so changing a gallery size, the review app's port or the worker count does not look like a
different dataset.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portraitkit.io import sha256_tree
from portraitkit.params import Params
from portraitkit.params.base import data_dump

# Settings of tools that never change the data: the report's layout, the review app's name/port.
PRESENTATION_SECTIONS = ("report", "review")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Identity:
    fingerprint: str
    params_digest: str
    params_sections: list[str]
    params_json: str
    inputs: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def dataset_params(params: Params) -> dict[str, Any]:
    data = data_dump(params)
    return {k: v for k, v in data.items() if k not in PRESENTATION_SECTIONS}


def params_digest(params: Params) -> str:
    return hashlib.sha256(canonical_json(dataset_params(params)).encode()).hexdigest()


def input_hashes(identity_json: Any) -> list[tuple[str, str]]:
    """Every sha256 recorded in curate's identity.json, keyed by its (dotted) place there."""
    found: list[tuple[str, str]] = []

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            # {"path": ..., "sha256": ...} records read best as path -> hash
            if isinstance(node.get("sha256"), str) and isinstance(node.get("path"), str):
                found.append((node["path"], node["sha256"]))
                return
            for k, v in node.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{key}[{i}]")
        elif isinstance(node, str) and _SHA256.match(node.removeprefix("sha256:")):
            found.append((key, node))

    if identity_json is not None:
        walk(identity_json.get("inputs", identity_json) if isinstance(identity_json, dict) else identity_json, "")
    return sorted(found)


def output_hashes(folders: dict[str, Path]) -> list[tuple[str, str]]:
    """sha256_tree of each stage output folder that exists, in the given order."""
    return [(name, sha256_tree(path)) for name, path in folders.items() if Path(path).is_dir()]


def build_identity(params: Params, identity_json: Any, folders: dict[str, Path]) -> Identity:
    digest = params_digest(params)
    outputs = output_hashes(folders)
    h = hashlib.sha256(digest.encode())
    for name, value in outputs:
        h.update(f"\0{name}\0{value}".encode())
    data = dataset_params(params)
    return Identity(
        fingerprint=h.hexdigest(),
        params_digest=digest,
        params_sections=sorted(data),
        params_json=json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False),
        inputs=input_hashes(identity_json),
        outputs=outputs,
    )
