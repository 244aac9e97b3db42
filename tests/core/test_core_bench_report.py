"""BENCHMARKS.md as `make bench` writes it: `--only` replaces the sections it reran and keeps
the others (it used to write a file holding only the rerun modules)."""

import pytest
from benchmarks.run import MODULES, main, render, section

ROW = [{"benchmark": "b", "value": 1.5, "unit": "s", "note": "n"}]


def test_a_rerun_replaces_its_own_section_and_keeps_the_others():
    old = render({"bench_train": ROW, "bench_spotting": ROW}, 10.0)
    new_rows = [{"benchmark": "b", "value": 2.5, "unit": "s", "note": "again"}]
    new = render({"bench_spotting": new_rows}, 3.0, old)
    assert new.split("\n## ")[0] == old.split("\n## ")[0]  # the whole run's header and time
    assert section("bench_train", ROW) in new
    assert section("bench_spotting", new_rows) in new
    assert section("bench_spotting", ROW) not in new
    assert new.index("## bench_train") < new.index("## bench_spotting")  # MODULES order
    assert render({}, 0.0, new) == new


def test_a_whole_run_writes_a_new_header():
    old = render({"bench_train": ROW}, 10.0)
    new = render(dict.fromkeys(MODULES, ROW), 99.0, old)
    assert "Whole run: 99 s." in new and "Whole run: 10 s." not in new
    assert [part.split("\n", 1)[0] for part in new.split("\n## ")[1:]] == list(MODULES)


def test_an_unknown_module_is_a_usage_error_naming_the_choices(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--only", "bench_compar"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "no benchmark module bench_compar" in error and "bench_compare" in error
