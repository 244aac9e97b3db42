"""Generate the embedded synthetic dataset in CASME II's (and SAMM's, SMIC-HS's) on-disk formats.

Writes data.root (default data/synthetic) deterministically from data.seed and
data.synthetic, one folder holding every format data.synthetic.corpora lists:

- casme2: CASME2-coding-synthetic.xlsx, Cropped/subNN/EPxx_yy/reg_img<N>.jpg, ground_truth.csv
- samm: SAMM_Micro_FACS_Codes_v2.xlsx, SAMM/006/006_1_2/006_05562.jpg, SAMM_ground_truth.csv
- smic: HS/s1/micro/negative/s1_ne_01/image0100344.bmp, HS_ground_truth.csv

It generates when data.source is synthetic, or when data.sources lists several corpora and
data.root is the embedded folder (data/synthetic): then the sources under that folder are the
embedded corpora, and each must be a format data.synthetic.corpora writes. Otherwise it writes
data/synthetic holding only NOT_USED.txt, so the DVC stage has its output. It never replaces
a user's corpus: a real corpus named in data/synthetic is an error, not overwritten.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import get_args

from mer import paths
from mer.config import CorpusSource, DataParams, SyntheticFormat, is_inside, params_of
from mer.errors import ParamsError

log = logging.getLogger(__name__)

OUTPUT = paths.SYNTHETIC  # the DVC stage's declared output (dvc.yaml)


def is_embedded(path: Path) -> bool:
    """True when ``path`` is the embedded synthetic folder or lies inside it."""
    folder, output = Path(path).resolve(), OUTPUT.resolve()
    return folder == output or output in folder.parents


def embedded_sources(data: DataParams) -> list[CorpusSource]:
    """The data.sources whose root lies in the embedded synthetic folder."""
    return [source for source in data.sources if is_embedded(source.root)]


def check_embedded_sources(data: DataParams) -> None:
    """Every source under data/synthetic must be a format data.synthetic.corpora writes."""
    written = data.synthetic.corpora
    for source in embedded_sources(data):
        if source.source in written:
            continue
        listed = ", ".join(written)
        if source.source not in get_args(SyntheticFormat):
            hint = (f"mer synthesize writes only {', '.join(get_args(SyntheticFormat))}: move "
                    f"your {source.source} copy out of {OUTPUT} and point its root there")
        else:
            hint = (f"add {source.source} to data.synthetic.corpora to generate it, or move "
                    f"your {source.source} copy out of {OUTPUT} and point its root there")
        raise ParamsError(f"data.sources reads {source.source} from {source.root}, inside the "
                          f"synthetic dataset's folder {OUTPUT}, but data.synthetic.corpora "
                          f"({listed}) does not write {source.source}: {hint}")


def run(args: argparse.Namespace) -> None:
    from mer.atomic import atomic_path
    from mer.synthetic.write_casme2 import generate_dataset, write_not_used

    params = params_of(args)
    data = params.data
    if data.sources:
        if data.synthesized:
            # Several embedded corpora: check before anything is written.
            check_embedded_sources(data)
            with atomic_path(data.root) as tmp:
                generate_dataset(tmp, data.synthetic, data.seed, progress=True)
            log.info("wrote the synthetic dataset to %s", data.root)
            return
        inside = embedded_sources(data)
        if inside:
            # Writing NOT_USED.txt, or the embedded corpora, would replace what it reads.
            raise ParamsError(f"data.sources reads {inside[0].source} from {inside[0].root}, "
                              f"inside the synthetic dataset's folder {OUTPUT}, which `mer "
                              f"synthesize` replaces: to read your {inside[0].source} copy, move "
                              f"it out of {OUTPUT} and set data.root to the folder that holds "
                              f"your corpora; to use the embedded corpora, set data.root and "
                              f"each source's root to {OUTPUT} itself (as "
                              "examples/megc2019-synthetic.yaml does)")
        if data.root_is_embedded:  # some source lies outside it (DataParams.synthesized)
            outside = next((s for s in data.sources if not is_inside(s.root, data.root)),
                           data.sources[0])
            raise ParamsError(f"data.sources reads {outside.source} from {outside.root}, outside "
                              f"data.root ({data.root}, the synthetic dataset's folder, its "
                              "default), which is what DVC tracks: set data.root to the folder "
                              "that holds your corpora")
        with atomic_path(OUTPUT) as tmp:
            write_not_used(tmp, reason=f"data.sources reads corpora under data.root "
                           f"({data.root}), so no synthetic dataset was generated here.\n"
                           f"Set data.root: {OUTPUT} and list sources under it to use the "
                           "embedded corpora.\n")
        log.info("data.sources: no synthetic dataset generated; wrote %s",
                 OUTPUT / "NOT_USED.txt")
        return
    if data.source == "synthetic":
        with atomic_path(data.root) as tmp:
            generate_dataset(tmp, data.synthetic, data.seed, progress=True)
        log.info("wrote the synthetic dataset to %s", data.root)
        return
    if data.root_is_embedded:
        # data.root is the user's corpus here; the stage must never replace it.
        raise ParamsError(f"data.root is {data.root}, the synthetic dataset's folder, but "
                          f"data.source is '{data.source}': move your {data.source} copy "
                          "elsewhere and point data.root at it")
    with atomic_path(OUTPUT) as tmp:
        write_not_used(tmp, data.source)
    log.info("data.source is '%s': no synthetic dataset generated; wrote %s", data.source,
             OUTPUT / "NOT_USED.txt")
