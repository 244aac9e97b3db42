"""The README's examples name what the embedded dataset really holds."""

import re
from pathlib import Path

from mer.config import Params
from mer.synthetic.write_casme2 import plan_dataset

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_predict_clip_example_names_a_clip_of_the_embedded_dataset():
    found = re.findall(r"mer predict --clip data/synthetic/(\S+) --onset (\d+) --apex (\d+) "
                       r"--offset (\d+)", README.read_text(encoding="utf-8"))
    assert found, "the README has no `mer predict --clip` example"
    params = Params().data
    clips = {c.folder: c for c in plan_dataset(params.synthetic, params.seed).clips}
    for folder, onset, apex, offset in found:
        assert folder in clips, f"{folder} is not a clip of the embedded dataset"
        clip = clips[folder]
        assert (clip.onset, clip.apex, clip.offset) == (int(onset), int(apex), int(offset))


def test_the_pipeline_table_lists_every_stage_dvc_repro_runs():
    """A break-it session: the table that opens with "`dvc repro` runs these stages" had 7 of
    dvc.yaml's 9 (not the two spotting stages a newcomer sees run), and its list of the other
    commands missed three that `mer --help` lists."""
    import yaml

    from mer.cli import COMMANDS

    text = README.read_text(encoding="utf-8")
    section = text.split("## The pipeline\n", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| ([a-z-]+) \| `mer ([a-z-]+)[^`]*` \|", section,
                      flags=re.MULTILINE)
    stages = yaml.safe_load((README.parent / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert [stage for stage, _ in rows] == list(stages)
    assert all(stage == command for stage, command in rows)
    beyond = set(re.findall(r"`mer ([a-z][a-z-]*)`",
                            section.split("Beyond the stages:", 1)[1].replace("\n", " ")))
    assert beyond | set(stages) == set(COMMANDS)
