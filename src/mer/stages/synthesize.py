"""Generate the embedded synthetic dataset in CASME II's on-disk format.

With data.source: synthetic, writes data.root (default data/synthetic): the coding sheet
CASME2-coding-synthetic.xlsx, frames Cropped/subNN/EPxx_yy/reg_img<N>.jpg and ground_truth.csv
(true AUs, intensities, sides), deterministically from data.seed and data.synthetic. With any
other source, writes data/synthetic holding only NOT_USED.txt, so the DVC stage has its output.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mer import paths
from mer.config import load_params
from mer.errors import ParamsError

log = logging.getLogger(__name__)

OUTPUT = paths.SYNTHETIC  # the DVC stage's declared output (dvc.yaml)


def run(args: argparse.Namespace) -> None:
    from mer.atomic import atomic_path
    from mer.data.synthetic import generate_dataset, write_not_used

    params = load_params(args.params)
    data = params.data
    if data.source == "synthetic":
        with atomic_path(data.root) as tmp:
            generate_dataset(tmp, data.synthetic, data.seed, progress=True)
        return
    if Path(data.root).resolve() == OUTPUT.resolve():
        # data.root is the user's corpus here; the stage must never replace it.
        raise ParamsError(f"data.root is {data.root}, the synthetic dataset's folder, but "
                          f"data.source is '{data.source}': move your {data.source} copy "
                          "elsewhere and point data.root at it")
    with atomic_path(OUTPUT) as tmp:
        write_not_used(tmp, data.source)
    log.info("data.source is '%s': no synthetic dataset generated; wrote %s", data.source,
             OUTPUT / "NOT_USED.txt")
