"""How long `mer synthesize` takes to write the default synthetic dataset, and its size."""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from mer.config import SyntheticParams
from mer.synthetic.write_casme2 import generate_dataset


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool's workers)."""
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                      resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run() -> list[dict]:
    params = SyntheticParams()  # the default set: 26 subjects, 255 clips, 232 x 280
    with tempfile.TemporaryDirectory() as folder:
        cpu, started = _cpu_seconds(), time.perf_counter()
        summary = generate_dataset(Path(folder) / "synthetic", params, seed=0)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu
    note = (f"{summary.clips} clips, {summary.frames} frames, {summary.bytes / 1e6:.0f} MB on "
            f"disk; {params.workers} workers on {os.cpu_count()} cores")
    return [
        {"benchmark": "synthetic generation (default set)", "value": seconds, "unit": "s",
         "note": note},
        {"benchmark": "synthetic generation CPU time", "value": cpu, "unit": "s",
         "note": f"all processes, {cpu / summary.frames * 1e3:.2f} ms per frame: the wall time "
                 "on idle cores is about this / workers"},
        {"benchmark": "synthetic dataset size", "value": summary.bytes / 1e6, "unit": "MB",
         "note": f"JPEG quality {params.jpeg_quality}"},
    ]


if __name__ == "__main__":
    from benchmarks.common import module_main

    raise SystemExit(module_main(run, __doc__))
