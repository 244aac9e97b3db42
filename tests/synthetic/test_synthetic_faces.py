"""The real dlib detector and landmarker find the synthetic subjects' faces."""

import cv2
import numpy as np

from mer.config import SyntheticParams
from mer.faces.landmarks import detect_faces, to_grey
from mer.synthetic.write_casme2 import FRAMES_DIR, build_subjects, plan_dataset


def test_dlib_finds_one_face_on_onset_apex_and_offset_of_every_clip(tiny_dataset, tiny_params):
    plan = plan_dataset(tiny_params, seed=0)
    assert len({c.subject for c in plan.clips}) == 4
    for clip in plan.clips:
        folder = tiny_dataset / FRAMES_DIR / f"sub{clip.subject:02d}" / clip.name
        for number in (clip.onset, clip.apex, clip.offset):
            frame = cv2.imread(str(folder / f"reg_img{number}.jpg"))
            faces = detect_faces(to_grey(frame), 1)
            assert len(faces) == 1, f"{folder.name} frame {number}: {len(faces)} faces"


def test_landmarks_carried_through_the_subject_warp_match_dlibs():
    params = SyntheticParams(subjects=6, clips=12)  # every portrait, plain and mirrored
    subjects = build_subjects(plan_dataset(params, seed=0), params, seed=0)
    assert len({s.base for s in subjects.values()}) == 6
    for subject in subjects.values():
        found = detect_faces(to_grey(subject.neutral), 1)
        assert len(found) == 1
        iod = np.linalg.norm(subject.landmarks[36:42].mean(0) - subject.landmarks[42:48].mean(0))
        error = np.linalg.norm(found[0].landmarks - subject.landmarks, axis=1)
        assert error.mean() < 0.06 * iod, subject.base  # dlib's own jitter is about 2-4 %


def test_subjects_look_different():
    params = SyntheticParams(subjects=7, clips=14)
    subjects = build_subjects(plan_dataset(params, seed=0), params, seed=0)
    same_portrait = [s for s in subjects.values() if s.base == subjects[1].base]
    assert len(same_portrait) == 2  # 6 portrait variants: subject 7 reuses subject 1's
    a, b = (s.neutral.astype(float) for s in same_portrait)
    assert np.abs(a - b).mean() > 10
