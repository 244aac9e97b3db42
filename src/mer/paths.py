"""Where each stage writes. dvc.yaml lists the same paths; this is the one place code reads them."""

from pathlib import Path

DATA = Path("data")
SYNTHETIC = DATA / "synthetic"  # the embedded dataset, unless data.root says else
MANIFEST = DATA / "manifest.parquet"
FACES = DATA / "faces.npz"
FEATURES = DATA / "features.npz"
REPORTS = Path("reports")
DATA_REPORT = REPORTS / "data.json"
FACES_REPORT = REPORTS / "faces.json"
FEATURES_REPORT = REPORTS / "features.json"
PREDICTIONS = REPORTS / "predictions.csv"
TRAINING = REPORTS / "training.json"  # what made predictions.csv: its data, train params
# Caches, not DVC outputs (CACHES): what they hold is keyed by what made it, so a missing or
# stale entry is rebuilt, never used. As DVC outputs they made every `dvc exp run --queue` or
# `--temp` copy, which starts without them, rerun the train stage and pretrain again; mer
# reads and fills the project's own from such a copy (project_cache).
FOLDS = DATA / "folds"  # finished folds, so an interrupted train stage resumes
PRETRAIN = DATA / "pretrain"  # the pretrained CNN of train.cnn.pretrain, one folder per key
CACHES = (FOLDS, PRETRAIN)
EVALUATION = REPORTS / "evaluation.json"  # the full evaluation; not a DVC metric
METRICS = REPORTS / "metrics.json"  # the DVC metric: each model's headline figures
PLOTS = REPORTS / "plots"
REGISTERED = REPORTS / "registered.json"
SYNTHETIC_LONG = DATA / "synthetic_long"  # the embedded long videos, unless spotting.root says else
SPOTTING = REPORTS / "spotting.json"  # spotting under LOSO: spotter and baseline, per corpus
SPOTTING_METRICS = REPORTS / "spotting_metrics.json"  # the spotting DVC metric: six F1s
SPOTTING_INTERVALS = REPORTS / "spotting_intervals.csv"  # every interval behind the counts
# The MLflow run a stage logged, in this clone's tracking store (run id, experiment; DVC
# outputs in DVC's cache, never committed, as the store is not): a fresh clone's `dvc repro`
# finds them missing and runs the stage again, reproducing and logging what it reports,
# rather than taking the committed reports for its outputs (mer.tracking.runs.record_run).
EVALUATION_RUN = DATA / "evaluation_run.json"  # the training run mer evaluate completed
SPOTTING_RUN = DATA / "spotting_run.json"


def project_root(start: str | Path | None = None) -> Path:
    """The project folder: ``start`` (default: cwd), or the real project when inside a DVC
    temporary experiment copy (<root>/.dvc/tmp/exps/<tmp>/...: `dvc exp run --temp` and
    every `dvc queue` experiment run there)."""
    path = Path(start or Path.cwd()).resolve()
    parts = path.parts
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return path


def project_cache(cache: Path) -> Path:
    """``cache`` (one of CACHES) of the project (project_root), also from a DVC experiment
    copy: their entries are keyed by everything that made them and written atomically, so a
    project's experiments share them. A queued variant reuses the pretrained CNN (minutes)
    and every fold its params leave unchanged, and a variant queued again after it failed
    resumes from its finished folds. Relative when mer runs in the project itself."""
    root = project_root()
    return cache if root == Path.cwd().resolve() else root / cache


def missing(path: Path, what: str = "not found",
            why: str = "run mer in the project folder") -> str:
    """'<path> <what>', saying which folder a relative path was looked for in and ``why``:
    mer reads relative paths (its stage outputs, the paths in a params file) from the folder
    it runs in, not from the params file's (`--params` naming another folder's file)."""
    if path.is_absolute():
        return f"{path} {what}"
    return f"{path} {what} in {Path.cwd()} ({why})"
