"""Train the final hybrid on every subject and register it in MLflow's model registry.

C and gamma are chosen by the same nested, subject-grouped procedure as in each LOSO fold.
The new version is tagged with the LOSO evaluation that justifies it (reports/metrics.json)
and is never promoted here: `mer promote` moves the champion alias.
"""

from __future__ import annotations

import argparse
import json
import logging

from mer import paths
from mer.config import load_params
from mer.errors import MerError

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> None:
    import pandas as pd

    from mer.atomic import write_text
    from mer.data.manifest import read_manifest
    from mer.inference.pipeline import ModelBundle
    from mer.inference.registry import register_bundle, registration_record, tags_from_metrics
    from mer.inference.serving import encode_frames, predict_frame
    from mer.inference.sources import read_image
    from mer.models.clips import load_clips
    from mer.models.hybrid import fit_hybrid
    from mer.tracking.store import evaluation_run_id, use_experiment

    params = load_params(args.params)
    if params.data.source == "flow-images":
        raise MerError("data.source is flow-images: a model trained on precomputed flow images "
                       "cannot be served from raw frames; evaluate with `mer train`/`mer "
                       "evaluate`, and register from a frame dataset")
    manifest = read_manifest(paths.MANIFEST)
    clips = load_clips(paths.FEATURES, paths.MANIFEST, params.labels.scheme)
    log.info("fitting the final model on %d clips of %d subjects", len(clips),
             len(set(clips.subject.tolist())))
    model = fit_hybrid(clips, params.train, seed=params.train.seed)
    metrics = json.loads(paths.METRICS.read_text()) if paths.METRICS.exists() else {}
    provenance = {
        "dataset": params.data.source,
        "scheme": params.labels.scheme,
        "clips": len(clips),
        "subjects": sorted(set(clips.subject.tolist())),
        "c": model.tuning.c if model.tuning else None,
        "gamma": model.tuning.gamma if model.tuning else None,
        "loso": {k: metrics.get(k) for k in ("uar", "uf1", "accuracy")},
    }
    bundle = ModelBundle(model, clips.classes, params.faces, params.features, provenance)

    # A real example: the onset and apex frames of the first clip with an annotated apex.
    row = manifest[manifest["apex"] >= 0].iloc[0]
    example_frames = [read_image(row["frame_paths"][0]),
                      read_image(row["frame_paths"][row["apex"] - row["onset"]])]
    input_example = pd.DataFrame({"frames": [encode_frames(example_frames, ".jpg")],
                                  "apex_index": [1]})
    output_example = predict_frame(bundle, input_example)

    use_experiment(params.tracking.experiment)
    version = register_bundle(bundle, params.tracking.model_name, input_example, output_example,
                              tags_from_metrics(metrics, evaluation_run_id()))
    write_text(paths.REGISTERED, registration_record(version))
    log.info("registered %s version %s (run %s); promote it with `mer promote --version %s`",
             version.name, version.version, version.run_id, version.version)
