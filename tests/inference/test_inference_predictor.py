"""A prediction's parts: the AU regions that moved, the apex in the input's own numbering."""

import numpy as np

from mer.inference.predictor import MOTION_FLOOR_PX, Prediction, moving_regions
from mer.inference.sources import FrameWindow

NAMES = tuple(f"{region}/t{step}/hoof{b}" for region in ("brow_L", "chin", "mouth")
              for step in (0, 1) for b in range(2))


def test_regions_that_did_not_move_are_not_listed():
    """A still face listed three regions of 0.0 px as 'the AU regions that moved most'."""
    assert moving_regions(np.zeros(len(NAMES)), NAMES, 3) == {}
    # brow_L 0.2 px, chin just under the floor, mouth 0.05 px (the sum of a step's bins,
    # averaged over the steps)
    per_bin = {"brow_L": 0.1, "chin": MOTION_FLOOR_PX / 2 * 0.99, "mouth": 0.025}
    au = np.array([per_bin[name.split("/")[0]] for name in NAMES])
    assert moving_regions(au, NAMES, 3) == {"brow_L": 0.2, "mouth": 0.05}
    assert moving_regions(au, NAMES, 1) == {"brow_L": 0.2}


def test_a_served_answer_gives_the_apex_in_the_inputs_numbering():
    frames = tuple(np.zeros((4, 4, 3), np.uint8) for _ in range(11))
    window = FrameWindow(frames, None, "video.mp4 frames 65..75", tuple(range(65, 76)))
    row = {"label": "a", "prob_a": 0.7, "prob_b": 0.3, "apex_index": 5, "apex_estimated": True,
           "moving_regions": {"chin": 0.3}, "no_motion": False}
    answer = Prediction.from_row(row, window)
    assert (answer.apex_frame, answer.apex_index) == (70, 5)
    assert answer.apex_frame == 70 and answer.no_motion is False
    # a model registered before the flag answers without it: unknown, not "moved"
    del row["no_motion"]
    assert Prediction.from_row(row, window).no_motion is None
    pair = FrameWindow(frames[:2], 1, "a.png b.png")  # no numbers: counted from 0
    assert Prediction.from_row({**row, "apex_index": 1}, pair).apex_frame == 1
