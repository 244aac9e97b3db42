"""The record `mer synthesize` leaves in the dataset it generates, and `mer export-flow-images`
beside the images of such a dataset: the data seeds its subjects were drawn from. A
pretraining corpus drawn from one of them (mer.models.pretrain) is refused whichever adapter
reads the folder: casme2, samm, smic or flow-images.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mer.errors import DatasetError

SYNTHESIS_RECORD = "synthesis.json"


def write_synthesis_record(folder: Path, seeds: Iterable[int]) -> Path:
    """SYNTHESIS_RECORD in ``folder``: the data seeds of the synthetic subjects it holds."""
    path = Path(folder) / SYNTHESIS_RECORD
    path.write_text(json.dumps({"generator": "mer synthesize", "seeds": sorted(set(seeds))},
                               indent=2) + "\n", encoding="utf-8")
    return path


def synthesis_seeds(folders: Iterable[str | Path]) -> dict[int, Path]:
    """Data seed -> the SYNTHESIS_RECORD naming it, of each folder in ``folders`` or its
    parent (a corpus read from a format's subfolder of the generated dataset). DatasetError
    for a record that is not one write_synthesis_record wrote: the check it serves would
    otherwise pass unseen."""
    found: dict[int, Path] = {}
    for folder in folders:
        for place in (Path(folder), Path(folder).parent):
            record = place / SYNTHESIS_RECORD
            if not record.is_file():
                continue
            try:
                seeds = json.loads(record.read_text(encoding="utf-8"))["seeds"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                seeds = exc
            if not isinstance(seeds, list) or not all(type(s) is int for s in seeds):
                raise DatasetError(f"{record}: not the record `mer synthesize` writes (the "
                                   "data seeds of a generated dataset); restore it, or "
                                   "generate the dataset again")
            for seed in seeds:
                found.setdefault(seed, record)
    return found
