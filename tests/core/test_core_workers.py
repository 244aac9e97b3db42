"""Worker processes: never more than the CPUs this process may use, nor than the tasks."""

import os

from mer.core.workers import parallel_map, process_count, usable_cpus


def test_worker_processes_are_no_more_than_the_cpus_or_the_tasks(caplog):
    """A break-it session: train.parallel_folds 100 on 2 CPUs started 28 worker processes
    (one per pending fold) and took 7 GB more memory, to run slower than 2, without a word."""
    cpus = usable_cpus()
    assert cpus == len(os.sched_getaffinity(0))
    with caplog.at_level("WARNING", logger="mer.core.workers"):
        assert process_count(cpus, 100, "faces.workers") == cpus
        assert process_count(cpus, 1, "faces.workers") == 1
    assert caplog.text == ""  # asking for what there is is no mistake
    with caplog.at_level("WARNING", logger="mer.core.workers"):
        assert process_count(cpus + 98, 100, "train.parallel_folds") == cpus
    assert (f"train.parallel_folds asks for {cpus + 98} worker processes, and this machine "
            f"gives mer {cpus} CPUs: starting {cpus}") in caplog.text


def test_a_map_over_more_workers_than_cpus_gives_the_same_results(caplog):
    with caplog.at_level("WARNING", logger="mer.core.workers"):
        assert parallel_map(abs, [-3, 1, -2], usable_cpus() + 1, "clips", "faces.workers") == \
            [3, 1, 2]
    assert "faces.workers asks for" in caplog.text
