"""Out-of-fold predictions as a table, and the two reports built from it.

- reports/evaluation.json, the full evaluation: per model pooled accuracy, UAR, UF1, per-class
  recall, precision and support, the per-fold mean and spread under fold_* names; with several
  corpora (the MEGC2019 composite, cross-corpus runs) each corpus's share of the pooled
  predictions scored too, as the field reports it, under 'corpora'.
- reports/metrics.json, the DVC metric: per model only the headline (UAR, UF1, accuracy and the
  spread of the per-fold UAR: over held-out subjects, or test corpora cross-corpus, null with
  one fold), so `dvc exp show` and `dvc metrics diff` stay readable.

Every number comes from mer.evaluation.metrics on the pooled predictions (MEGC convention).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mer import paths
from mer.config import CEILING, CNN, FIGURES, FLOOR, HYBRID, REFERENCES, SVM
from mer.evaluation import metrics

if TYPE_CHECKING:
    import pandas as pd

    from mer.config import Params
    from mer.core.clipset import ClipSet
    from mer.evaluation.loso import FoldOutcome
    from mer.evaluation.splits import Fold

MODEL_ORDER = (FLOOR, CEILING, SVM, CNN, HYBRID, *REFERENCES)  # row and report order
# Whose metrics go top-level in evaluation.json; never a reference net (config forbids a run of
# references alone, so one of these is always there).
PRIMARY_PREFERENCE = (HYBRID, CNN, SVM)
# fold: the held-out subject (LOSO) or 'training corpora->test corpus' (cross-corpus)
ID_COLUMNS = ("model", "fold", "subject", "clip_id", "clip", "label", "prediction")
DECIMALS = 6  # rounding of every float written: stable bytes, ample precision


def prob_column(label: str) -> str:
    return f"prob_{label}"


def model_rank(model: str) -> tuple[int, str]:
    return (MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER), model)


def predictions_frame(outcomes: Sequence[FoldOutcome], clips: ClipSet) -> pd.DataFrame:
    """One row per (model, clip): ids, true label, argmax prediction, probabilities."""
    import pandas as pd

    position = {clip_id: i for i, clip_id in enumerate(clips.clip_id.tolist())}
    rows = []
    for outcome in outcomes:
        index = np.array([position[c] for c in outcome.clip_id], dtype=np.int64)
        for model, proba in outcome.proba.items():
            for row, i in enumerate(index):
                rows.append({
                    "model": model, "fold": outcome.subject, "subject": clips.subject[i],
                    "clip_id": clips.clip_id[i],
                    "clip": clips.clip[i], "label": clips.classes[clips.y[i]],
                    "prediction": clips.classes[int(np.argmax(proba[row]))],
                    **{prob_column(c): float(proba[row, k])
                       for k, c in enumerate(clips.classes)}})
    frame = pd.DataFrame(rows, columns=[*ID_COLUMNS, *map(prob_column, clips.classes)])
    frame["rank"] = frame["model"].map(model_rank)
    return frame.sort_values(["rank", "clip_id"]).drop(columns="rank").reset_index(drop=True)


def predictions_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format=f"%.{DECIMALS}f", lineterminator="\n")


SHOWN_ROWS = 5  # rows or clips a message names before '...'
# How far a row's probabilities may sum from 1: each is written to DECIMALS places.
PROBABILITY_SUM_TOLERANCE = 1e-4


def _rows(frame: pd.DataFrame, mask: Any) -> str:
    """The CSV line numbers (the header is line 1) of ``frame``'s rows under ``mask``."""
    lines = [str(i + 2) for i in np.flatnonzero(np.asarray(mask))]
    return ", ".join(lines[:SHOWN_ROWS]) + (", ..." if len(lines) > SHOWN_ROWS else "")


def _some(names: set[str]) -> str:
    shown = sorted(names)
    return ", ".join(shown[:SHOWN_ROWS]) + (f", ... ({len(shown)} in all)"
                                           if len(shown) > SHOWN_ROWS else "")


