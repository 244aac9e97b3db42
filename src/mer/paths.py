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


def not_found(path: Path) -> str:
    """'<path> not found' for a stage output a command reads, saying which folder a relative
    path was looked for in: a command run outside the project (`--params` naming another
    folder's file) reads these paths from the folder it runs in."""
    if path.is_absolute():
        return f"{path} not found"
    return f"{path} not found in {Path.cwd()} (run mer in the project folder)"
