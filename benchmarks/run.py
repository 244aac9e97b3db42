"""`make bench`: run every benchmark module and write BENCHMARKS.md.

Each module benchmarks/bench_*.py exposes ``run() -> list[dict]`` with rows
{"benchmark", "value", "unit", "note"}. Timings on these shared 2-core machines are noisy:
modules compare alternatives as ratios measured within one run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time

from mer.atomic import write_text

MODULES = ("bench_synthetic", "bench_features", "bench_train", "bench_scale", "bench_compare",
           "bench_inference", "bench_pipeline", "bench_spotting")


def machine_summary() -> str:
    import torch

    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {platform.platform()}")


def render(results: dict[str, list[dict]], seconds: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (benchmarks/run.py); do not edit by hand.",
        "",
        f"Machine: {machine_summary()}. Whole run: {seconds:.0f} s.",
        "",
    ]
    for module, rows in results.items():
        lines += [f"## {module}", "", "| benchmark | value | unit | note |", "|---|---|---|---|"]
        for row in rows:
            value = row["value"]
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            note = row.get("note", "")
            lines.append(f"| {row['benchmark']} | {shown} | {row['unit']} | {note} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="module names to run (default: all)")
    parser.add_argument("--out", default="BENCHMARKS.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: dict[str, list[dict]] = {}
    for name in args.only or MODULES:
        print(f"running {name} ...", file=sys.stderr)
        results[name] = importlib.import_module(f"benchmarks.{name}").run()
    write_text(args.out, render(results, time.perf_counter() - started))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
