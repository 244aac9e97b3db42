"""Write outputs under temporary names and rename them into place: a crash, a full disk or a
read-only folder never leaves half a file, and a stage's outputs change all together or not.

``atomic_outputs(a, b, ...)`` is the one mechanism; ``atomic_path`` (one output) and
``write_text`` are its single-output cases. What it guarantees, on a POSIX filesystem whose
rename(2) is atomic (every local one; each output may live on its own filesystem):

1. Staging. Each output is written in full at a path inside a hidden staging folder beside it
   (``<folder>/.<name>.<random>/<name>``, so on the output's own filesystem). Any exception
   while the caller writes (bad data, a bug, a full disk, a read-only folder) deletes every
   staging folder and leaves every output byte for byte as it was.
2. Commit. Only when every output is staged are they renamed onto their targets, one after
   another, in the order given. Each rename is atomic: a reader sees the whole old or the whole
   new version of one output, never part of a file. Staged regular files are fsynced first and
   the folders holding the outputs after, so a committed file survives a power cut (the files
   inside a staged folder, e.g. plots/, are not fsynced one by one).
3. Rollback. The previous version of each output is kept (a file as a hard link, a folder
   renamed aside) until the last rename succeeds. If a rename fails (an OSError: the folder
   turned read-only, a permission, a mount point), the outputs already renamed get their
   previous version back, an output that did not exist before is removed again, and the
   error says so. If a restore itself fails, the error names that output and the hidden
   folder where its previous version was left.
4. Signals. SIGINT (Ctrl-C) and SIGTERM arriving during the renames are held until the last
   one is done (or rolled back), then act as usual.
5. Not guaranteed. The renames are several steps, not one: another process reading between
   two of them (microseconds) can see one output new and another old, and a hard kill
   (SIGKILL, power loss) between them leaves the outputs mixed, with the previous versions in
   the hidden ``.<name>.*`` folders beside them (``dvc status`` then reports the stage's
   outputs as modified; rerunning the stage makes them consistent; nothing cleans those
   folders up automatically). Two processes writing the same outputs at once each commit
   whole outputs, but the last rename of each output wins, so the set can be mixed.

(``dvc repro`` deletes a stage's outputs before it runs the stage, so there an output's
previous version is already gone; these guarantees matter most for ``mer <stage>`` by hand.)

A target that exists as a folder is never replaced by a file, nor a file by a folder (a
user's folder named like an output, ``--out results.json``): that is an OutputError, before
any rename. ``check_target`` makes the same checks up front, for a path the user named.

Errors: an OSError of the filesystem (no space, quota, file size limit, read-only filesystem,
permission denied, I/O error) raised while staging or committing becomes a ``MerError`` with
one line naming the outputs and the fix, which ``mer`` prints without a traceback. Other
exceptions pass through unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mer.errors import DatasetError, MerError

# OSErrors of a filesystem that refuses a write: reported as a MerError, not a traceback.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES,
                          errno.EPERM, errno.EIO})

# staged path (absolute) -> the output it stands for, while its atomic_outputs block runs:
# a writer that is itself atomic (write_npz, write_manifest) and writes into a staged path
# leaves the error to the enclosing block, which names the real outputs.
_STAGED: dict[Path, Path] = {}


class OutputError(MerError):
    """An output could not be written or replaced; the message names it and the fix."""


class _CommitFailed(Exception):
    """A rename of the commit failed; ``outcome`` says what the rollback achieved."""

    def __init__(self, error: OSError, outcome: str) -> None:
        super().__init__(str(error))
        self.error, self.outcome = error, outcome


@dataclass
class _Output:
    target: Path
    staging: Path  # hidden folder beside target, on its filesystem
    previous: Path | None = None  # where the previous version is kept during the commit
    moved_aside: bool = False  # the target was renamed to ``previous`` (not hard-linked)
    replaced: bool = False  # the staged output now is the target
    keep_staging: bool = False  # a previous version could not be restored: leave it there

    @property
    def staged(self) -> Path:
        return self.staging / self.target.name


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _remove(path: Path) -> None:
    if _is_folder(path):
        shutil.rmtree(path)
    elif _exists(path):
        path.unlink()


def _fsync(path: Path, folder: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if folder else 0))
    except OSError:
        return  # e.g. a folder that cannot be opened on this platform: best effort
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EROFS, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _names(targets: Sequence[Path]) -> str:
    names = [str(t) for t in targets]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _folder_of(exc: OSError, targets: Sequence[Path]) -> Path:
    """The folder the failing write was in, as the user knows it (not a staging folder)."""
    if exc.filename:
        failed = Path(exc.filename).absolute()
        for target in targets:
            parent = target.parent.absolute()
            if failed == parent or parent in failed.parents:
                return target.parent
        return Path(exc.filename).parent
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) and len(targets) > 1:
        # write(2) says no space but not where: the outputs' disk with the least room left
        def room(target: Path) -> int:
            try:
                stat = os.statvfs(target.parent)
            except OSError:
                return 1 << 62
            return stat.f_bavail * stat.f_frsize

        return min(targets, key=room).parent
    return targets[0].parent


def _write_error(exc: OSError, targets: Sequence[Path], outcome: str) -> OutputError:
    """One line: which outputs, what the filesystem said, what to do."""
    names = _names(targets)
    folder = _folder_of(exc, targets)
    if exc.errno in (errno.EACCES, errno.EPERM) and not _exists(folder):
        # the folder refused is the nearest that exists (h59: chmod of one not yet made)
        folder = _existing_above(folder)
    shown = f"{folder}/" if str(folder) != "." else "the project folder"
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = f"free some space on the disk holding {shown} (df -h {folder}) and rerun"
        what = f"the disk is full ({reason})"
    elif exc.errno == errno.EFBIG:
        fix = "raise the limit (ulimit -f) or free the quota and rerun"
        what = f"a file is larger than this process may write ({reason})"
    elif exc.errno == errno.EROFS:
        fix = ("remount it read-write, or run in a writable copy of the project")
        what = f"{shown} is on a read-only file system"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        fix = (f"make it writable (chmod u+w {folder}) or run as its owner")
        what = f"permission denied on {shown}"
    else:
        fix = "check the disk and rerun"
        what = reason
    return OutputError(f"cannot write {names}: {what}; {outcome}: {fix}")


def _is_write_failure(exc: OSError, outputs: Sequence[_Output]) -> bool:
    """An OSError raised while the caller wrote: the filesystem refused a staged write (not,
    say, a missing input file the caller was reading)."""
    if exc.errno not in WRITE_ERRNOS:
        return False
    if not exc.filename:
        return True  # write(2)/close(2) errors (no space) carry no file name
    failed = Path(exc.filename).absolute()
    return any(failed == o.staging.absolute() or o.staging.absolute() in failed.parents
               for o in outputs)


def _restore(output: _Output) -> None:
    """Undo what the commit did to ``output``'s target: put its previous version back, or
    remove the new one when there was none."""
    target, previous = output.target, output.previous
    if output.replaced:
        if previous is None or _is_folder(target) or _is_folder(previous):
            # rename(2) cannot put a folder over an existing path: move the new one out first
            _remove(output.staged)
            os.replace(target, output.staged)
            _remove(output.staged)
        if previous is not None:
            os.replace(previous, target)
    elif output.moved_aside and previous is not None:
        os.replace(previous, target)
    output.replaced = output.moved_aside = False


def _set_aside(output: _Output) -> None:
    """Keep the target's previous version inside the staging folder until the commit ends."""
    target = output.target
    if not _exists(target):
        return
    previous = output.staging / f"{target.name}.previous"
    if not (_is_folder(target) or _is_folder(output.staged)):
        try:  # a hard link: the target stays in place, replaced by one atomic rename
            os.link(target, previous, follow_symlinks=False)
            output.previous = previous
            return
        except OSError:
            pass  # no hard links here (some network or FUSE filesystems): rename instead
    os.replace(target, previous)  # a folder (or no hard links): the target is gone briefly
    output.previous, output.moved_aside = previous, True


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends: Ctrl-C or ``kill`` during the renames
    is acted on right after them, not between two of them (SIGKILL cannot be held)."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:  # not POSIX
        yield
        return
    previous = mask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


