"""The package's layout: each folder imports only folders below it, and one idea has one home.

Read from the source's imports (module level and inside functions), so a new file is checked
the day it lands.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from mer.core.code import imports_of, modules

SRC = Path(__file__).resolve().parents[2] / "src"
MER = SRC / "mer"

# Bottom to top. A module may import its own folder and any folder of a lower rank; the
# top-level modules (mer.errors, mer.config, ...) are the ground every folder stands on.
RANKS = {
    "": 0,  # mer/*.py: errors, interrupts, atomic, paths, labels, config
    "core": 1,  # what stages hand each other: manifest, frames, npz, ClipSet
    "data": 2,
    "faces": 3,
    "features": 4,
    "synthetic": 4,  # draws faces with mer.faces.landmarks; nothing below imports it
    "evaluation": 5,
    "models": 6,
    "spotting": 6,  # long-video spotting: signals from faces and features, fitted by evaluation
    "inference": 7,
    "tracking": 8,  # the only folder that imports mlflow
    "stages": 9,
    "cli": 10,  # mer/cli.py
}
TOP_LEVEL_RANK = {"cli": RANKS["cli"]}  # mer/<name>.py files that are not ground floor


def folder_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 2:  # mer.<name>: a top-level module, or a package's __init__
        return parts[1] if (MER / parts[1]).is_dir() or parts[1] in TOP_LEVEL_RANK else ""
    return parts[1] if len(parts) > 2 else ""


def rank_of(module: str) -> int:
    return RANKS[folder_of(module)]


def test_every_folder_has_a_rank():
    folders = {p.name for p in MER.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(RANKS), f"give {sorted(folders - set(RANKS))} a rank in RANKS"


def test_folders_import_only_folders_below_them():
    known = modules()
    upward = []
    for module, path in known.items():
        for imported in imports_of(path):
            if imported not in known or imported == "mer":
                continue
            same = folder_of(imported) == folder_of(module) and folder_of(module) != ""
            if not same and rank_of(imported) >= rank_of(module) and rank_of(imported) > 0:
                upward.append(f"{module} imports {imported}")
    assert not upward, "imports that go up or sideways:\n" + "\n".join(sorted(upward))


def test_only_tracking_imports_mlflow():
    outside = [module for module, path in modules().items()
               if folder_of(module) != "tracking"
               and any(name.split(".")[0] == "mlflow" for name in imports_of(path))]
    assert not outside, f"mlflow imported outside mer.tracking: {outside}"


def test_one_file_name_per_idea():
    names = Counter(path.name for path in MER.rglob("*.py") if path.name != "__init__.py")
    assert not [n for n, count in names.items() if count > 1], names.most_common(3)


def test_no_test_scaffolding_in_the_package():
    assert not (MER / "models" / "toy.py").exists()
    shipped = [m for m, p in modules().items() if "toy" in imports_of(p)]
    assert not shipped


def test_every_code_folder_is_a_package():
    """setuptools' package discovery ships only folders with an __init__.py: one without it
    works in the editable install and is missing from a wheel (`mer` could not find its
    commands)."""
    folders = {p.parent for p in MER.rglob("*.py")}
    assert not sorted(str(f) for f in folders if not (f / "__init__.py").exists())