def _where(path: str | Path, frame: pd.DataFrame, mask: Any) -> str:
    """'<path>, line 6' for the first row under ``mask`` (and how many more there are)."""
    lines = np.flatnonzero(np.asarray(mask)) + 2  # the header is line 1
    more = f" (and {len(lines) - 1} more rows)" if len(lines) > 1 else ""
    return f"{path}, line {lines[0]}{more}"


def read_predictions(path: str | Path, classes: Sequence[str]) -> pd.DataFrame:
    """Read predictions.csv (ids stay strings: subject '006' is not 6) and check its classes."""
    import pandas as pd

    from mer.atomic import unreadable
    from mer.errors import DatasetError

    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{paths.missing(path)}: run `mer train` (or `dvc repro train`) "
                           "first")
    expected = [*ID_COLUMNS, *map(prob_column, classes)]
    try:  # empty (0 bytes), binary garbage, ragged rows: one message, not a pandas traceback
        frame = pd.read_csv(path, dtype={c: str for c in ID_COLUMNS}, keep_default_na=False)
    except (OSError, ValueError) as exc:  # EmptyDataError, ParserError, UnicodeDecodeError
        raise unreadable(path, exc, "mer train") from None
    if list(frame.columns) != expected:
        raise DatasetError(f"{path} has columns {list(frame.columns)}, expected {expected}: it "
                           "was written under another labels.scheme or version; rerun `mer train`")
    if frame.empty:
        raise DatasetError(f"{path} has no rows: rerun `mer train`")
    for column in ("label", "prediction"):
        outside = ~frame[column].isin(classes)
        if outside.any():
            row = frame[outside].iloc[0]
            raise DatasetError(f"{_where(path, frame, outside)}: {column} {row[column]!r} "
                               f"(model {row['model']}, clip {row['clip_id']}) is none of "
                               f"{list(classes)}; rerun `mer train`")
    for column in map(prob_column, classes):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = ~values.between(0.0, 1.0)  # NaN too: a cell that is no number
        if bad.any():
            row = frame[bad].iloc[0]
            raise DatasetError(f"{_where(path, frame, bad)}: {column} {row[column]!r} "
                               f"(model {row['model']}, clip {row['clip_id']}) is not a "
                               "probability between 0 and 1; rerun `mer train`")
        frame[column] = values
    return frame


def held_out(clips: ClipSet, folds: Sequence[Fold]) -> dict[str, tuple[str, str]]:
    """clip_id -> (subject, label) of every clip a fold of ``folds`` holds out: what a
    training's predictions table covers."""
    return {str(clips.clip_id[i]): (str(clips.subject[i]), clips.classes[clips.y[i]])
            for fold in folds for i in fold.test}