def _rollback(undo: Sequence[_Output]) -> list[_Output]:
    """Restore ``undo`` (newest first); return the outputs that could not be restored, whose
    staging folders (holding their previous versions) must then be kept."""
    failed = []
    for output in reversed(undo):
        try:
            _restore(output)
        except OSError:
            output.keep_staging = output.previous is not None and _exists(output.previous)
            failed.append(output)
    return failed


def _commit(outputs: Sequence[_Output]) -> None:
    done: list[_Output] = []
    current: _Output | None = None
    with _signals_deferred():
        try:
            for output in outputs:
                if output.staged.is_file() and not output.staged.is_symlink():
                    _fsync(output.staged)  # the data is on disk before any name points at it
            for current in outputs:
                _set_aside(current)
                os.replace(current.staged, current.target)
                current.replaced = True
                done.append(current)
        except BaseException as exc:
            failed = _rollback([o for o in [*done, current] if o is not None])
            if not isinstance(exc, OSError):
                raise
            if failed:
                kept = "; ".join(f"the previous {o.target} is in {o.previous}"
                                 for o in failed if o.keep_staging)
                outcome = ("stopped midway and could not restore "
                           f"{_names([o.target for o in failed])}"
                           + (f" ({kept})" if kept else ""))
            elif done:
                outcome = (f"stopped midway, so {_names([o.target for o in done])} "
                           f"{'was' if len(done) == 1 else 'were'} put back as before: "
                           "nothing was replaced")
            else:
                outcome = "nothing was replaced"
            raise _CommitFailed(exc, outcome) from exc
    for folder in {o.target.parent.absolute() for o in outputs}:
        # committed already: a failure here only risks the renames across a power cut
        with contextlib.suppress(OSError):
            _fsync(folder, folder=True)


