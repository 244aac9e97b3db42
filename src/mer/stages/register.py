"""Train the final hybrid on every subject and register it in MLflow's model registry.

C and gamma are chosen by the same nested, subject-grouped procedure as in each LOSO fold.
The new version is tagged with the LOSO evaluation that justifies it (reports/metrics.json)
and is never promoted here: `mer promote` moves the champion alias.

A model trained on precomputed flow images cannot answer a request of raw frames (the served
model's input): then nothing is registered, reports/registered.json says why, and the stage
succeeds, so `dvc repro` on flow images ends cleanly after evaluating.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import TYPE_CHECKING

from mer import paths
from mer.config import load_params
from mer.errors import MerError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def example_request(manifest: pd.DataFrame) -> pd.DataFrame:
    """A real request: onset and apex frames of the first trained clip with an annotated apex,
    else its onset and offset with the apex to be estimated."""
    import pandas as pd

    from mer.inference.serving import ESTIMATE_APEX, encode_frames
    from mer.inference.sources import read_image

    if manifest.empty:
        raise MerError("no clip of the manifest has features: run `mer features` first")
    annotated = manifest[manifest["apex"] >= 0]
    row = (annotated if not annotated.empty else manifest).iloc[0]
    frames = row["frame_paths"]
    second, apex_index = ((frames[row["apex"] - row["onset"]], 1) if row["apex"] >= 0
                          else (frames[-1], ESTIMATE_APEX))
    return pd.DataFrame({
        "frames": [encode_frames([read_image(frames[0]), read_image(second)], ".jpg")],
        "apex_index": [apex_index]})


def run(args: argparse.Namespace) -> None:
    from mlflow.exceptions import MlflowException

    from mer.atomic import write_text
    from mer.data.manifest import read_manifest
    from mer.inference.pipeline import ModelBundle
    from mer.inference.registry import register_bundle, registration_record, tags_from_metrics
    from mer.inference.serving import predict_frame
    from mer.models.clips import load_clips
    from mer.models.hybrid import fit_hybrid
    from mer.tracking.store import evaluation_run_id, use_experiment

    params = load_params(args.params)
    manifest = read_manifest(paths.MANIFEST)
    if (manifest["flow_image"] != "").any():
        reason = ("the model was trained on precomputed flow images; the registered model "
                  "answers requests of raw frames (onset..offset), which these images cannot "
                  "match. Nothing was registered: its LOSO evaluation is in "
                  f"{paths.METRICS} and the MLflow run. Register from a frame corpus")
        write_text(paths.REGISTERED, json.dumps({"registered": False, "reason": reason},
                                                indent=2, sort_keys=True) + "\n")
        log.warning("nothing registered: %s", reason)
        return
    clips = load_clips(paths.FEATURES, paths.MANIFEST, params.labels.scheme)
    log.info("fitting the final model on %d clips of %d subjects", len(clips),
             len(set(clips.subject.tolist())))
    model = fit_hybrid(clips, params.train, seed=params.train.seed)
    metrics = json.loads(paths.METRICS.read_text()) if paths.METRICS.exists() else {}
    if metrics and "hybrid" not in metrics.get("models", {}):
        raise MerError(f"{paths.METRICS} has no LOSO evaluation of the hybrid, the model "
                       "register trains: add hybrid to train.models and rerun")
    if metrics and metrics.get("classes") != list(clips.classes):
        raise MerError(f"{paths.METRICS} evaluates classes {metrics.get('classes')}, not "
                       f"{list(clips.classes)}: run `mer train` and `mer evaluate` first")
    provenance = {
        "dataset": params.data.source,
        "scheme": params.labels.scheme,
        "clips": len(clips),
        "subjects": sorted(set(clips.subject.tolist())),
        "c": model.svm.tuning.c if model.svm else None,
        "gamma": model.svm.tuning.gamma if model.svm else None,
        "loso": tags_from_metrics(metrics, None),
    }
    bundle = ModelBundle(model, clips.classes, params.faces, params.features, provenance)

    input_example = example_request(manifest[manifest["clip_id"].isin(clips.clip_id)])
    output_example = predict_frame(bundle, input_example)

    try:
        use_experiment(params.tracking.experiment)
        version = register_bundle(bundle, params.tracking.model_name, input_example,
                                  output_example, tags_from_metrics(metrics, evaluation_run_id()))
    except MlflowException as exc:
        raise MerError(f"MLflow refused the registration: {exc}. Check MLFLOW_TRACKING_URI "
                       "(unset, it is <project>/mlflow.db)") from None
    write_text(paths.REGISTERED, registration_record(version))
    log.info("registered %s version %s (run %s); promote it with `mer promote --version %s`",
             version.name, version.version, version.run_id, version.version)
