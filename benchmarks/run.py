"""`make bench`: run every benchmark module and write BENCHMARKS.md.

Each module benchmarks/bench_*.py exposes ``run() -> list[dict]`` with rows
{"benchmark", "value", "unit", "note"}. Timings on these shared 2-core machines are noisy:
modules compare alternatives as ratios measured within one run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import inspect
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from mer.atomic import write_text

REPO = Path(__file__).resolve().parents[1]
CODE = ("src", "benchmarks", "params.yaml")  # what a benchmark's figures depend on
MODULES = ("bench_synthetic", "bench_features", "bench_train", "bench_scale", "bench_compare",
           "bench_inference", "bench_pipeline", "bench_spotting")


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo; platform.processor() elsewhere): the embedded
    frames, and so every figure measured on them, differ by kind of CPU (README, "On another
    machine")."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_summary() -> str:
    import torch

    return (f"{platform.machine()} {cpu_model()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, torch {torch.__version__}, {platform.platform()}")


def code_state(repo: Path = REPO) -> str:
    """'commit 1a2b3c4', with ' (uncommitted changes to its code or params)' when the code a
    benchmark runs (src, benchmarks, params.yaml) differs from it; 'no git checkout' outside
    one."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(("git", *args), cwd=repo, capture_output=True, text=True,
                                  check=False, timeout=60)
        except OSError:
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    if commit is None:
        return "no git checkout"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", *CODE)
    return f"commit {commit}" + (" (uncommitted changes to its code or params)" if changed
                                 else "")


def stamp(seconds: float, state: str, load: tuple[float, float] | None = None,
          resumed: bool = False) -> str:
    """A section's provenance line: when (UTC date), at which code (``code_state``), on which
    machine, in how long its module ran and, given, the 1-minute load average before and
    after it (other work on a shared machine slows every timing). ``resumed``: the module
    started from what an earlier run kept under --root, so its time is only this run's
    share."""
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    busy = f"; load average {load[0]:.1f} -> {load[1]:.1f}" if load else ""
    share = (", resuming from what an earlier run kept under --root (its time is not in this "
             "one)" if resumed else "")
    return (f"Measured {today} at {state} on {machine_summary()}, in {seconds:.0f} s"
            f"{share}{busy}.")


def section(module: str, rows: list[dict], measured: str = "") -> str:
    """One module's table: its ``## module`` heading, its ``stamp`` line and a row per
    benchmark."""
    lines = [f"## {module}", "", *([measured, ""] if measured else []),
             "| benchmark | value | unit | note |", "|---|---|---|---|"]
    for row in rows:
        value = row["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| {row['benchmark']} | {shown} | {row['unit']} | {row.get('note', '')} |")
    return "\n".join(lines) + "\n"


HEADER = """# Benchmarks

Written by `make bench` (benchmarks/run.py); do not edit by hand. `python -m benchmarks.run
--only <module>` reruns one module and replaces its section. Each section says when, at which
commit, on which machine and in how long its run took (a run that resumed from what `--root`
kept says so: its time is then only that run's share): sections of one file may come from
different runs. A section without that line predates it (2026-12-04); `git log -p
BENCHMARKS.md` dates it.
"""


def render(results: dict[str, tuple[list[dict], str]], previous: str = "") -> str:
    """BENCHMARKS.md: the header, then each module's section in MODULES order. ``results``:
    module -> (rows, stamp). A module not in ``results`` keeps its section from ``previous``
    (the file as it was), so `--only` reruns replace their own sections and leave the others
    (a break-it session: one header claimed a machine and a whole-run time for sections
    measured on other days, at other defaults)."""
    sections = {part.split("\n", 1)[0]: "## " + part.rstrip("\n") + "\n"
                for part in previous.split("\n## ")[1:]}
    sections.update({module: section(module, rows, measured)
                     for module, (rows, measured) in results.items()})
    ordered = [m for m in MODULES if m in sections] + [m for m in sections if m not in MODULES]
    return "\n".join([HEADER, *(sections[m] for m in ordered)])


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
    if args.only == []:  # a break-it session: `--only` with no name ran every module
        parser.error(f"--only takes module names: {', '.join(MODULES)} (without --only: all)")
    unknown = sorted(set(args.only or ()) - set(MODULES))
    if unknown:
        parser.error(f"--only: no benchmark module {', '.join(unknown)}; "
                     f"choose from {', '.join(MODULES)}")
    out = Path(args.out)
    if out.is_dir():  # found before the modules run, not after (bench_compare: about 50 min)
        parser.error(f"--out {out} is a folder: give the file to write, e.g. {out}/BENCHMARKS.md")
    state = code_state()
    for name in args.only or MODULES:
        print(f"running {name} ...", file=sys.stderr)
        run = importlib.import_module(f"benchmarks.{name}").run
        keeps = args.root is not None and "root" in inspect.signature(run).parameters
        # a run resumed under --root was stamped with its own minutes as if they were the
        # module's (found when bench_compare was resumed on 2026-12-05)
        resumed = keeps and args.root.is_dir() and any(args.root.iterdir())
        started, before = time.perf_counter(), os.getloadavg()[0]
        rows = run(root=args.root) if keeps else run()
        measured = stamp(time.perf_counter() - started, state, (before, os.getloadavg()[0]),
                         resumed)
        # Each module's section as soon as it is measured (a break-it session: a module that
        # failed late, or a stop, lost every section a whole `make bench` had measured)
        previous = out.read_text(encoding="utf-8") if out.exists() else ""
        write_text(out, render({name: (rows, measured)}, previous))
        print(f"wrote {name}'s section of {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from benchmarks.common import stoppable

    sys.exit(stoppable(main))