@contextmanager
def atomic_outputs(*targets: str | Path) -> Iterator[tuple[Path, ...]]:
    """Yield one staged path per target; when the block ends without an exception, move them
    all onto their targets, or none of them (see the module's docstring for the guarantee).

    Each staged path does not exist yet: write a file or a folder there. A target may be a
    file or a folder; a folder is replaced whole (files of the previous version that the new
    one lacks do not survive).
    """
    paths = [Path(t) for t in targets]
    if not paths:
        raise ValueError("atomic_outputs needs at least one target")
    if len({p.absolute() for p in paths}) != len(paths):
        raise ValueError(f"atomic_outputs got the same target twice: {[str(p) for p in paths]}")
    # Writing into a staged path of an enclosing block: its filesystem errors are the
    # enclosing block's to report, with the outputs the user knows.
    nested = any(_inside_staging(p) for p in paths)
    shown = [_STAGED.get(p.absolute(), p) for p in paths]
    outputs: list[_Output] = []
    for path, display in zip(paths, shown, strict=True):
        error = None if nested else _above_error(path, str(display))
        if error is not None:
            raise error
    try:
        try:
            for path in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
                outputs.append(_Output(path, staging))
        except OSError as exc:  # the output's place refuses a folder: a write failure
            if nested:
                raise
            raise _write_error(exc, shown, "nothing was replaced") from exc
        for output, display in zip(outputs, shown, strict=True):
            _STAGED[output.staged.absolute()] = display
        try:
            yield tuple(o.staged for o in outputs)
        except OSError as exc:
            if nested or not _is_write_failure(exc, outputs):
                raise
            raise _write_error(exc, shown, "nothing was replaced") from exc
        for output, display in zip(outputs, shown, strict=True):
            if not _exists(output.staged):
                raise RuntimeError(f"nothing was written for {output.target}")
            error = _kind_error(output.target, _is_folder(output.staged), str(display))
            if error is not None:  # before any rename: nothing is replaced
                raise error
        try:
            _commit(outputs)
        except _CommitFailed as failed:
            if nested:
                raise failed.error from None
            raise _write_error(failed.error, shown, failed.outcome) from failed.error
    finally:
        for output in outputs:
            _STAGED.pop(output.staged.absolute(), None)
            if not output.keep_staging:
                shutil.rmtree(output.staging, ignore_errors=True)


def _existing_above(path: Path) -> Path:
    """The nearest existing path above ``path`` (a symlink counts, even a broken one)."""
    return next(p for p in path.absolute().parents if _exists(p))


def _above_error(path: Path, shown: str) -> OutputError | None:
    """The error when nothing can be written under the nearest existing path above ``path``:
    a file (``a.png`` of ``a.png/x.csv``) or a broken symlink."""
    above = _existing_above(path)
    if above.is_dir():
        return None
    what = "a broken symlink" if above.is_symlink() and not above.exists() else \
        "a file, not a folder"
    return OutputError(f"cannot write {shown}: {above} is {what}; choose another path")


def _kind_error(path: Path, folder: bool, shown: str) -> OutputError | None:
    """The error when ``path`` is a folder (or a symlink to one) and a file is to go there
    (``folder`` False), or the other way round: replacing it would delete what the user keeps
    there, or what the link points at. A symlink to a file is replaced, as a file is."""
    if not _exists(path) or path.is_dir() == folder:
        return None
    what, wanted = ("a folder", "a file") if path.is_dir() else ("a file", "a folder")
    return OutputError(f"cannot write {shown}: it is {what}, and mer writes {wanted} there, "
                       f"which would replace it; choose another path (or move {path} away)")


