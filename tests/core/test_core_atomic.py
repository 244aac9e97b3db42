"""Outputs are written whole or not at all."""

import os

import pytest

from mer.atomic import (
    OutputError,
    atomic_outputs,
    atomic_path,
    check_target,
    unreadable,
    write_text,
)
from mer.errors import MerError


def test_failed_write_leaves_the_old_file(tmp_path):
    target = write_text(tmp_path / "out.json", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_folder_is_replaced_whole(tmp_path):
    target = tmp_path / "dataset"
    target.mkdir()
    (target / "stale.txt").write_text("stale")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "fresh.txt").write_text("fresh")
    assert sorted(p.name for p in target.iterdir()) == ["fresh.txt"]


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="nothing was written"), atomic_path(tmp_path / "x"):
        pass


def test_several_outputs_are_replaced_together(tmp_path):
    report, folder = tmp_path / "metrics.json", tmp_path / "plots"
    report.write_text("old")
    folder.mkdir()
    (folder / "stale.png").write_text("stale")
    with atomic_outputs(report, folder) as (report_tmp, folder_tmp):
        report_tmp.write_text("new")
        folder_tmp.mkdir()
        (folder_tmp / "fresh.png").write_text("fresh")
        assert report.read_text() == "old"  # nothing moves before the block ends
    assert report.read_text() == "new"
    assert sorted(p.name for p in folder.iterdir()) == ["fresh.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "plots"]


@pytest.mark.parametrize("stop", [RuntimeError("bug"), KeyboardInterrupt()])
def test_an_exception_while_writing_replaces_none(tmp_path, stop):
    first, second = tmp_path / "manifest.parquet", tmp_path / "reports" / "data.json"
    first.write_text("old manifest")
    with pytest.raises(type(stop)), atomic_outputs(first, second) as (a, b):
        a.write_text("new manifest")
        b.write_text("new report")
        raise stop
    assert first.read_text() == "old manifest"
    assert not second.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["manifest.parquet", "reports"]


def test_a_folder_is_never_replaced_by_a_file_nor_a_file_by_a_folder(tmp_path):
    """The issue: `mer predict --out results.json`, with results.json a folder of the user's,
    deleted the folder and all it held, and put the predictions file there. Outputs of another
    kind than the path they go to are refused before any rename; the path is left as it was."""
    folder = tmp_path / "results.json"
    folder.mkdir()
    (folder / "important.txt").write_text("keep")
    with pytest.raises(OutputError, match=r"results\.json: it is a folder, and mer writes a "
                       r"file there"):
        write_text(folder, "predictions")
    assert (folder / "important.txt").read_text() == "keep"
    target = write_text(tmp_path / "out", "a file")
    with pytest.raises(OutputError, match="it is a file, and mer writes a folder"), \
            atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "inside").write_text("x")
    assert target.read_text() == "a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "results.json"]
    with pytest.raises(OutputError, match="it is a folder"):
        check_target(folder, shown="--out")
    check_target(folder, folder=True)
    check_target(tmp_path / "new" / "deeper.csv")  # a new path is fine


def test_a_link_to_a_folder_counts_as_the_folder_and_a_broken_link_is_named(tmp_path):
    """The issue: `--out link.json`, a symlink to a folder, was replaced by the file without
    a word; a path under a broken symlink was said to run through 'a file'."""
    (tmp_path / "real").mkdir()
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "real")
    with pytest.raises(OutputError, match=r"link\.json: it is a folder"):
        check_target(link, shown="--out")
    with pytest.raises(OutputError, match=r"link\.json: it is a folder"):
        write_text(link, "rows")
    assert link.is_symlink() and (tmp_path / "real").is_dir()
    with atomic_path(link) as staged:  # a folder output may replace the link, as before
        staged.mkdir()
        (staged / "inside").write_text("x")
    broken = tmp_path / "gone"
    broken.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match=r"gone is a broken symlink; choose another path"):
        check_target(broken / "x.csv", shown="--out")


def test_a_path_through_a_file_is_one_clear_error(tmp_path):
    """The issue: `--out a.png/x.csv` gave a FileExistsError traceback after all the work."""
    image = write_text(tmp_path / "a.png", "an image")
    with pytest.raises(OutputError, match=r"cannot write --out .*x\.csv: .*a\.png is a file, "
                       "not a folder"):
        check_target(image / "sub" / "x.csv", shown="--out")
    with pytest.raises(OutputError, match=r"a\.png is a file, not a folder"):
        write_text(image / "x.csv", "rows")
    assert image.read_text() == "an image"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_that_takes_no_file_is_refused_before_the_work(tmp_path):
    """h59: `mer predict --out /proc/x.csv` passed the check (root may write /proc, by
    access(2)), the prediction ran, and then the write failed, with "check the disk"."""
    with pytest.raises(OutputError, match=r"cannot write --out /proc/x\.csv: /proc (is not "
                                          r"writable|takes no new file \(.+\)); choose "
                                          "another path"):
        check_target("/proc/x.csv", shown="--out")
    check_target(tmp_path / "x.csv", shown="--out")
    assert list(tmp_path.iterdir()) == []  # the check leaves nothing behind


def test_a_permission_error_names_the_folder_that_refused(tmp_path):
    """h59: a model cache not yet made under a folder that takes no file was to be fixed by
    `chmod u+w` on the cache folder, which did not exist."""
    import errno

    from mer.atomic import _write_error

    target = tmp_path / "ro" / "cache" / "model-v1"
    (tmp_path / "ro").mkdir()
    denied = PermissionError(errno.EACCES, "Permission denied", str(target) + ".tmp")
    message = str(_write_error(denied, [target], "nothing was written"))
    assert f"permission denied on {tmp_path / 'ro'}/" in message
    assert f"chmod u+w {tmp_path / 'ro'})" in message


def test_a_hard_linked_output_is_replaced_not_written_through(tmp_path):
    # DVC may link outputs to its cache: writing in place would change the cached copy.
    cache = write_text(tmp_path / "cache", "cached")
    target = tmp_path / "metrics.json"
    os.link(cache, target)
    write_text(target, "new")
    assert cache.read_text() == "cached" and target.read_text() == "new"


def test_a_nested_atomic_writer_commits_inside_the_staging(tmp_path):
    # write_npz/write_manifest are atomic themselves and write into a staged path
    with atomic_outputs(tmp_path / "a.txt", tmp_path / "b.txt") as (a, b):
        write_text(a, "a")
        write_text(b, "b")
    assert (tmp_path / "a.txt").read_text() + (tmp_path / "b.txt").read_text() == "ab"


def test_a_write_error_of_a_missing_input_is_not_blamed_on_the_outputs(tmp_path):
    # Only the filesystem refusing a staged write becomes an OutputError.
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "out") as tmp:
        tmp.write_text((tmp_path / "missing-input").read_text())
    assert list(tmp_path.iterdir()) == []


def test_the_same_target_twice_is_refused(tmp_path):
    with pytest.raises(ValueError, match="same target twice"), \
            atomic_outputs(tmp_path / "x", tmp_path / "x"):
        pass


def test_unreadable_names_the_file_and_the_fix(tmp_path):
    empty = tmp_path / "features.npz"
    empty.write_bytes(b"")
    error = unreadable(empty, ValueError("whatever"), "mer features")
    assert isinstance(error, MerError)
    assert str(error) == (f"{empty} is empty (0 bytes), left by a failed or interrupted write: "
                          f"restore it with `dvc checkout {empty}` or rebuild it with "
                          "`mer features`")
