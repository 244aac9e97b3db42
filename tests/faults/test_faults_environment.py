"""Faults of the machine, not of the data: a read-only or unwritable folder, a full disk, and
pipeline files left empty or damaged. Each gives one line naming the file and the fix (exit 2,
no traceback), and a stage's outputs are all replaced or none.

Full and read-only disks are real: a small tmpfs mounted over the project's data/ or reports/
(``mount -t tmpfs``, then ``mount -o remount,ro``), so these tests need root (or
CAP_SYS_ADMIN) and are skipped without it. Permission denied is real too: the folder is chmod
0555 and `mer` runs in a subprocess; as root, that subprocess first drops CAP_DAC_OVERRIDE
(root ignores file modes otherwise).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mer.atomic import atomic_outputs, write_text
from mer.cli import main
from mer.core.npz import write_npz
from mer.errors import MerError
from mer.evaluation.report import predictions_csv
from mer.labels import get_scheme
from toy import write_toy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from data_builders import CASME2_HEADER, make_casme2, write_workbook

pytestmark = pytest.mark.faults

PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2  # linux/prctl.h, capability.h
CLASSES = get_scheme("casme2-5").classes


# ------------------------------------------------------------------------------- helpers

def _mount(*args: str) -> bool:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    return result.returncode == 0


@contextmanager
def tmpfs(folder: Path, size: str = "256k") -> Iterator[Path]:
    """A small tmpfs mounted at ``folder`` (created), unmounted afterwards; skip without the
    privilege to mount."""
    folder.mkdir(parents=True, exist_ok=True)
    if not _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)):
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def read_only(folder: Path) -> None:
    """Remount the tmpfs at ``folder`` read-only: writes fail with EROFS."""
    assert _mount("-o", "remount,ro", str(folder)), f"cannot remount {folder} read-only"


def fill(folder: Path, leave: int) -> None:
    """Write a filler file so only about ``leave`` bytes stay free on ``folder``'s disk."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    (folder / ".filler").write_bytes(b"\0" * max(0, free - leave))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too), relative path -> bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def error_lines(capsys: pytest.CaptureFixture[str], command: str) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith(f"mer {command}: error:")]


