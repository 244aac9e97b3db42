"""Export the project's clips as MEGC-style flow images, to run mer on them as data.source
flow-images (a stand-in for flow images of the licensed corpora).

Run after `mer features`: reads data/manifest.parquet, data/faces.npz, data/features.npz (the
apex each clip's features used) and params `features` (flow algorithm, workers). Writes, all
at once, DIR/labels.csv (subject, clip, label, path, dataset) and one PNG per clip with a
face, DIR/<dataset>/<subject>/<clip>.png: the onset->apex u, v and optical strain, each
min-max scaled to 0..255, saved as R, G, B. The same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from mer import paths
from mer.config import params_of
from mer.errors import MerError

log = logging.getLogger(__name__)

DEFAULT_SIZE = 28  # px: the flow-image side STSTNet and OFF-ApexNet take


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder to write labels.csv and the images into (new or empty)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE,
                        help="side of each flow image, px (default: %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="replace DIR even when it is not empty")


def check_out(out: Path, force: bool) -> None:
    """DIR may be new or empty; a non-empty one only with --force and only when it is an
    earlier export (its labels.csv has the export's columns), never the project or a folder
    holding it: --force deletes what DIR holds."""
    from mer.features.flow_image_export import CSV_COLUMNS

    if out.exists() and not out.is_dir():
        raise MerError(f"--out {out} is a file, not a folder; choose a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not force:
        raise MerError(f"--out {out} is not empty; choose a new or empty folder, or pass "
                       "--force to replace an earlier export there")
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        raise MerError(f"--out {out} holds this project, which --force would replace; "
                       "choose a folder of its own")
    labels = out / "labels.csv"
    header = ""
    if labels.is_file():
        with labels.open(encoding="utf-8", errors="replace") as handle:
            header = handle.readline().strip()
    if header != ",".join(CSV_COLUMNS):
        raise MerError(f"--out {out} is not an earlier export of `mer export-flow-images` (no "
                       f"labels.csv with the columns {', '.join(CSV_COLUMNS)}), and --force "
                       "replaces only such a folder: choose a new or empty folder, or empty "
                       "this one yourself if nothing in it is needed")


def run(args: argparse.Namespace) -> None:
    from mer.atomic import atomic_path
    from mer.core.manifest import read_manifest
    from mer.core.npz import read_faces, read_features
    from mer.core.records import check_stage_output
    from mer.features.flow_image_export import ORDER, export_flow_images, write_flow_images
    from mer.synthetic.record import synthesis_seeds, write_synthesis_record

    if args.size < 2:
        raise MerError(f"--size {args.size}: a flow image needs at least 2x2 px (28 is usual)")
    params = params_of(args)
    if args.size > params.features.flow_size:
        raise MerError(f"--size {args.size} is larger than the flow it is made from "
                       f"(features.flow_size {params.features.flow_size} px), which only "
                       "enlarges it: choose at most that (28 is usual)")
    check_out(args.out, args.force)
    started = time.perf_counter()
    manifest = read_manifest(paths.MANIFEST, params, through="features")
    features = read_features(paths.FEATURES)
    check_stage_output(features, paths.FEATURES, params, manifest, "features")
    export = export_flow_images(manifest, read_faces(paths.FACES), features, params.features,
                                args.size)
    seeds = synthesis_seeds([params.data.root, *(c.root for c in params.data.corpora)])
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        write_flow_images(tmp, export)
        if seeds:  # images of synthetic subjects: their seeds go with them
            write_synthesis_record(tmp, seeds)
    log.info("wrote %d %dx%d flow images (channels %s: R, G, B = u, v, strain) and %s to %s "
             "in %.1f s; %d clips without a face left out", len(export.rows), args.size,
             args.size, ORDER, "labels.csv", args.out, time.perf_counter() - started,
             export.without_face)
    # The labels are this project's classes: a flow-image project under another scheme
    # refuses them or drops most (a break-it session, exporting a megc-3 composite).
    log.info("its labels are labels.scheme %s classes: give the flow-image project "
             "`labels: {scheme: %s}`", params.labels.scheme, params.labels.scheme)
