"""The mer source files a piece of code runs, and their digest: part of every cache key whose
contents that code computes (a cached LOSO fold, a pretrained net), so an edit to any of them
invalidates the entry instead of the cache serving what the old code computed.

Read statically from the import statements, at module level and inside functions (mer
imports much of itself lazily), as Python follows them: a module brings the packages above it
and every mer module it imports, transitively.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

from mer.errors import MerError

PACKAGE = Path(__file__).resolve().parents[1]  # the mer package's folder
SOURCE_ROOT = PACKAGE.parent  # what module names are relative to


def modules() -> dict[str, Path]:
    """Every mer module's name -> its file ('mer.core' -> mer/core/__init__.py)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SOURCE_ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(path: Path) -> set[str]:
    """Every absolute module name the file at ``path`` imports, anywhere in it; for
    ``from mer.core import frames``, both mer.core and mer.core.frames.

    MerError naming the file when Python could not read it either (a syntax error, an
    unknown coding, a null byte; a break-it session: the SyntaxError said only
    "<unknown>, line 35", one of some 200 files)."""
    try:
        return set(_imports_in(path.read_bytes(), str(path)))
    except (SyntaxError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        line = f", line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
        raise MerError(f"{path}{line}: mer cannot read this source file's imports, nor could "
                       f"Python import it ({detail}): mend the file") from None


# A bound well above mer's own files (about 200), so a long-lived process that keeps editing
# them does not grow the cache without end.
@functools.lru_cache(maxsize=1024)
def _imports_in(source: bytes, filename: str) -> frozenset[str]:
    """imports_of for a file's bytes, decoded as Python's import decodes them (a UTF-8
    byte-order mark or a coding line; a break-it session: a file saved with a mark, which
    Python runs, stopped every closure with a SyntaxError). Cached by the bytes themselves,
    so an edited file is parsed again: `mer train` asks for several closures of the same
    modules (a profile: 192 parses, over a second of its start)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(names)


def packages_of(module: str) -> list[str]:
    """mer.core.frames -> [mer, mer.core]: the packages Python imports before it."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(roots: Iterable[str]) -> list[Path]:
    """The files of the mer modules ``roots`` run: each root (a module, or a package and every
    module in it), the packages above them and what they import, transitively; sorted.
    KeyError for a root that is no mer module."""
    known = modules()
    todo: list[str] = []
    for root in roots:
        if root not in known:
            raise KeyError(f"{root} is not a mer module")
        todo += [name for name in known if name == root or name.startswith(f"{root}.")]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [m for m in (*packages_of(module), *imports_of(known[module])) if m in known]
    return sorted(known[m] for m in seen)


def data_files() -> list[Path]:
    """The package's files that are not code (the portraits the synthetic faces are drawn
    from, mer/assets), which code reads as it runs; sorted."""
    return sorted(p for p in PACKAGE.rglob("*") if p.is_file() and p.suffix not in {".py", ".pyc"}
                  and "__pycache__" not in p.parts)


def source_digest(roots: Iterable[str]) -> str:
    """sha256 of the files closure(roots) lists and of the package's data files (a break-it
    session: a changed portrait left the pretrained net's key as it was): each one's path in
    the package and bytes."""
    sha = hashlib.sha256()
    for path in [*closure(roots), *data_files()]:
        sha.update(path.relative_to(SOURCE_ROOT).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()
