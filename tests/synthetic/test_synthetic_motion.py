"""AU motion is subtle, localised to the AU's region, anatomically directed, and timed."""

import numpy as np
import pytest

from mer.synthetic.face import (
    AUS,
    PEAK_SHIFT_PER_FACE_WIDTH,
    AuEvent,
    au_anchors,
    expression_field,
    expression_profile,
    load_base_face,
    make_subject,
    pixel_grid,
    render_clip,
    sample_nuisance,
    still,
)


@pytest.fixture(scope="module")
def subject():
    base = load_base_face("obama.png", False, 160, 194)
    return make_subject(base, 1, np.random.default_rng(0))


def _onset_and_apex(subject, aus, strength=1.0):
    frames = list(render_clip(subject, aus, 21, 10, still(21), strength,
                              np.random.default_rng(0)))
    return frames[0].astype(float), frames[10].astype(float)


@pytest.mark.parametrize("au", AUS)
def test_each_au_moves_its_own_region_most(subject, au):
    onset, apex = _onset_and_apex(subject, (AuEvent(au, 1.0),))
    change = np.abs(apex - onset).mean(axis=2)  # (H, W)
    xs, ys = pixel_grid(change.shape)
    region = np.zeros(change.shape, bool)
    for centre, _, sigma, _ in au_anchors(au, "", subject.landmarks):
        region |= (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 < (2 * sigma) ** 2
    assert change[region].mean() > 10 * change[~region].mean()
    assert np.array_equal(onset, subject.neutral.astype(float))  # onset = the neutral face


def _at(field, point):
    return field[round(point[1]), round(point[0])]  # (2,) dx, dy px


@pytest.mark.parametrize(("au", "landmark", "dx_sign", "dy_sign"), [
    (1, 21, 1, -1),  # inner brow (image-left brow's inner end) up, slightly inward
    (2, 17, -1, -1),  # outer brow up
    (4, 20, 1, 1),  # brows down and together
    (7, 41, 0, -1),  # lower lid up
    (12, 48, -1, -1),  # lip corner (subject's right = image left) up and out
    (14, 48, 1, 0),  # dimpler: corner pulled in
    (15, 54, 1, 1),  # corner (image right) down, slightly out
    (17, 8, 0, -1),  # chin up
    (26, 8, 0, 1),  # jaw down
])
def test_displacements_point_the_anatomical_way(subject, au, landmark, dx_sign, dy_sign):
    field = expression_field(subject.landmarks, (AuEvent(au, 1.0),), subject.neutral.shape[:2])
    dx, dy = _at(field, subject.landmarks[landmark])
    if dx_sign:
        assert np.sign(dx) == dx_sign
    if dy_sign:
        assert np.sign(dy) == dy_sign and abs(dy) > 0.3


def test_peak_displacement_is_subtle_and_scales_with_intensity(subject):
    shape = subject.neutral.shape[:2]
    peak = np.linalg.norm(expression_field(subject.landmarks, (AuEvent(12, 1.0),), shape),
                          axis=2).max()
    expected = PEAK_SHIFT_PER_FACE_WIDTH * subject.face_width  # ~2 px on a 200 px face
    assert 0.7 * expected < peak < 1.5 * expected
    assert 0.5 < peak < 2.5
    half = np.linalg.norm(expression_field(subject.landmarks, (AuEvent(12, 0.5),), shape),
                          axis=2).max()
    assert half == pytest.approx(peak / 2, rel=1e-4)


def test_one_sided_au_moves_only_that_side(subject):
    field = expression_field(subject.landmarks, (AuEvent(12, 1.0, "L"),),
                             subject.neutral.shape[:2])
    # The subject's left mouth corner is landmark 54, on the image's right.
    assert np.linalg.norm(_at(field, subject.landmarks[54])) > 0.5
    assert np.linalg.norm(_at(field, subject.landmarks[48])) < 0.05


def test_profile_rises_to_the_apex_and_decays_to_the_offset():
    profile = expression_profile(60, 25)
    assert profile[0] == 0 and profile[25] == 1 and profile[-1] == pytest.approx(0, abs=1e-12)
    assert np.all(np.diff(profile[:26]) > 0) and np.all(np.diff(profile[25:]) < 0)


def test_nuisances_scale_with_noise():
    rng = np.random.default_rng(0)
    quiet = sample_nuisance(80, 0.0, rng)
    assert not quiet.shifts.any() and not quiet.angles.any() and not quiet.blink.any()
    assert np.all(quiet.gains == 1) and quiet.noise_sigma == 0
    for seed in range(20):
        noisy = sample_nuisance(80, 1.0, np.random.default_rng(seed))
        assert np.abs(noisy.shifts).max() < 1.6  # sub-pixel to about a pixel
        assert np.abs(noisy.gains - 1).max() < 0.05  # flicker of a few %
    blinks = sum(sample_nuisance(80, 1.0, np.random.default_rng(s)).blink.any()
                 for s in range(100))
    assert 15 < blinks < 45


def test_a_blink_closes_the_eyes_and_leaves_the_mouth(subject):
    nuisance = still(30)
    closing = np.sin(np.pi * np.arange(30) / 29) ** 2  # open -> shut at frame ~15 -> open
    nuisance = type(nuisance)(nuisance.shifts, nuisance.angles, nuisance.gains, closing, 0.0)
    frames = list(render_clip(subject, (), 30, 10, nuisance, 1.0, np.random.default_rng(0)))
    change = np.abs(frames[15].astype(float) - frames[0].astype(float)).mean(axis=2)
    eye = subject.landmarks[36:42].mean(axis=0).round().astype(int)
    mouth = subject.landmarks[48:60].mean(axis=0).round().astype(int)
    assert change[eye[1] - 2:eye[1] + 3, eye[0] - 3:eye[0] + 4].mean() > 10
    assert change[mouth[1] - 3:mouth[1] + 4, mouth[0] - 5:mouth[0] + 6].max() == 0
