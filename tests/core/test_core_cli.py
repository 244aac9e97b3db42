"""The `mer` command line: help, and user mistakes as one message with exit code 2."""

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
    assert "usage: mer" in capsys.readouterr().out


def test_bad_params_is_a_clear_error_not_a_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text("data:\n  sorce: casme2\n")
    result = subprocess.run([sys.executable, "-m", "mer.cli", "data"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "unknown key 'data.sorce'" in result.stderr
    assert "Traceback" not in result.stderr