def toy_predictions(path: Path) -> None:
    """A real reports/predictions.csv: 2 models x 3 subjects x 4 clips."""
    rng = np.random.default_rng(0)
    rows = []
    for model in ("majority", "svm"):
        for s in range(3):
            for c in range(4):
                proba = rng.dirichlet(np.ones(len(CLASSES)))
                rows.append({"model": model, "fold": f"sub0{s + 1}", "subject": f"sub0{s + 1}",
                             "clip_id": f"casme2/sub0{s + 1}/EP0{c}", "clip": f"EP0{c}",
                             "label": CLASSES[(s + c) % 2],
                             "prediction": CLASSES[int(np.argmax(proba))],
                             **{f"prob_{k}": float(p) for k, p in zip(CLASSES, proba,
                                                                      strict=True)}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(predictions_csv(pd.DataFrame(rows)))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the working directory, MLflow store inside it."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"data": {"source": "casme2", "root": "corpus"}}))
    return tmp_path


# ------------------------------------------------------------------ read-only or unwritable

def test_read_only_data_folder_is_one_line_and_keeps_both_outputs(project, capsys):
    make_casme2(project / "corpus")
    report = project / "reports" / "data.json"
    report.parent.mkdir()
    report.write_text('{"old": true}\n')
    with tmpfs(project / "data") as data:
        (data / "manifest.parquet").write_bytes(b"old manifest")
        read_only(data)
        assert main(["data", "--no-progress"]) == 2
        assert (data / "manifest.parquet").read_bytes() == b"old manifest"
    [line] = error_lines(capsys, "data")
    assert "data/manifest.parquet" in line and "read-only file system" in line
    assert "remount it read-write" in line
    assert report.read_text() == '{"old": true}\n'  # the other output was not replaced
    assert [p.name for p in report.parent.iterdir()] == ["data.json"]  # no staging left


def _without_dac_override() -> None:
    """In the child, before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    bounding set, so even root obeys file modes in the program it runs."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_unwritable_data_folder_is_one_line(project):
    """Permission denied (EACCES): `mer data` when data/ is mode 0555."""
    make_casme2(project / "corpus")
    data = project / "data"
    data.mkdir()
    (data / "manifest.parquet").write_bytes(b"old manifest")
    data.chmod(0o555)
    try:
        as_root = os.geteuid() == 0
        if not as_root and os.access(data, os.W_OK):
            pytest.skip("this user may write any folder")
        env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "mer.cli", "data", "--no-progress"], cwd=project, env=env,
            capture_output=True, text=True, timeout=300,
            preexec_fn=_without_dac_override if as_root else None)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        [line] = [x for x in result.stderr.splitlines() if x.startswith("mer data: error:")]
        assert "data/manifest.parquet" in line and "permission denied" in line
        assert "chmod u+w data" in line
        assert (data / "manifest.parquet").read_bytes() == b"old manifest"
        assert not (project / "reports" / "data.json").exists()
    finally:
        data.chmod(0o755)


# ------------------------------------------------------------------------------- full disk

def test_full_disk_during_evaluate_replaces_neither_metrics_nor_plots(project, capsys):
    # the models of toy_predictions, which mer evaluate checks the table against
    (project / "params.yaml").write_text(yaml.safe_dump(
        {"data": {"source": "casme2", "root": "corpus"}, "train": {"models": ["svm"]}}))
    with tmpfs(project / "reports", size="512k") as reports:
        toy_predictions(reports / "predictions.csv")
        (reports / "metrics.json").write_text('{"uar": 0.5}\n')
        (reports / "plots").mkdir()
        (reports / "plots" / "per_class.png").write_bytes(b"old png")
        before = snapshot(reports)
        fill(reports, leave=24 * 1024)  # metrics.json fits, the figures do not
        before[".filler"] = (reports / ".filler").read_bytes()

        assert main(["evaluate"]) == 2
        assert snapshot(reports) == before  # nothing replaced, no staging folder left
    [line] = error_lines(capsys, "evaluate")
    assert "reports/metrics.json and reports/plots" in line and "disk is full" in line
    assert "nothing was replaced" in line
    assert "free some space on the disk holding reports/" in line


def test_full_reports_disk_keeps_the_previous_manifest(project, capsys):
    """`mer data` writes data/manifest.parquet (plenty of room) and reports/data.json (a full
    disk): neither is replaced, so the manifest never sits beside another run's report."""
    make_casme2(project / "corpus")
    (project / "data").mkdir()
    (project / "data" / "manifest.parquet").write_bytes(b"old manifest")
    with tmpfs(project / "reports", size="64k") as reports:
        (reports / "data.json").write_text('{"old": true}\n')
        fill(reports, leave=0)
        assert main(["data", "--no-progress"]) == 2
        assert (reports / "data.json").read_text() == '{"old": true}\n'
    assert (project / "data" / "manifest.parquet").read_bytes() == b"old manifest"
    assert sorted(p.name for p in (project / "data").iterdir()) == ["manifest.parquet"]
    [line] = error_lines(capsys, "data")
    # the real outputs, not a staging path inside data/.manifest.parquet.*
    assert "data/manifest.parquet and reports/data.json" in line and "disk is full" in line
    assert "the disk holding reports/" in line


def test_full_disk_for_predictions_keeps_the_previous_file(tmp_path):
    """train's reports/predictions.csv goes through write_text: a full disk is a MerError
    (exit 2 from mer) and the previous predictions stay whole."""
    with tmpfs(tmp_path / "reports", size="64k") as reports:
        target = write_text(reports / "predictions.csv", "model,subject\nsvm,sub01\n")
        fill(reports, leave=0)
        with pytest.raises(MerError, match=r"cannot write .*predictions.csv: the disk is full"):
            write_text(target, "model,subject\n" + "svm,sub01\n" * 100_000)
        assert target.read_text() == "model,subject\nsvm,sub01\n"
        assert sorted(p.name for p in reports.iterdir()) == [".filler", "predictions.csv"]


def test_rename_failing_midway_puts_back_what_was_replaced(tmp_path):
    """The first output is renamed into place, the second's folder turns read-only before
    its rename: the first gets its previous version back."""
    first = tmp_path / "metrics.json"
    first.write_text("old metrics")
    with tmpfs(tmp_path / "other") as other:
        second = other / "plots"
        second.mkdir()
        (second / "old.png").write_bytes(b"old")
        with pytest.raises(MerError) as err, atomic_outputs(first, second) as (a, b):
            a.write_text("new metrics")
            b.mkdir()
            (b / "new.png").write_bytes(b"new")
            read_only(other)  # staged already: only the commit's renames can fail now
        assert sorted(p.name for p in second.iterdir()) == ["old.png"]
    assert first.read_text() == "old metrics"
    assert [p.name for p in tmp_path.iterdir() if p.name != "other"] == ["metrics.json"]
    message = str(err.value)
    assert "read-only file system" in message
    assert f"{first} was put back as before: nothing was replaced" in message


# ------------------------------------------------------------------ empty or damaged files

def _truncated_npz(path: Path) -> bytes:
    write_npz(path, {"clip_id": np.array(["a"]), "flow": np.zeros((1, 64, 64))})
    data = path.read_bytes()
    return data[: len(data) // 2]


DAMAGE = {
    "empty": lambda path: b"",
    "random": lambda path: np.random.default_rng(1).bytes(2000),
    "text": lambda path: b"PK not really a zip\n",
    "truncated": _truncated_npz,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_features_npz_is_one_line(project, capsys, damage):
    write_toy(project / "data")
    features = project / "data" / "features.npz"
    features.write_bytes(DAMAGE[damage](project / "scratch.npz"))
    assert main(["train"]) == 2
    [line] = error_lines(capsys, "train")
    assert "data/features.npz" in line and "mer features" in line
    assert "dvc checkout data/features.npz" in line
    assert ("empty (0 bytes)" if damage == "empty" else "damaged") in line


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_faces_npz_is_one_line(project, capsys, damage):
    write_toy(project / "data")
    (project / "data" / "faces.npz").write_bytes(DAMAGE[damage](project / "scratch.npz"))
    assert main(["features"]) == 2
    [line] = error_lines(capsys, "features")
    assert "data/faces.npz" in line and "mer faces" in line
    assert ("empty (0 bytes)" if damage == "empty" else "damaged") in line


@pytest.mark.parametrize("content", [b"", b"PAR1 this is not parquet"])
def test_damaged_manifest_is_one_line(project, capsys, content):
    (project / "data").mkdir()
    (project / "data" / "manifest.parquet").write_bytes(content)
    assert main(["faces"]) == 2
    [line] = error_lines(capsys, "faces")
    assert "data/manifest.parquet" in line and "mer data" in line
    assert ("empty (0 bytes)" if not content else "damaged") in line


def test_manifest_of_another_program_names_missing_columns(project, capsys):
    (project / "data").mkdir()
    pd.DataFrame({"clip_id": ["a"]}).to_parquet(project / "data" / "manifest.parquet")
    assert main(["faces"]) == 2
    [line] = error_lines(capsys, "faces")
    assert "data/manifest.parquet lacks columns" in line and "rerun `mer data`" in line


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary"])
def test_damaged_predictions_are_one_line(project, capsys, content):
    (project / "reports").mkdir()
    (project / "reports" / "predictions.csv").write_bytes(content)
    assert main(["evaluate"]) == 2
    [line] = error_lines(capsys, "evaluate")
    assert "reports/predictions.csv" in line and "mer train" in line
    assert ("empty (0 bytes)" if not content else "") in line
    assert not (project / "reports" / "metrics.json").exists()


# --------------------------------------------------------------------------- sheet, params

def test_sheet_with_a_header_and_no_rows_says_so(project, capsys):
    # Passes on the code before these fault fixes too: build.check_classes already says it.
    corpus = make_casme2(project / "corpus")
    sheet = next(corpus.glob("CASME2-coding-*.xlsx"))
    write_workbook(sheet, [CASME2_HEADER])
    assert main(["data", "--no-progress"]) == 2
    [line] = error_lines(capsys, "data")
    assert "the annotations list no clip" in line and sheet.name in line
    assert not (project / "data" / "manifest.parquet").exists()


def test_epochs_true_is_not_one_epoch(project, capsys):
    (project / "params.yaml").write_text("train:\n  cnn:\n    epochs: true\n")
    assert main(["train"]) == 2
    [line] = error_lines(capsys, "train")
    assert "train.cnn.epochs: expected a number, not true/false" in line


def test_synthetic_clips_error_names_the_full_key(project, capsys):
    (project / "params.yaml").write_text("data:\n  synthetic: {clips: 10, subjects: 26}\n")
    assert main(["synthesize"]) == 2
    [line] = error_lines(capsys, "synthesize")
    assert "data.synthetic.clips (10)" in line and "data.synthetic.subjects 26" in line


def test_npz_written_by_the_stage_still_reads(project):
    """The reader's damage checks accept what write_npz writes, even an empty archive."""
    from mer.core.npz import read_npz

    path = write_npz(project / "empty.npz", {})
    assert read_npz(path, (), "mer faces") == {}
    path = write_npz(project / "one.npz", {"a": np.arange(3)})
    assert read_npz(path, ("a",), "mer faces")["a"].tolist() == [0, 1, 2]
    assert zipfile.is_zipfile(path)