def check_target(target: str | Path, *, folder: bool = False, shown: str = "") -> None:
    """Raise OutputError when an output cannot go to ``target``, so that a command checks
    a path the user named (``--out``) before any work is done for it: a path through a
    file (``a.png/x.csv``) or a broken symlink, an existing folder (or a link to one) where a
    file goes (``folder`` False), a file where a folder goes, or a place this process may
    not write (a read-only filesystem). ``shown`` names the option (``--out``) in the message;
    atomic_outputs makes the same checks when it writes."""
    path = Path(target)
    named = f"{shown} {path}" if shown else str(path)
    error = _above_error(path, named) or _kind_error(path, folder, named)
    if error is not None:
        raise error
    above = _existing_above(path)
    if not os.access(above, os.W_OK | os.X_OK):  # a read-only filesystem too, even for root
        raise OutputError(f"cannot write {named}: {above} is not writable (read-only, or "
                          "another user's); choose another path")
    try:  # a folder that says it is writable and takes no file (h59: /proc, found after
        # the work was done, with the advice to check the disk)
        with tempfile.TemporaryFile(dir=above):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write {named}: {above} takes no new file "
                          f"({exc.strerror or exc}); choose another path") from None


def _inside_staging(path: Path) -> bool:
    """True when ``path`` lies inside a path some enclosing block staged."""
    absolute = path.absolute()
    return any(staged == absolute or staged in absolute.parents for staged in _STAGED)


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    Works for files and folders: the caller writes whatever it likes at the yielded path.
    On any exception the temporary is removed and ``target`` is left as it was.
    """
    with atomic_outputs(target) as (tmp,):
        yield tmp


@contextmanager
def held_lock(lock_file: str | Path, busy: Callable[[], None]) -> Iterator[None]:
    """Hold ``lock_file`` (an advisory lock, filelock's; the operating system drops it when
    its process dies) for the block. When another process holds it, ``busy()`` is called
    first: it raises to refuse, or returns to wait until the lock is free. Where no lock can
    be written (a read-only folder) the block runs without one, and what it writes there
    fails with its own error."""
    from filelock import FileLock, Timeout

    path = Path(lock_file)
    lock = FileLock(str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
        held = True
    except Timeout:  # (an OSError too: first)
        held = False
    except OSError:
        yield
        return
    if not held:
        busy()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def write_text(target: str | Path, text: str) -> Path:
    """Atomically write ``text`` to ``target``."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def unreadable(path: str | Path, exc: BaseException | None, rebuild: str) -> DatasetError:
    """The error for a pipeline file that exists but cannot be read: empty, damaged, not the
    format, or not readable. ``rebuild`` is the command that writes it (``mer features``)."""
    path = Path(path)
    restore = f"restore it with `dvc checkout {path}` or rebuild it with `{rebuild}`"
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
        return DatasetError(f"cannot read {path}: permission denied; make it readable "
                            f"(chmod u+r {path}) or run as its owner")
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    if size == 0:
        return DatasetError(f"{path} is empty (0 bytes), left by a failed or interrupted "
                            f"write: {restore}")
    first_line = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
    detail = f" ({type(exc).__name__}: {first_line})" if first_line else ""
    return DatasetError(f"{path} is damaged or not the file `{rebuild}` writes{detail}: "
                        f"{restore}")


TABLE_SUFFIXES = (".csv", ".json")  # what write_rows writes


def _check_table_suffix(target: str | Path, named: str) -> None:
    if Path(target).suffix.lower() not in TABLE_SUFFIXES:
        raise MerError(f"{named}: use a {' or '.join(TABLE_SUFFIXES)} file name")


def check_table_target(target: str | Path, shown: str = "") -> None:
    """A MerError when write_rows could not write its table to ``target``: another suffix
    than TABLE_SUFFIXES, or a place check_target refuses; a command calls it on the path the
    user named (``shown``: the option, --out) before its work."""
    _check_table_suffix(target, f"{shown} {target}" if shown else str(target))
    check_target(target, shown=shown)


def write_rows(target: str | Path, rows: Sequence[Mapping[str, object]],
               columns: Sequence[str]) -> Path:
    """Atomically write ``rows`` (one mapping per row) as a table chosen by ``target``'s suffix:
    .csv (a header of ``columns``, then one line per row; a dict or list value as JSON) or
    .json (a list of the rows' objects, keys in ``columns`` order). Any other suffix is a
    MerError, raised before anything is written."""
    import csv
    import io
    import json

    target = Path(target)
    _check_table_suffix(target, str(target))  # the place: atomic_outputs checks it
    suffix = target.suffix.lower()
    ordered = [{column: row.get(column) for column in columns} for row in rows]
    if suffix == ".json":
        return write_text(target, json.dumps(ordered, indent=2) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({column: json.dumps(value) if isinstance(value, dict | list) else value
                      for column, value in row.items()} for row in ordered)
    return write_text(target, buffer.getvalue())