def check_predictions(frame: pd.DataFrame, path: str | Path, protocol: str,
                      truth: Mapping[str, tuple[str, str]] | None = None,
                      trained: Sequence[str] | None = None) -> None:
    """DatasetError naming the lines, unless ``frame`` (read_predictions) is a table a training
    writes: one prediction per model and clip; every model over the same clips (the AU-oracle
    over a subset: it scores the clips with AU codes); under LOSO each clip in the fold of its
    own subject; each prediction the class of its highest probability, the probabilities
    summing to 1; and, given ``truth`` (held_out: the clips the folds hold out, with their
    subject and label), exactly those clips, with those subjects and labels; given ``trained``
    (train.models), exactly those models with the bounds (majority, au-oracle). A table edited or
    merged by hand would otherwise be pooled into figures that look like any others (break-it
    sessions: a subject counted twice or missing, a relabelled clip, predictions set to the
    labels scoring UAR 1.0)."""
    from mer.errors import DatasetError

    twice = frame.duplicated(["model", "clip_id"], keep=False)
    if twice.any():
        first = frame[twice].iloc[0]
        raise DatasetError(f"{path}: model {first['model']} predicts clip {first['clip_id']} "
                           f"more than once (lines {_rows(frame, twice)}); each model predicts "
                           "each clip once: rerun `mer train`")
    if protocol == "loso":
        astray = frame["fold"] != frame["subject"]
        if astray.any():
            raise DatasetError(f"{path}: under LOSO a clip is predicted in the fold of its own "
                               f"subject, but lines {_rows(frame, astray)} are not (fold "
                               f"{frame[astray].iloc[0]['fold']}, subject "
                               f"{frame[astray].iloc[0]['subject']}): rerun `mer train`")
    if trained is not None:
        present = set(models_of(frame))
        stray = sorted(present - set(trained) - set(BOUNDS))
        lacking = sorted(set(trained) - present)
        if stray or lacking:
            what = (f"holds model(s) {', '.join(stray)}, which train.models does not train"
                    if stray else f"lacks model(s) {', '.join(lacking)} of train.models")
            raise DatasetError(f"{path}: {what} (train.models: {', '.join(trained)}, with the "
                               f"bounds {' and '.join(BOUNDS)}): rerun `mer train`")
    classes = classes_of(frame)
    probabilities = frame[[prob_column(c) for c in classes]].to_numpy(dtype=np.float64)
    argmax = np.array(classes)[probabilities.argmax(axis=1)]
    predicted = probabilities[np.arange(len(frame)), _indices(frame["prediction"], classes)]
    # the predicted class's probability is the highest, up to the rounding of the written
    # values (two classes a hair apart may be written equal)
    contradicted = predicted < probabilities.max(axis=1) - 10.0 ** -DECIMALS
    if contradicted.any():
        raise DatasetError(f"{_where(path, frame, contradicted)}: prediction "
                           f"{frame['prediction'][contradicted].iloc[0]!r} is not the class of "
                           f"the highest probability ({argmax[contradicted][0]}); a training "
                           "predicts that class: rerun `mer train`")
    unsummed = np.abs(probabilities.sum(axis=1) - 1.0) > PROBABILITY_SUM_TOLERANCE
    if unsummed.any():
        raise DatasetError(f"{_where(path, frame, unsummed)}: the probabilities sum to "
                           f"{probabilities[unsummed][0].sum():.6f}, not 1: rerun `mer train`")
    clips = {model: set(rows["clip_id"]) for model, rows in frame.groupby("model")}
    scored = [m for m in clips if m != CEILING]
    every = set().union(*(clips[m] for m in scored)) if scored else set()
    for model in models_of(frame):
        missing = every - clips[model] if model != CEILING else set()
        extra = clips[model] - every if scored else set()
        if missing or extra:
            what = (f"lacks {len(missing)} clip(s) the other models predict ({_some(missing)})"
                    if missing else f"predicts {len(extra)} clip(s) no other model does "
                    f"({_some(extra)})")
            raise DatasetError(f"{path}: model {model} {what}; every model predicts the same "
                               "held-out clips: rerun `mer train`")
    if truth is None:
        return
    unknown = set(frame["clip_id"]) - set(truth)
    if unknown:
        raise DatasetError(f"{path}: predicts {len(unknown)} clip(s) no fold of this manifest "
                           f"and features holds out ({_some(unknown)}): rerun `mer train`")
    absent = set(truth) - every if scored else set()
    if absent:
        subjects = {truth[c][0] for c in absent}
        raise DatasetError(f"{path}: lacks the {len(absent)} held-out clip(s) of subject(s) "
                           f"{_some(subjects)} ({_some(absent)}), which the folds of this "
                           "manifest and features hold out: rerun `mer train`")
    expected = frame["clip_id"].map(truth)
    for column, position in (("subject", 0), ("label", 1)):
        wrong = frame[column] != expected.str[position]
        if wrong.any():
            row = frame[wrong].iloc[0]
            raise DatasetError(f"{_where(path, frame, wrong)}: clip {row['clip_id']} has "
                               f"{column} {row[column]!r}, but the manifest says "
                               f"{truth[row['clip_id']][position]!r}: rerun `mer train`")


def classes_of(frame: pd.DataFrame) -> tuple[str, ...]:
    """The scheme's classes, in order, from the prob_<class> columns."""
    return tuple(c.removeprefix("prob_") for c in frame.columns if c.startswith("prob_"))


def models_of(frame: pd.DataFrame) -> list[str]:
    return sorted(set(frame["model"]), key=model_rank)


def _indices(labels: pd.Series, classes: Sequence[str]) -> np.ndarray:
    lookup = {c: k for k, c in enumerate(classes)}
    return np.array([lookup[v] for v in labels], dtype=np.int64)


