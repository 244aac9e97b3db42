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
from mer.errors import DatasetError, MerError

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


def training_of(predictions_sha256: str) -> dict[str, Any] | None:
    """reports/training.json when it records that `mer train` made the predictions
    ``predictions_sha256``; None when it is missing, unreadable, or records others
    (predictions from elsewhere, or one of the two files replaced)."""
    try:
        record = json.loads(paths.TRAINING.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get(PREDICTIONS_KEY) != predictions_sha256:
        return None
    return record


def trained_params(params: Params, predictions_sha256: str) -> Params | None:
    """``params`` with the train and evaluation params that reports/training.json records the
    predictions ``predictions_sha256`` were trained with (its runtime keys, which change no
    result and are not recorded, as ``params`` holds them): what an MLflow run of those
    predictions should record after params.yaml changed. None when training_of has no record,
    or it is of another mer."""
    from mer.config import parse_params
    from mer.core.npz import MADE_WITH

    def update(base: dict[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
        return {**base, **{key: update(base[key], value)
                           if isinstance(value, Mapping) and isinstance(base.get(key), dict)
                           else value for key, value in new.items()}}

    record = training_of(predictions_sha256)
    try:
        return None if record is None else parse_params(
            update(params.model_dump(mode="json"), record[MADE_WITH]), params.source)
    except (KeyError, TypeError, AttributeError, MerError):
        return None


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


def check_stage_output(arrays: Mapping[str, Any], path: str | Path, params: Params,
                       manifest: Any, made_by: str) -> None:
    """Both records of a faces.npz or features.npz (``made_by``: faces or features) read as
    ``arrays``: made with the params ``params`` holds (check_made_with) and from the clips of
    ``manifest`` (check_made_from); a DatasetError saying what to rerun otherwise."""
    from mer.core.npz import (
        FACES_SECTIONS,
        FEATURES_SECTIONS,
        recorded_made_from,
        recorded_made_with,
    )

    sections = {"faces": FACES_SECTIONS, "features": FEATURES_SECTIONS}[made_by]
    check_made_with(recorded_made_with(arrays), path, params, sections)
    check_made_from(recorded_made_from(arrays), path, manifest, params, made_by)


def check_made_from(recorded: Mapping[str, str] | None, path: str | Path, manifest: Any,
                    params: Params, made_by: str) -> None:
    """A DatasetError when the stage output at ``path`` (made by the stage ``made_by``, faces
    or features) was made from other manifest clips than ``manifest`` holds (``recorded``:
    its recorded_made_from): clips added to the manifest since, or given other frames or
    apex, would be left out as if they had no face, or described from their old frames. The
    error names examples and the commands to rerun: from `mer faces` (from `mer features`
    when data/faces.npz is already made from this manifest) through ``made_by``. Clips the
    manifest no longer has are the reader's own check. An output without a record (written
    by a mer before it kept one) is not checked."""
    if recorded is None:
        return
    from mer.core.manifest import frame_digests

    now = frame_digests(manifest)
    added = sorted(set(now) - set(recorded))
    changed = sorted(c for c in set(now) & set(recorded) if now[c] != recorded[c])
    if not added and not changed:
        return
    first = PIPELINE_STAGES.index("faces")
    if made_by == "features" and _faces_made_from(now):
        first += 1
    what = [f"{len(clips)} clip(s) {how} since, e.g. {clips[:3]}"
            for clips, how in ((added, "added to it"), (changed, "given other frames or apex"))
            if clips]
    commands = PIPELINE_STAGES[first:PIPELINE_STAGES.index(made_by) + 1]
    raise DatasetError(f"{path} was made from an older {paths.MANIFEST}: {' and '.join(what)}; "
                       f"rerun {rerun_commands(commands, params.source)} first (`dvc repro` "
                       "reruns what a change touches), or those clips are left out or "
                       "described from their old frames")


def _faces_made_from(digests: Mapping[str, str]) -> bool:
    """Whether data/faces.npz records it was made from exactly these manifest clips."""
    from mer.core.npz import read_faces, recorded_made_from

    try:
        return recorded_made_from(read_faces(paths.FACES)) == dict(digests)
    except DatasetError:
        return False


def annotation_digest(path: str | Path) -> str | None:
    """sha256 of an annotation file's bytes, or, for a folder a corpus is listed by (SMIC-HS's
    emotion folders, STSTNet's tree), of its listing: every file's path in it, hidden ones
    aside, so an image added, moved to another class folder or removed changes it; None when
    ``path`` is gone."""
    path = Path(path)
    if path.is_file():
        return file_digest(path)
    if not path.is_dir():
        return None
    listing = sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                     if p.is_file() and not any(part.startswith(".")
                                                for part in p.relative_to(path).parts))
    return hashlib.sha256("\n".join(listing).encode()).hexdigest()


def held_out_of(params: Params) -> dict[str, Any]:
    """What the evaluation params hold out, as the manifest records it when the data stage
    found a flow-image corpus's channel order (data.flow_channels: auto), which that must not
    decide: ``{"protocol": "loso"}`` (each subject in turn) or ``{"protocol": "cross-corpus",
    "test_corpora": [...]}`` (sorted: held out together)."""
    evaluation = params.evaluation
    if evaluation.protocol == "loso":
        return {"protocol": "loso"}
    return {"protocol": evaluation.protocol, "test_corpora": sorted(evaluation.test_corpora)}


def _held_out_text(held: Mapping[str, Any]) -> str:
    if held.get("protocol") == "loso":
        return "each subject (evaluation.protocol loso)"
    corpora = ", ".join(held.get("test_corpora", [])) or "none"
    return f"the test corpora {corpora} (evaluation.protocol {held.get('protocol')})"


def check_held_out(recorded: Mapping[str, Any], path: str | Path, params: Params,
                   through: str) -> None:
    """A DatasetError when the manifest at ``path`` found its flow images' channel order
    checked against another held-out unit than the evaluation params now hold out
    (``recorded``: held_out_of when it was made): run by hand after a change of
    evaluation.protocol or test_corpora, a fold could train on images read in an order its
    own held-out images decided (a re-check of the leak fixes). DVC reruns `mer data` on such
    a change (dvc.yaml lists both keys for it); by hand, the error says to rerun from `mer
    data` through ``through``."""
    now = held_out_of(params)
    if dict(recorded) == now:
        return
    stages = PIPELINE_STAGES[:PIPELINE_STAGES.index(through) + 1]
    raise DatasetError(f"{path}: `mer data` found its flow images' channel order "
                       f"(data.flow_channels: auto) holding out {_held_out_text(recorded)}, but "
                       f"{params.source} now holds out {_held_out_text(now)}, whose images must "
                       f"not decide it either: rerun {rerun_commands(stages, params.source)} "
                       "first (`dvc repro` reruns what a change touches)")


def check_sheets(recorded: Mapping[str, str], path: str | Path, params: Params,
                 through: str) -> None:
    """A DatasetError when a file `mer data` read to make the manifest at ``path`` (an
    annotation file or a flow image; ``recorded``: file -> sha256) holds other bytes now: run
    by hand after a label or an onset was corrected in a sheet, or an image replaced, a stage
    would go on with the old ones. DVC reruns `mer data` on such an edit (data.root is its
    dependency); by hand, the error says to rerun from `mer data` through ``through``. A file
    no longer there is not checked (a machine that trains from features.npz need not hold the
    corpus)."""
    for sheet, digest in recorded.items():
        now = annotation_digest(sheet)
        if now is not None and now != digest:
            stages = PIPELINE_STAGES[:PIPELINE_STAGES.index(through) + 1]
            what = (f"{sheet}: its files changed (one added, moved or removed)"
                    if Path(sheet).is_dir() else f"{sheet} changed")
            raise DatasetError(f"{what} after `mer data` read it to make {path}: rerun "
                               f"{rerun_commands(stages, params.source)} first (`dvc repro` "
                               "reruns what a change touches), so that what is used is "
                               "what the file holds now")


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
