"""Train the final hybrid on every subject and register it in MLflow's model registry.

With an SVM among train.hybrid.experts, its C and gamma are chosen by the same nested,
subject-grouped procedure as in each LOSO fold.
The new version is tagged with the LOSO evaluation that justifies it (reports/evaluation.json)
and is never promoted here: `mer promote` moves the champion alias. That evaluation must be of
this recipe: of the predictions.csv `mer train` made (reports/training.json) from the features
and manifest as they are and with the train and evaluation params as they are, else nothing
is registered.

The spotter registers with the recogniser as one model: the bundle also holds the thresholds
p `mer spot-eval` fitted on every subject of the spotting corpus (reports/spotting.json) and
the signal settings they hold for, so the served model answers video requests (spotted
intervals, each micro one classified) and `mer spot` can use them.

A model trained on precomputed flow images cannot answer a request of raw frames (the served
model's input): then nothing is registered, reports/registered.json says why, and the stage
succeeds, so `dvc repro` on flow images ends cleanly after evaluating.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

from mer import paths
from mer.config import HYBRID, mer_command, params_of

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> None:
    from mer.atomic import check_target, write_text
    from mer.core.clipset import load_clips
    from mer.core.manifest import read_manifest
    from mer.core.records import PREDICTIONS_KEY
    from mer.evaluation.report import (
        check_evaluation_current,
        read_evaluation,
    )
    from mer.inference.predictor import final_bundle
    from mer.inference.serving import example_request, predict_request
    from mer.models.hybrid import fit_hybrid
    from mer.models.pretrain import pretrained_flownet
    from mer.spotting.spotter import read_fitted_spotter
    from mer.tracking.registry import (
        PROTOCOL_TAG,
        evaluation_figures,
        not_registered_record,
        register_bundle,
        registration_record,
        tags_from_evaluation,
        variant_tags,
    )
    from mer.tracking.runs import parent_name, variant_name
    from mer.tracking.store import evaluation_run_id, git_state

    params = params_of(args)
    check_target(paths.REGISTERED)  # before a version is registered, not after
    manifest = read_manifest(paths.MANIFEST, params, through="features")
    reason = None
    if (manifest["flow_image"] != "").any():
        reason = ("the model was trained on precomputed flow images; the registered model "
                  "answers requests of raw frames (onset..offset), which these images cannot "
                  "match. Nothing was registered: its evaluation is in "
                  f"{paths.EVALUATION} and the MLflow run. Register from a frame corpus")
    elif HYBRID not in params.train.models:
        # a variant that compares other models (h62: `dvc exp run -S 'train.models=[svm]'`
        # failed here after training and evaluating, so DVC dropped the experiment)
        reason = (f"train.models ({', '.join(params.train.models)}) has no {HYBRID}, the model "
                  f"mer registers, so this variant has no evaluated model to ship. Nothing was "
                  f"registered: its evaluation is in {paths.EVALUATION} and the MLflow run. "
                  f"Add {HYBRID} to train.models to register one")
    if reason is not None:
        write_text(paths.REGISTERED, not_registered_record(reason))
        log.warning("nothing registered: %s", reason)
        return
    clips = load_clips(paths.FEATURES, paths.MANIFEST, params.labels.scheme,
                       params)
    evaluation = read_evaluation(paths.EVALUATION, mer_command("evaluate", params.source))
    check_evaluation_current(evaluation, params, evaluation=paths.EVALUATION,
                             predictions=paths.PREDICTIONS, training=paths.TRAINING,
                             data=(paths.FEATURES, paths.MANIFEST), classes=clips.classes)
    spotter = read_fitted_spotter(paths.SPOTTING, params)  # before the work, not after
    input_example = example_request(manifest[manifest["clip_id"].isin(clips.clip_id)])

    log.info("fitting the final model on %d clips of %d subjects", len(clips),
             len(set(clips.subject.tolist())))
    # the hybrid is always fitted; the pretrained CNN comes from the project's shared cache
    pretrained = pretrained_flownet(params, paths.project_cache(paths.PRETRAIN), models=(HYBRID,))
    model = fit_hybrid(clips, params.train, seed=params.train.seed, pretrained=pretrained)
    protocol = params.evaluation.protocol  # the one the evaluation was made with (checked)
    tags = tags_from_evaluation(evaluation, evaluation_run_id(
        evaluation[PREDICTIONS_KEY], name=parent_name(params)) if evaluation else None,
        protocol)  # its sha was checked
    figures = {**evaluation_figures(tags), PROTOCOL_TAG: protocol} if tags else {}
    run_name = f"register: {parent_name(params, leave_out=())}"
    tags = {**tags, **variant_tags(variant_name(params, leave_out=()), spotter.corpus,
                                   spotter.p, spotter.noise_floor,
                                   spotter.provenance.get("loso_f1", {}))}
    recogniser = final_bundle(model, clips, params, figures, pretrained)
    bundle = dataclasses.replace(
        recogniser, spotter=spotter,
        provenance={**recogniser.provenance, "spotting": {
            "corpus": spotter.corpus, "p": spotter.p, "noise_floor": spotter.noise_floor,
            **spotter.provenance}})

    version = register_bundle(
        bundle, params.tracking.model_name, input_example, predict_request(bundle, input_example),
        tags, experiment=params.tracking.experiment,
        # named as the spotting run is: which variant (DVC experiment) made this version
        run_name=run_name, run_tags=git_state())
    write_text(paths.REGISTERED, registration_record(version))
    log.info("registered %s version %s (run %s); promote it with `mer promote --version %s`",
             version.name, version.version, version.run_id, version.version)
