"""Detect, landmark (dlib, 68 points) and align every clip's face: one transform per clip.

Reads data/manifest.parquet and params `faces`; writes data/faces.npz (clip_id, transform,
landmarks, size; rows sorted by clip_id) and reports/faces.json (clips skipped for want of a
face, with the reason, each also a warning on stderr; clips flagged but kept; the time taken
is logged, not written: the report is in git). Flow-image
datasets have no faces to find: the stage writes an empty faces.npz and says so in the report.
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
    from mer.core.npz import FACES_SECTIONS, MADE_FROM, MADE_WITH, made_from, made_with, write_npz
    from mer.faces.align_clips import locate_faces

    params = params_of(args)
    manifest = read_manifest(paths.MANIFEST, params)
    started = time.perf_counter()
    arrays, report = locate_faces(manifest, params.faces)
    arrays[MADE_WITH] = made_with(params.recorded(FACES_SECTIONS))
    arrays[MADE_FROM] = made_from(manifest)
    seconds = time.perf_counter() - started
    for skipped in report.get("skipped", ()):  # a clip without a face: left out from here on
        log.warning("no face for %s, left out of the features and every model: %s",
                    skipped["clip_id"], skipped["reason"])
    if report.get("skipped"):
        log.info("%d of %d clips have a face (%s lists the others, with the reason)",
                 report["faces"], report["clips"], paths.FACES_REPORT)
    # Both outputs or neither: the report always describes the faces.npz beside it.
    with atomic_outputs(paths.FACES, paths.FACES_REPORT) as (faces_tmp, report_tmp):
        write_npz(faces_tmp, arrays)
        report_tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log.info("faces of %d clips in %.1f s", report["clips"], seconds)
