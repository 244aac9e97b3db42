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
FOLDS = DATA / "folds"  # finished folds, so an interrupted train stage resumes
PRETRAIN = DATA / "pretrain"  # the pretrained CNN of train.cnn.pretrain, one folder per key
EVALUATION = REPORTS / "evaluation.json"  # the full evaluation; not a DVC metric
METRICS = REPORTS / "metrics.json"  # the DVC metric: each model's headline figures
PLOTS = REPORTS / "plots"
REGISTERED = REPORTS / "registered.json"
SYNTHETIC_LONG = DATA / "synthetic_long"  # the embedded long videos, unless spotting.root says else
SPOTTING = REPORTS / "spotting.json"  # spotting under LOSO: spotter and baseline, per corpus
SPOTTING_METRICS = REPORTS / "spotting_metrics.json"  # the spotting DVC metric: six F1s
SPOTTING_INTERVALS = REPORTS / "spotting_intervals.csv"  # every interval behind the counts
# The MLflow run spot-eval logged, in this clone's tracking store: not committed (the store is
# not), so a fresh clone's `dvc repro` runs spot-eval again, reproducing and logging it.
SPOTTING_RUN = DATA / "spotting_run.json"


def missing(path: Path, what: str = "not found",
            why: str = "run mer in the project folder") -> str:
    """'<path> <what>', saying which folder a relative path was looked for in and ``why``:
    mer reads relative paths (its stage outputs, the paths in a params file) from the folder
    it runs in, not from the params file's (`--params` naming another folder's file)."""
    if path.is_absolute():
        return f"{path} {what}"
    return f"{path} {what} in {Path.cwd()} ({why})"
