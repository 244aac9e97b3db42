"""Optical-flow sequences onset -> apex -> offset, optical strain and AU-region features.

Reads data/manifest.parquet, data/faces.npz and params `features`; writes data/features.npz
(clip_id, flow, apex_image, au_features, au_feature_names, apex_frame, apex_estimated; rows
sorted by clip_id, only clips with a face) and reports/features.json (clips, apexes estimated,
flow algorithm; the time taken is logged, not written: the report is in git).
With data.source flow-images the precomputed images become the same tensors (T = 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from mer import paths
from mer.config import params_of

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> None:
    from mer.atomic import atomic_outputs
    from mer.core.manifest import read_manifest
    from mer.core.npz import (
        FEATURES_SECTIONS,
        MADE_FROM,
        MADE_WITH,
        made_from,
        made_with,
        read_faces,
        write_npz,
    )
    from mer.core.records import check_stage_output
    from mer.features.describe_clips import extract_features

    params = params_of(args)
    manifest = read_manifest(paths.MANIFEST, params, through="faces")
    faces = read_faces(paths.FACES)
    check_stage_output(faces, paths.FACES, params, manifest, "faces")
    started = time.perf_counter()
    arrays, report = extract_features(manifest, faces, params.features)
    seconds = time.perf_counter() - started
    arrays[MADE_WITH] = made_with(params.recorded(FEATURES_SECTIONS))
    arrays[MADE_FROM] = made_from(manifest)
    # Both outputs or neither: the report always describes the features.npz beside it.
    with atomic_outputs(paths.FEATURES, paths.FEATURES_REPORT) as (features_tmp, report_tmp):
        write_npz(features_tmp, arrays)
        report_tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log.info("features of %d clips in %.1f s (%.1f clips/s, %d workers)", report["clips"],
             seconds, report["clips"] / seconds, params.features.workers)
