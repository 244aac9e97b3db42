"""BENCHMARKS.md as `make bench` writes it: `--only` replaces the sections it reran and keeps
the others (it used to write a file holding only the rerun modules), each section stamped
with when, at which commit and on which machine it was measured."""

import re
import subprocess
import sys

import pytest
from benchmarks.run import HEADER, MODULES, REPO, code_state, main, render, section, stamp

ROW = [{"benchmark": "b", "value": 1.5, "unit": "s", "note": "n"}]


def test_a_rerun_replaces_its_own_section_and_keeps_the_others():
    old = render({"bench_train": (ROW, "Measured then."), "bench_spotting": (ROW, "then")})
    new_rows = [{"benchmark": "b", "value": 2.5, "unit": "s", "note": "again"}]
    new = render({"bench_spotting": (new_rows, "Measured now.")}, old)
    assert new.startswith(HEADER)
    assert section("bench_train", ROW, "Measured then.") in new
    assert section("bench_spotting", new_rows, "Measured now.") in new
    assert section("bench_spotting", ROW, "then") not in new
    assert new.index("## bench_train") < new.index("## bench_spotting")  # MODULES order
    assert render({}, new) == new
    whole = render(dict.fromkeys(MODULES, (ROW, "x")), old)
    assert [part.split("\n", 1)[0] for part in whole.split("\n## ")[1:]] == list(MODULES)


def test_each_section_says_when_where_and_at_which_code_it_was_measured():
    """A break-it session: one header claimed a machine and a 751 s whole run for sections
    measured on other days, at other defaults, some by modules that did not exist then."""
    measured = stamp(12.3, code_state(), (1.0, 2.25))
    assert re.fullmatch(r"Measured \d{4}-\d\d-\d\d at (commit [0-9a-f]{7,}( \(uncommitted "
                        r"changes to its code or params\))?|no git checkout) on .+ cores, "
                        r"Python .+, in 12 s; load average 1\.0 -> 2\.2\.", measured), measured
    text = section("bench_train", ROW, measured)
    assert text.split("\n")[:3] == ["## bench_train", "", measured]
    assert "Whole run" not in render({"bench_train": (ROW, measured)})
    assert code_state(REPO.parent / "no-such-checkout") == "no git checkout"


@pytest.mark.parametrize("kept", [False, True])
def test_a_run_resumed_under_a_root_says_its_time_is_only_its_share(tmp_path, monkeypatch,
                                                                     kept):
    """A run of bench_compare resumed from the folds an interrupted one kept under --root was
    stamped "in N s" with only its own minutes, read as the module's time."""
    import types

    import benchmarks.run as bench_run

    def run(root=None) -> list[dict]:
        (root / "fold.json").write_text("{}")  # what the module keeps there
        return ROW

    root = tmp_path / "root"
    root.mkdir()
    if kept:
        (root / "dataset").mkdir()
    monkeypatch.setattr(bench_run.importlib, "import_module",
                        {"benchmarks.bench_compare": types.SimpleNamespace(run=run)}.__getitem__)
    out = tmp_path / "BENCHMARKS.md"
    assert main(["--only", "bench_compare", "--root", str(root), "--out", str(out)]) == 0
    line = out.read_text(encoding="utf-8").split("## bench_compare\n\n", 1)[1].split("\n")[0]
    assert line.startswith("Measured ")
    assert ("resuming from what an earlier run kept under --root" in line) == kept, line


def test_the_committed_file_is_what_render_keeps():
    """BENCHMARKS.md is render's output: its header, its sections in MODULES order."""
    text = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert text.startswith(HEADER)
    assert render({}, text) == text


