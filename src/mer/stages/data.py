"""Build the clip manifest from params `data` and `labels`: one checked row per clip.

Reads the corpus named by data.source (casme2, samm, smic, flow-images, or the embedded
synthetic set) from data.root and its annotation sheet (data.annotations, or the corpus's
usual file name in data.root). Keeps the clips whose emotion labels.scheme has a class for,
checks every frame onset..offset is on disk and readable, repairs the documented sheet
quirks (flagged in the manifest), and writes data/manifest.parquet and reports/data.json
(clips per class and subject, rows dropped and why, repairs, apexes to be estimated).
Nothing is written when the data has a problem: the error names the file and row.
"""

from __future__ import annotations

import argparse
import json

from mer import paths
from mer.config import check_data_paths, params_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar while checking frames")


def run(args: argparse.Namespace) -> None:
    from mer.atomic import atomic_outputs
    from mer.core.manifest import MANIFEST_SECTIONS, write_manifest
    from mer.core.records import held_out_of
    from mer.data.build import build_manifest, flow_image_digests

    params = params_of(args)
    check_data_paths(params.data)
    # Every check runs before anything is written: bad data leaves no output behind.
    held_out = held_out_of(params)  # what the evaluation holds out: test_corpora or each subject
    manifest, report = build_manifest(
        params.data, params.labels.scheme, progress=not getattr(args, "no_progress", False),
        test_corpora=held_out.get("test_corpora"))
    # Both outputs or neither: a manifest never sits beside another run's report.
    with atomic_outputs(paths.MANIFEST, paths.DATA_REPORT) as (manifest_tmp, report_tmp):
        # what the channel-order check held out, when it ran (mer.core.records.check_held_out)
        found = (report.get("flow_channels") or {}).get("setting") == "auto"
        write_manifest(manifest, manifest_tmp, params.recorded(MANIFEST_SECTIONS),
                       sheets={**report["sheets"], **flow_image_digests(manifest)},
                       held_out=held_out if found else None)
        report_tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
