"""`make install` installs the versions in constraints.txt, so a fresh clone measures what the
README reports and a library release cannot change it (OpenCV 5.1 broke CI on a clean clone:
its warps round differently from 5.0's, which the numbers were measured with)."""

from __future__ import annotations

import re
import subprocess
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from dvc_helpers import REPO
from mer.evaluation.loso import NUMERIC_LIBRARIES

MAKEFILE = (REPO / "Makefile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
TORCH = "torch"  # the Makefile's TORCH_SPEC installs it, or keeps a user's CUDA build


def pins() -> dict[str, str]:
    """constraints.txt as {canonical name: exact version}; every line is `name==version`."""
    constraints = REPO / re.search(r"^CONSTRAINTS := (\S+)$", MAKEFILE, re.M)[1]
    found = {}
    for number, line in enumerate(constraints.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line)
        assert match, f"{constraints.name} line {number} is not name==version: {line!r}"
        found[canonicalize_name(match[1])] = match[2]
    return found


def requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    listed = [*project["dependencies"],
              *(r for extra in project["optional-dependencies"].values() for r in extra)]
    own = canonicalize_name(project["name"])
    return [r for r in map(Requirement, listed) if canonicalize_name(r.name) != own]


def planned(*args: str) -> list[str]:
    """The commands `make` would run for ``args`` (make -n), without running them."""
    done = subprocess.run(["make", "-n", "-C", str(REPO), *args], capture_output=True,
                          text=True, check=True)
    return done.stdout.splitlines()


def installs(commands: list[str]) -> list[str]:
    return [c for c in commands if re.search(r"pip install .*-e \"\.\[dev\]\"", c)]


def test_make_install_installs_the_constraints():
    prerequisites = re.search(r"^\$\(VENV\)/\.installed: (.+)$", MAKEFILE, re.M)[1].split()
    assert "$(CONSTRAINTS)" in prerequisites  # a new lock reinstalls
    [install] = installs(planned("--always-make", ".venv/.installed"))
    assert " -c constraints.txt " in install


def test_make_lock_resolves_without_the_pins():
    [install] = installs(planned("lock"))
    assert " -c " not in install and "build/lock-venv/bin/python" in install


def test_every_requirement_is_pinned_inside_its_range():
    pinned = pins()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        if name == TORCH:
            assert name not in pinned
            continue
        assert name in pinned, f"{requirement.name} has no pin in constraints.txt: make lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pinned[name]}, outside {requirement}")


def test_the_libraries_that_decide_results_are_pinned():
    # The fold cache's key names these; a fresh clone must get the versions measured with.
    pinned = pins()
    assert {canonicalize_name(n) for n in NUMERIC_LIBRARIES} - {TORCH} <= set(pinned)
