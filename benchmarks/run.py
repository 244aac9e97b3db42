"""`make bench`: run every benchmark module and write BENCHMARKS.md.

Each module benchmarks/bench_*.py exposes ``run() -> list[dict]`` with rows
{"benchmark", "value", "unit", "note"}. Timings on these shared 2-core machines are noisy:
modules compare alternatives as ratios measured within one run.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import platform
import sys
import time
from pathlib import Path

from mer.atomic import write_text

MODULES = ("bench_synthetic", "bench_features", "bench_train", "bench_scale", "bench_compare",
           "bench_inference", "bench_pipeline", "bench_spotting")


def machine_summary() -> str:
    import torch

    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {platform.platform()}")


def section(module: str, rows: list[dict]) -> str:
    """One module's table: its ``## module`` heading and a row per benchmark."""
    lines = [f"## {module}", "", "| benchmark | value | unit | note |", "|---|---|---|---|"]
    for row in rows:
        value = row["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| {row['benchmark']} | {shown} | {row['unit']} | {row.get('note', '')} |")
    return "\n".join(lines) + "\n"


def render(results: dict[str, list[dict]], seconds: float, previous: str = "") -> str:
    """BENCHMARKS.md: the header, then each module's section in MODULES order. A module not in
    ``results`` keeps its section from ``previous`` (the file as it was), so `--only` reruns
    replace their own sections and leave the others; the header's whole-run time is then the
    previous file's."""
    sections = {part.split("\n", 1)[0]: "## " + part.rstrip("\n") + "\n"
                for part in previous.split("\n## ")[1:]}
    header = previous.split("\n## ")[0].rstrip("\n") + "\n" if sections else ""
    sections.update({module: section(module, rows) for module, rows in results.items()})
    if not header or set(MODULES) <= set(results):
        header = "\n".join([
            "# Benchmarks", "", "Written by `make bench` (benchmarks/run.py); do not edit by hand.",
            "", f"Machine: {machine_summary()}. Whole run: {seconds:.0f} s.", ""])
    ordered = [m for m in MODULES if m in sections] + [m for m in sections if m not in MODULES]
    return "\n".join([header, *(sections[m] for m in ordered)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="module names to run (default: all); the "
                        "other modules' sections of --out are kept")
    parser.add_argument("--out", default="BENCHMARKS.md")
    parser.add_argument("--root", type=Path, default=None,
                        help="modules that build datasets (bench_compare) build them here and "
                             "keep them with every finished fold, so rerunning the same "
                             "command after an interruption resumes (default: a temporary "
                             "folder each)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only or ()) - set(MODULES))
    if unknown:
        parser.error(f"--only: no benchmark module {', '.join(unknown)}; "
                     f"choose from {', '.join(MODULES)}")
    started = time.perf_counter()
    results: dict[str, list[dict]] = {}
    for name in args.only or MODULES:
        print(f"running {name} ...", file=sys.stderr)
        run = importlib.import_module(f"benchmarks.{name}").run
        keeps = args.root is not None and "root" in inspect.signature(run).parameters
        results[name] = run(root=args.root) if keeps else run()
    out = Path(args.out)
    previous = out.read_text(encoding="utf-8") if out.exists() else ""
    write_text(out, render(results, time.perf_counter() - started, previous))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
