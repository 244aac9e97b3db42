"""Generate the embedded synthetic long videos in CAS(ME)^2's on-disk format.

Writes data/synthetic_long deterministically from spotting.seed and spotting.synthetic when
spotting.source is synthetic (mer.synthetic.write_casme_sq); otherwise only NOT_USED.txt, so
the DVC stage has its output. It never replaces a user's corpus.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mer import paths
from mer.config import params_of
from mer.errors import ParamsError

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> None:
    from mer.atomic import atomic_path
    from mer.synthetic.write_casme2 import write_not_used
    from mer.synthetic.write_casme_sq import write_long_videos

    spotting = params_of(args).spotting
    output = paths.SYNTHETIC_LONG
    if spotting.source == "synthetic":
        if Path(spotting.root).resolve() != output.resolve():
            raise ParamsError(f"spotting.root is {spotting.root}, but the synthetic long "
                              f"videos are generated in {output}: set spotting.root: {output}")
        with atomic_path(output) as tmp:
            write_long_videos(tmp, spotting.synthetic, spotting.seed, spotting.workers)
        log.info("wrote the synthetic long videos to %s", output)
        return
    if Path(spotting.root).resolve() == output.resolve():
        raise ParamsError(f"spotting.root is {spotting.root}, the synthetic long videos' "
                          f"folder, but spotting.source is '{spotting.source}': move your "
                          "copy elsewhere and point spotting.root at it")
    with atomic_path(output) as tmp:
        write_not_used(tmp, reason=f"spotting.source is '{spotting.source}', so no synthetic "
                       "long videos were generated here.\nSet spotting.source: synthetic to "
                       "generate them.\n")
    log.info("spotting.source is '%s': no synthetic long videos generated; wrote %s",
             spotting.source, output / "NOT_USED.txt")
