"""The `mer` command line: help, and user mistakes as one message with exit code 2."""

import os
import signal
import subprocess
import sys

import pytest

from mer.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: mer" in out
    # The module docstring as written (a break-it session: `mer spot --help` ran its usage
    # line into the prose): each of its lines is a line of the help.
    module = __import__(COMMANDS[command][0], fromlist=["_"])
    for line in (module.__doc__ or "").strip().splitlines():
        assert line.rstrip() in out.splitlines() or not line.strip(), line


def test_bad_params_is_a_clear_error_not_a_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text("data:\n  sorce: casme2\n")
    result = subprocess.run([sys.executable, "-m", "mer.cli", "data"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "unknown key 'data.sorce'" in result.stderr
    assert "Traceback" not in result.stderr


def test_version(capsys):
    import mer

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mer {mer.__version__}"


def test_params_may_follow_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "other.yaml").write_text("data:\n  seed: -1\n")
    assert main(["data", "--params", "other.yaml"]) == 2
    assert "other.yaml: data.seed" in capsys.readouterr().err
    assert main(["--params", "other.yaml", "data"]) == 2  # before the command, as always
    assert "other.yaml: data.seed" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["features", "train", "register"])
def test_a_params_mistake_is_reported_before_the_heavy_imports(tmp_path, command):
    """It took 59 s for `mer register` to say 'unknown key': torch and Lightning came first."""
    (tmp_path / "params.yaml").write_text("train:\n  epochs: 3\n")
    probe = ("import sys; from mer.cli import main; code = main([sys.argv[1]]); "
             "print(code, sorted({'torch', 'cv2', 'lightning'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe, command], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.stdout.split("\n")[0] == "2 []", result.stdout + result.stderr
    assert "unknown key 'train.epochs'" in result.stderr


# The program (main with no argv), then what follows its command: a Ctrl-C, library logs.
AFTER_THE_COMMAND = """
import logging, os, signal, sys
import mer.cli

sys.argv = ["mer", "params"]
code = mer.cli.main()
logging.getLogger("torch._subclasses.fake_tensor").info("library detail")
logging.getLogger("mer.stages").info("mer message")
os.kill(os.getpid(), signal.SIGINT)
sum(range(1_000_000))  # Python runs the handler between these bytecodes
sys.exit(code)
"""


def test_after_its_command_the_program_ignores_ctrl_c_and_library_info(tmp_path):
    """The issue: a Ctrl-C as a command returned hit Python's own handler, restored by mer:
    a KeyboardInterrupt traceback from the interpreter's exit, or the stop lost there; and
    libraries' INFO lines (torch's FakeTensor cache stats, logged at exit) followed mer's."""
    script = tmp_path / "after.py"
    script.write_text(AFTER_THE_COMMAND)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, check=False, timeout=120,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr
    assert "mer message" in result.stderr and "library detail" not in result.stderr


# MLflow, imported before or after the command's logging is set up, then logging as it does
MLFLOW_LOGS = """
import logging, sys
if sys.argv[1] == "before":
    import mlflow
from mer.cli import main
main(["params"])
import mlflow
logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database tables...")
logging.getLogger("mlflow.store.db.utils").warning("mlflow warning")
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR as BAR
print("progress bar", BAR.get())
"""


@pytest.mark.parametrize("imported", ["before", "after"])
def test_mlflow_info_lines_stay_out_of_mers_output(tmp_path, imported):
    """The issue: MLflow's own handler printed its INFO lines ('Creating initial MLflow database
    tables...', 'Stopping system metrics monitoring...' above the stop line) among mer's."""
    script = tmp_path / "mlflow_logs.py"
    script.write_text(MLFLOW_LOGS)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_LOGGING_LEVEL"}
    result = subprocess.run([sys.executable, str(script), imported], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Creating initial" not in result.stderr
    assert "mlflow warning" in result.stderr  # warnings still reach the user
    # nor its "Downloading artifacts" bars (register, a first predict of a version)
    assert "progress bar False" in result.stdout


def test_mlflow_logging_level_set_by_the_user_is_kept(tmp_path):
    script = tmp_path / "mlflow_logs.py"
    script.write_text(MLFLOW_LOGS)
    env = {**os.environ, "MLFLOW_LOGGING_LEVEL": "INFO"}
    result = subprocess.run([sys.executable, str(script), "after"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Creating initial MLflow database tables" in result.stderr


def test_a_stop_names_resuming_only_for_a_command_that_resumes():
    """The issue: `mer params` or `mer --help` stopped by SIGTERM said 'finished work is kept,
    rerun to resume', though they keep nothing; `mer train` keeps its finished folds."""
    from mer.cli import _stop_line
    from mer.interrupts import SIGINT_EXIT, SIGTERM_EXIT

    assert _stop_line("train", SIGTERM_EXIT) == \
        "mer train: terminated (SIGTERM); finished folds are kept, rerun to resume"
    for command in ("params", "evaluate", ""):
        assert "resume" not in _stop_line(command, SIGTERM_EXIT)
    assert _stop_line("params", SIGTERM_EXIT) == "mer params: terminated (SIGTERM)"
    assert _stop_line("", SIGINT_EXIT) == "mer: interrupted"
    # Ctrl-C too (a break-it session: it said only "interrupted", where a user at a terminal
    # most needs to hear that nothing finished is lost)
    assert _stop_line("train", SIGINT_EXIT) == \
        "mer train: interrupted; finished folds are kept, rerun to resume"


def test_a_stop_a_library_dropped_still_ends_the_command(monkeypatch, capsys):
    """The issue: a Ctrl-C during `mer predict` was caught inside a library (a thread pool's
    weakref callback: 'Exception ignored in ...'), and the command printed its whole answer
    and exited 0. The stop is recorded, so the command ends as interrupted."""
    import mer.stages.params as stage

    def dropping(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(1_000_000))  # Python runs the handler between these bytecodes
        except KeyboardInterrupt:
            pass  # what the library did with it
        print("the whole answer")

    monkeypatch.setattr(stage, "run", dropping)
    # as in a terminal: a suite run in the background (CI, xdist workers) has SIGINT ignored,
    # and mer leaves an ignored Ctrl-C ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = main(["params"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130
    captured = capsys.readouterr()
    assert "the whole answer" in captured.out
    assert captured.err.strip().splitlines()[-1] == "mer params: interrupted"


def test_a_stop_dropped_in_a_callback_prints_no_traceback(tmp_path, monkeypatch, capsys):
    """The issue: a Ctrl-C during `mer evaluate` landed in a gc callback: Python printed
    'Exception ignored in ... KeyboardInterrupt' with a traceback, evaluate went on and then
    said 'interrupted'. The traceback is left out. Work finished after a stop Python dropped
    is kept whole, as a fold finished before a stop is (atomic outputs, never half a file),
    and the command still ends as interrupted."""
    import weakref

    import mer.stages.params as stage
    from mer.atomic import write_text

    out = write_text(tmp_path / "metrics.json", "old")

    class Collected:
        pass

    def stop_in_a_callback(_ref):
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(1_000_000))  # the handler raises here, inside the callback

    def evaluate(args):
        thing = Collected()
        ref = weakref.ref(thing, stop_in_a_callback)
        del thing  # the callback runs now; what it raises cannot propagate
        assert ref() is None
        write_text(out, "new")

    monkeypatch.setattr(stage, "run", evaluate)
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)  # Python's, not pytest's
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        code = main(["params"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130
    err = capsys.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "mer params: interrupted"
    assert out.read_text() == "new"  # whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no staging left
