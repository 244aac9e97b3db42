"""What each stage output records it was made with, read without loading the output.

Also the file digest mer identifies data and predictions by, and reports/training.json, the
record `mer train` keeps of what made reports/predictions.csv (so that `mer register` can
tell whether the LOSO evaluation it tags a version with evaluates that version's recipe).

``check_made_with`` asks it which stages a stale input's rerun advice can leave out:
a stage whose own output already records the params in force (rerun since) need not run
again. Each stage's output and the params sections it records:

- data: data/manifest.parquet (Parquet schema metadata), data and labels
- faces: data/faces.npz (its made_with member), those and faces
- features: data/features.npz, those and features
- train: reports/training.json, train
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mer import paths
from mer.config import MADE_BY, PIPELINE_STAGES, changed_leaves, rerun_commands
from mer.errors import DatasetError

if TYPE_CHECKING:
    from mer.config import Params

PREDICTIONS_KEY = "predictions_sha256"  # in training.json and evaluation.json
DATA_KEY = "data_sha256"  # features.npz + manifest.parquet, as the MLflow runs' data hash
# The params training.json records (the data's are in their own records): how the models were
# trained, and by which protocol the predictions were made.
TRAINED_SECTIONS = ("train", "evaluation")


def file_digest(*files: str | Path) -> str:
    """sha256 over the bytes of ``files`` in order (the data hash of a run)."""
    sha = hashlib.sha256()
    for file in files:
        with Path(file).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()


def training_record(params: Params, data_sha256: str, predictions_sha256: str) -> str:
    """reports/training.json as text: the sha256 of the predictions `mer train` wrote, of the
    data it trained on (file_digest of features.npz and the manifest) and the ``train`` and
    ``evaluation`` params (Params.recorded) it trained with."""
    from mer.core.npz import MADE_WITH

    return json.dumps({PREDICTIONS_KEY: predictions_sha256, DATA_KEY: data_sha256,
                       MADE_WITH: params.recorded(TRAINED_SECTIONS)}, sort_keys=True,
                      indent=2) + "\n"


def output_record(stage: str) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    """(sections, record) of ``stage``'s output as it is on disk; None when the stage has no
    such output, or it is missing, unreadable or records nothing."""
    import zipfile

    import numpy as np
    import pyarrow
    import pyarrow.parquet

    from mer.core.manifest import MADE_WITH_KEY, MANIFEST_SECTIONS
    from mer.core.npz import FACES_SECTIONS, FEATURES_SECTIONS, MADE_WITH

    try:
        if stage == "data":
            metadata = pyarrow.parquet.read_schema(paths.MANIFEST).metadata or {}
            return MANIFEST_SECTIONS, json.loads(metadata[MADE_WITH_KEY])
        if stage in ("faces", "features"):
            path, sections = ((paths.FACES, FACES_SECTIONS) if stage == "faces"
                              else (paths.FEATURES, FEATURES_SECTIONS))
            with np.load(path, allow_pickle=False) as arrays:  # reads only this member
                return sections, json.loads(str(arrays[MADE_WITH]))
        if stage == "train":
            record = json.loads(paths.TRAINING.read_text(encoding="utf-8"))
            return TRAINED_SECTIONS, record[MADE_WITH]
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            pyarrow.ArrowException):  # missing, unreadable or foreign: not current
        return None
    return None


def is_current(stage: str, params: Params) -> bool:
    """True when ``stage``'s output records exactly the ``params`` it would be made with."""
    found = output_record(stage)
    if found is None:
        return False
    sections, record = found
    try:
        return not changed_leaves(params.recorded(sections), record)
    except (KeyError, AttributeError, TypeError):  # a record of another mer's params
        return False


def check_made_with(recorded: Mapping[str, Any] | None, path: str | Path, params: Params,
                    sections: tuple[str, ...], through: str | None = None) -> None:
    """A DatasetError when the stage output at ``path`` was made with (``recorded``: its
    record, recorded_made_with or the manifest's) other values of the params ``sections``
    (Params.recorded) than ``params`` holds: run by hand after a params change, a stage
    would train or register on inputs made another way. The error names the params file and
    the commands to rerun: from the stage of the earliest section that changed (MADE_BY),
    less the first stages whose own outputs already record the params in force
    (``is_current``: rerun since), through ``through``, the last stage whose output the
    command reads (default: the one that made ``path``). An output without a record (written
    by a mer before it kept one) is not checked."""
    if recorded is None:
        return
    now = params.recorded(sections)
    made_by = sorted({PIPELINE_STAGES.index(MADE_BY[name]) for name in sections})
    last = PIPELINE_STAGES.index(through) if through else made_by[-1]
    try:
        changed = changed_leaves(now, {name: recorded[name] for name in now})
    except (KeyError, AttributeError, TypeError):  # made by a mer with other params
        raise DatasetError(f"{path} was made by another version of mer: rerun "
                           f"{rerun_commands(PIPELINE_STAGES[made_by[0]:last + 1], params.source)}"
                           " (or `dvc repro`)") from None
    if changed:
        first = min(PIPELINE_STAGES.index(MADE_BY[key.split(".")[0]]) for key, _, _ in changed)
        commands = PIPELINE_STAGES[first:last + 1]
        made = made_by[-1] - first  # the stage that made path: stale, it records `changed`
        while made > 0 and is_current(commands[0], params):  # rerun since: not again
            commands, made = commands[1:], made - 1
        then = ", ".join(f"{key} {old!r}" for key, _, old in changed[:3])
        new = ", ".join(f"{new!r}" for _, new, _ in changed[:3])
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        raise DatasetError(f"{path} was made with {then}{more}, but {params.source} now says "
                           f"{new}: rerun {rerun_commands(commands, params.source)} first "
                           "(`dvc repro` reruns what a change touches), so that what is trained "
                           f"on and served is what {params.source} describes")