def model_metrics(frame: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
    """Pooled metrics of one model's rows, plus the mean and spread over its folds (held-out
    subjects under LOSO, test corpora cross-corpus)."""
    y_true, y_pred = _indices(frame["label"], classes), _indices(frame["prediction"], classes)
    pooled = metrics.summarise(y_true, y_pred, classes)
    pooled.pop("confusion")  # lives in plots/ (CSV + PNG); a nested list reads badly in JSON
    corpora = per_corpus(frame, classes)
    return {**pooled, **metrics.fold_spread(y_true, y_pred, frame["fold"].to_numpy(),
                                            len(classes)),
            **({"corpora": corpora} if corpora else {})}


def corpus_column(frame: pd.DataFrame) -> pd.Series:
    """The corpus of each prediction row: the first part of its clip_id."""
    return frame["clip_id"].str.split("/", n=1).str[0]


def per_corpus(frame: pd.DataFrame, classes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """corpus -> clips, accuracy, UAR, UF1 of one model's predictions restricted to it, and
    the classes its clips show (its UAR averages over those: a corpus that keeps one class
    scores that class's recall, 1.000 when it is always predicted; its UF1 over those and any
    other class predicted there, whose F1 is 0: mer.evaluation.metrics, the MEGC convention);
    {} when the predictions come from one corpus only."""
    corpora = corpus_column(frame)
    if corpora.nunique() < 2:
        return {}
    out = {}
    for corpus, part in frame.groupby(corpora, sort=True):
        out[str(corpus)] = {"clips": len(part), **metrics.scores(
            _indices(part["label"], classes), _indices(part["prediction"], classes),
            len(classes)), "classes": classes_shown(part, classes)}
    return out


def classes_shown(rows: pd.DataFrame, classes: Sequence[str]) -> list[str]:
    """The classes the true labels of these prediction rows show, in ``classes``' order: the
    classes their UAR averages over."""
    return sorted(set(rows["label"]), key=list(classes).index)


def fewer_classes(frame: pd.DataFrame, report: dict[str, Any]) -> dict[str | None, list[str]]:
    """The scored clips that show fewer classes than the report's (``frame``: the predictions
    ``report`` was made from): None -> the classes all the primary model's clips show (a
    cross-corpus test corpus may lack some), and corpus -> the classes its clips show, for
    each corpus of the per-corpus figures; each only when fewer."""
    classes = report["classes"]
    pooled = classes_shown(frame[frame["model"] == report["primary"]], classes)
    shown: dict[str | None, list[str]] = {None: pooled}
    shown.update({corpus: figures["classes"]
                  for corpus, figures in report.get("corpora", {}).items()})
    return {where: found for where, found in shown.items() if len(found) < len(classes)}


def per_subject(frame: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """model, subject, clips, classes, accuracy, uar, uf1 for every (model, held-out subject);
    ``classes``: how many classes the subject's clips show, the classes its UAR averages
    over, so its chance UAR is 1 / classes (0.5 for a subject of two classes, not the
    scheme's 1 / 5: a break-it session read subjects at chance as well above it)."""
    import pandas as pd

    rows = []
    for (model, subject), part in frame.groupby(["model", "subject"], sort=False):
        rows.append({"model": model, "subject": subject, "clips": len(part),
                     "classes": part["label"].nunique(),
                     **metrics.scores(_indices(part["label"], classes),
                                      _indices(part["prediction"], classes), len(classes))})
    out = pd.DataFrame(rows, columns=["model", "subject", "clips", "classes", "accuracy", "uar",
                                      "uf1"])
    out["rank"] = out["model"].map(model_rank)
    return out.sort_values(["rank", "subject"]).drop(columns="rank").reset_index(drop=True)


def primary_model(models: Sequence[str]) -> str:
    return next((m for m in PRIMARY_PREFERENCE if m in models), models[0])


def chance_uar(frame: pd.DataFrame) -> float:
    """The pooled UAR of chance, 1 / the classes the primary model's clips show: UAR averages
    over those (a cross-corpus test corpus may lack some: a review found a constant guess at
    0.5 drawn above a chance of 1/3), as per subject and per corpus."""
    primary = primary_model(models_of(frame))
    return 1.0 / len(classes_shown(frame[frame["model"] == primary], classes_of(frame)))


def evaluation_report(frame: pd.DataFrame) -> dict[str, Any]:
    """The content of reports/evaluation.json: every model's every figure."""
    classes = classes_of(frame)
    models = models_of(frame)
    if not models:
        raise ValueError("the predictions table is empty")
    per_model = {m: model_metrics(frame[frame["model"] == m], classes) for m in models}
    primary = primary_model(models)
    chance = chance_uar(frame)
    report: dict[str, Any] = {
        "primary": primary,
        **{k: per_model[primary][k] for k in ("accuracy", "uar", "uf1", "fold_mean_uar",
                                               "fold_std_uar")},
        "classes": list(classes),
        "clips": int(per_model[primary]["clips"]),
        "subjects": int(frame["subject"].nunique()),
        "floor": {"chance_uar": chance},
        "models": per_model,
    }
    if "corpora" in per_model[primary]:
        report["corpora"] = per_model[primary]["corpora"]
    if FLOOR in per_model:
        report["floor"].update({f"majority_{k}": per_model[FLOOR][k]
                                for k in ("accuracy", "uar", "uf1")})
    if CEILING in per_model:  # scored on the clips with AU codes only: 'clips' says how many
        report["ceiling"] = {f"au_oracle_{k}": per_model[CEILING][k]
                             for k in ("accuracy", "uar", "uf1", "clips")}
    return report


# The headline of each model in reports/metrics.json, from its evaluation.json entry. Short
# names: 5 models x 4 figures are the columns `dvc exp show` prints for every experiment.
HEADLINE = {"uar": "uar", "uf1": "uf1", "acc": "accuracy", "uar_sd": "fold_std_uar"}
BOUNDS = (FLOOR, CEILING)  # not config.REFERENCES (the field's reference nets): the bounds


def headline_rank(model: str) -> tuple[int, int, str]:
    """reports/metrics.json's model order, which is `dvc exp show`'s column order: the learners,
    primary first, then the field's reference nets, then the floor and the ceiling, whose
    columns DVC folds first when the table is wider than the terminal."""
    if model in PRIMARY_PREFERENCE:
        return (0, PRIMARY_PREFERENCE.index(model), model)
    if model in BOUNDS:
        return (2, BOUNDS.index(model), model)
    return (1, *model_rank(model))


def headline(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The content of reports/metrics.json: model -> uar, uf1, acc (accuracy) and uar_sd (the
    population std of the per-fold UAR: per held-out subject under LOSO, per test corpus
    cross-corpus; None with one fold), in headline_rank order."""
    return {m: {short: report["models"][m][key] for short, key in HEADLINE.items()}
            for m in sorted(report["models"], key=headline_rank)}


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return round(float(value), DECIMALS)
    return value


def to_json(report: dict[str, Any], *, sort_keys: bool = True) -> str:
    """Rounded floats, trailing newline, keys sorted (or, with sort_keys=False, in the order
    the report was built): equal reports give equal bytes."""
    return json.dumps(_rounded(report), sort_keys=sort_keys, indent=2) + "\n"


def read_evaluation(path: Path, evaluate: str = "mer evaluate") -> dict[str, Any]:
    """reports/evaluation.json as written by ``evaluate`` (the command, `mer evaluate`); {}
    when there is none. Raises DatasetError when it is there but not a JSON object."""
    from mer.atomic import unreadable

    if not path.exists():
        return {}
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise unreadable(path, exc, evaluate) from None
    if not isinstance(report, dict):
        raise unreadable(path, None, evaluate)
    return report


def check_trained_on(record: dict[str, Any], predictions: Path, data: Sequence[Path],
                     params: Params, so_that: str) -> None:
    """A DatasetError when ``record`` (reports/training.json, read) says ``predictions`` were
    trained on other ``data`` files (the manifest, features.npz) than those there now: rebuilt
    after `mer train` (`mer data` after a sheet's labels or clips changed), its figures would
    describe a training on data that no longer is. The error says to rerun `mer train` and
    `mer evaluate` first, so that ``so_that`` (the caller's reason, in words)."""
    from mer.config import rerun_commands
    from mer.core.records import DATA_KEY, file_digest
    from mer.errors import DatasetError

    if record.get(DATA_KEY) != file_digest(*data):
        raise DatasetError(
            f"{predictions} was trained on other data than {' and '.join(map(str, data))} "
            f"hold now (rebuilt after `mer train`): run "
            f"{rerun_commands(('train', 'evaluate'), params.source)} first, so that {so_that}")


def check_evaluation_current(report: dict[str, Any], params: Params, *, evaluation: Path,
                             predictions: Path, training: Path, data: Sequence[Path],
                             classes: Sequence[str]) -> None:
    """Refuse to tag a final model with an evaluation (LOSO or cross-corpus) of another recipe
    or another model: ``report`` (read from ``evaluation``; {} when there is none, and then
    nothing is checked) must score the ``predictions`` file as it is now, which `mer train`
    must have made (``training``: mer.core.records.training_record) from the ``data`` files as
    they are now, with the ``train`` and ``evaluation`` params ``params`` holds; and it must
    score the hybrid (the model register trains) on exactly ``classes``. Run by hand,
    `mer features` or a params change after `mer evaluate` would otherwise tag the new version
    with the old figures. Raises DatasetError naming the commands to rerun."""
    from mer.atomic import unreadable
    from mer.config import mer_command, rerun_commands
    from mer.core.npz import MADE_WITH
    from mer.core.records import PREDICTIONS_KEY, TRAINED_SECTIONS, check_made_with, file_digest
    from mer.errors import DatasetError

    if not report:
        return
    again = rerun_commands(("train", "evaluate"), params.source)
    evaluate_again = rerun_commands(("evaluate",), params.source)
    evaluate_command = mer_command("evaluate", params.source)
    if not predictions.exists():
        raise DatasetError(f"{evaluation} evaluates {predictions}, which is not there: run "
                           f"{again} first")
    now = file_digest(predictions)
    if report.get(PREDICTIONS_KEY) != now:
        raise DatasetError(
            f"{evaluation} does not evaluate {predictions} as it is now (`mer train` ran after "
            f"`mer evaluate`, or an older mer wrote it): run "
            f"{evaluate_again} first, so that the registered version is tagged with its own "
            "evaluation")
    try:
        record = json.loads(training.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{training} not found: it says what trained {predictions}; run "
                           f"{again} first (a mer before it wrote none)") from None
    except (OSError, ValueError) as exc:
        raise unreadable(training, exc, mer_command("train", params.source)) from None
    if not isinstance(record, dict):
        raise unreadable(training, None, mer_command("train", params.source))
    if record.get(PREDICTIONS_KEY) != now:
        raise DatasetError(f"{training} does not describe {predictions} (one of them was "
                           f"replaced): run {again} first")
    check_trained_on(record, predictions, data, params, "the registered version is tagged "
                     "with its own evaluation")
    check_made_with(record.get(MADE_WITH) or {}, predictions, params, TRAINED_SECTIONS,
                    through="evaluate")
    # The figures are current: what they lack, the recipe (or a hand edit) left out.
    models = report.get("models")
    if not isinstance(models, dict):
        raise unreadable(evaluation, None, evaluate_command)
    if HYBRID not in models:
        fix = (f"rerun {evaluate_again}" if HYBRID in params.train.models else
               f"add {HYBRID} to train.models and run {again}")
        raise DatasetError(f"{evaluation} has no evaluation of the {HYBRID}, the model "
                           f"register trains: {fix}")
    if report.get("classes") != list(classes):
        raise DatasetError(f"{evaluation} evaluates classes {report.get('classes')}, not "
                           f"{list(classes)}: run {again} first")
    hybrid = models[HYBRID]
    if not isinstance(hybrid, dict) or not all(
            isinstance(hybrid.get(key), int | float) and not isinstance(hybrid[key], bool)
            and 0 <= hybrid[key] <= 1 for key in FIGURES):  # what the version is tagged with
        raise unreadable(evaluation, None, evaluate_command)
