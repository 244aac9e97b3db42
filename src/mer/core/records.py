"""What each stage output records it was made with, read without loading the output.

mer.config.check_made_with asks it which stages a stale input's rerun advice can leave out:
a stage whose own output already records the params in force (rerun since) need not run
again. Each stage's output and the params sections it records:

- data: data/manifest.parquet (Parquet schema metadata), data and labels
- faces: data/faces.npz (its made_with member), those and faces
- features: data/features.npz, those and features
- train: reports/training.json, train
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mer import paths

if TYPE_CHECKING:
    from mer.config import Params


def recorded(stage: str) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    """(sections, record) of ``stage``'s output as it is on disk; None when the stage has no
    such output, or it is missing, unreadable or records nothing."""
    import zipfile

    import numpy as np
    import pyarrow
    import pyarrow.parquet

    from mer.core.manifest import MADE_WITH_KEY, MANIFEST_SECTIONS
    from mer.core.npz import FACES_SECTIONS, FEATURES_SECTIONS, MADE_WITH
    from mer.evaluation.report import TRAINED_SECTIONS

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
    from mer.config import changed_leaves

    found = recorded(stage)
    if found is None:
        return False
    sections, record = found
    try:
        return not changed_leaves(params.recorded(sections), record)
    except (KeyError, AttributeError, TypeError):  # a record of another mer's params
        return False
