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