def test_an_unknown_module_is_a_usage_error_naming_the_choices(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--only", "bench_compar"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "no benchmark module bench_compar" in error and "bench_compare" in error


def test_an_out_that_is_a_folder_is_refused_before_any_module(tmp_path, capsys):
    """The re-check: `--out <a folder>` was found only after the module had run (for
    bench_compare, 95 minutes lost) and ended in an IsADirectoryError traceback."""
    with pytest.raises(SystemExit) as exited:
        main(["--only", "bench_compare", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert f"--out {tmp_path} is a folder" in capsys.readouterr().err


def test_only_without_a_name_is_refused_not_a_whole_run(capsys):
    """A break-it session: `--only` with no name ran every module (the whole `make bench`)."""
    with pytest.raises(SystemExit) as exited:
        main(["--only"])
    assert exited.value.code == 2
    assert "--only takes module names: bench_synthetic" in capsys.readouterr().err


@pytest.mark.parametrize("module", [m for m in MODULES if m != "bench_compare"])
def test_a_module_run_alone_answers_help_and_refuses_an_unknown_option(module):
    """A break-it session: `python -m benchmarks.<module> --help` started minutes of
    benchmark (the 303 MB synthetic set) or, for three modules, exited 0 having done nothing."""
    def alone(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=REPO,
                              capture_output=True, text=True, check=False, timeout=300)

    helped = alone("--help")
    assert helped.returncode == 0 and "usage:" in helped.stdout, helped.stderr
    assert "benchmarks.run --only" in helped.stdout
    refused = alone("--bogus")
    assert refused.returncode == 2 and "unrecognized arguments: --bogus" in refused.stderr


def test_no_dvc_init_of_the_suite_or_the_benchmarks_reports_analytics(tmp_path, monkeypatch):
    """A break-it session: bench_pipeline (and the tests' DVC projects) ran `dvc init` before
    turning analytics off, so each spawned DVC's daemon that posts to its endpoint. Here the
    endpoint is a closed local port, so nothing leaves the machine either way."""
    from benchmarks.bench_pipeline import _timed

    def in_the_suite(project) -> str:
        done = subprocess.run([sys.executable, "-m", "dvc", "init", "-vv"], cwd=project,
                              capture_output=True, text=True, check=True)
        return done.stdout + done.stderr

    def in_the_benchmark(project) -> str:
        return _timed(project, sys.executable, "-m", "dvc", "init", "-vv")[1]

    monkeypatch.setenv("DVC_ANALYTICS_ENDPOINT", "http://127.0.0.1:9/")
    for start in (in_the_suite, in_the_benchmark):
        if start is in_the_benchmark:  # `make bench` runs outside the suite's environment
            monkeypatch.delenv("DVC_NO_ANALYTICS", raising=False)
        project = tmp_path / start.__name__
        project.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        said = start(project)
        assert "Initialized DVC repository" in said, said
        assert "Analytics is enabled" not in said, said


@pytest.mark.parametrize(("how", "code", "said"), [("SIGTERM", 143, "stopped (SIGTERM)"),
                                                   ("SIGINT", 130, "stopped (Ctrl-C)")])
def test_a_stopped_benchmark_says_so_in_one_line_and_leaves_no_temporary_folder(tmp_path, how,
                                                                                code, said):
    """A break-it session: SIGTERM (`timeout`, a CI cancel) left a build's temporary folder
    behind; Ctrl-C ended in a 20-line KeyboardInterrupt traceback."""
    import os
    import signal
    import time

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # Ctrl-C's SIGINT as a shell delivers it: a pytest-xdist worker ignores SIGINT, and a
    # child inherits that, so Python would not turn it into a KeyboardInterrupt
    started = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_synthetic"], cwd=REPO,
                               env={**os.environ, "TMPDIR": str(scratch)},
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not any(scratch.rglob("*.jpg")) and time.monotonic() < deadline:
        time.sleep(0.2)  # until it writes frames into its temporary folder
    assert any(scratch.rglob("*.jpg")), "the benchmark never started writing"
    started.send_signal(getattr(signal, how))
    _, error = started.communicate(timeout=120)
    assert started.returncode == code, error
    assert said in error and "Traceback" not in error, error
    assert not [p for p in scratch.iterdir() if p.name.startswith("tmp")], list(scratch.iterdir())


def test_each_module_is_written_as_soon_as_it_is_measured(tmp_path, monkeypatch):
    """A break-it session: BENCHMARKS.md was written after the last module only, so one that
    failed late (or a stop) lost every section a whole `make bench` had measured."""
    import types

    import benchmarks.run as bench_run

    def fails() -> list[dict]:
        raise RuntimeError("bench_train broke")

    modules = {"benchmarks.bench_synthetic": types.SimpleNamespace(run=lambda: ROW),
               "benchmarks.bench_train": types.SimpleNamespace(run=fails)}
    monkeypatch.setattr(bench_run.importlib, "import_module", modules.__getitem__)
    out = tmp_path / "BENCHMARKS.md"
    with pytest.raises(RuntimeError, match="bench_train broke"):
        main(["--only", "bench_synthetic", "bench_train", "--out", str(out)])
    written = out.read_text(encoding="utf-8")
    assert written.startswith(HEADER) and "## bench_synthetic" in written
    assert "## bench_train" not in written
