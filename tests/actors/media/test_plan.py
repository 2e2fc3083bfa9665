"""The plan, pure: which renditions fit, and the segment grid."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from actors.media import copies_audio, renditions, segment_boundaries, segment_for_time
from actors.errors import HlsError as MediaError, Unplayable
from actors.media.profiles import DEFAULT_PROFILES
from tests.helpers.media_runs import COPY, P480, P720, SEGMENT, fake_info

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- pure planning

@pytest.mark.parametrize("info, expected", [
    (fake_info(), (COPY, P720, P480)),
    (fake_info(codec="mpeg4", profile="Simple Profile"), (P720, P480)),
    (fake_info(width=854, height=480), (COPY, P480)),
    (fake_info(width=854, height=480, pix_fmt="yuv420p10le", profile="High 10"), (P480,)),
    (fake_info(width=1920, height=1080, rotation=90), (P720, P480)),
    (fake_info(width=1080, height=1920, rotation=270), (P720, P480)),
])
def test_renditions_fit_the_source_and_never_upscale(info, expected):
    assert renditions(info, DEFAULT_PROFILES) == expected


def test_renditions_scale_the_smallest_profile_down_when_none_fits():
    small = fake_info(codec="mpeg4", width=640, height=361)
    (only,) = renditions(small, DEFAULT_PROFILES)
    assert (only.name, only.height) == ("480p", 360)
    assert only.video_kbps == round(1400 * (360 / 480) ** 2)
    with pytest.raises(MediaError) as refused:
        renditions(small, (COPY,))
    assert isinstance(refused.value, Unplayable)


@pytest.mark.parametrize("audio, profile, copied", [
    ("aac", COPY, True), ("mp3", COPY, False), ("ac3", COPY, False), ("aac", P720, False),
])
def test_only_aac_is_copied_and_only_under_copy(audio, profile, copied):
    assert copies_audio(fake_info(audio=audio), profile) is copied


@pytest.mark.parametrize("duration, end, expected", [
    (10.0, None, (0.0, 4.0, 8.0, 10.0)),
    (9.5, None, (0.0, 4.0, 8.0, 9.5)),
    (8.5, None, (0.0, 4.0, 8.5)),  # a half-second tail joins the segment before
    (3.0, None, (0.0, 3.0)),
    (12.0, 7.5, (0.0, 4.0, 12.0)),  # audio outlasts the video: no cut without frames
])
def test_transcode_boundaries_are_multiples_of_the_segment(duration, end, expected):
    info = fake_info(duration=duration, end=end)
    assert segment_boundaries(info, P720, SEGMENT) == expected


def test_copy_boundaries_follow_the_keyframes_greedily():
    keyframes = (0.0, 1.0, 2.5, 3.9999, 5.0, 9.0, 20.0, 21.5)
    info = fake_info(duration=22.0, keyframes=keyframes)
    # 3.9999 is within half a frame of 4; then nothing until 9; 20 after a sparse stretch.
    assert segment_boundaries(info, COPY, SEGMENT) == (0.0, 3.9999, 9.0, 20.0, 22.0)
    with pytest.raises(ValueError):
        segment_boundaries(fake_info(), COPY, SEGMENT)


@settings(max_examples=200, deadline=None)
@given(duration=st.floats(0.5, 3600), segment=st.floats(1, 10),
       gaps=st.lists(st.floats(0.1, 12), min_size=0, max_size=60))
def test_boundaries_always_tile_the_whole_file(duration, segment, gaps):
    keyframes = [0.0]
    for gap in gaps:
        keyframes.append(round(keyframes[-1] + gap, 6))
    info = fake_info(duration=duration, keyframes=tuple(k for k in keyframes if k < duration))
    for profile in (COPY, P720):
        bounds = segment_boundaries(info, profile, segment)
        assert bounds[0] == 0.0 and bounds[-1] == duration
        assert all(a < b for a, b in zip(bounds, bounds[1:]))
        assert all(b - a >= segment - 1 / 60 for a, b in zip(bounds, bounds[1:-1]))
        if profile is P720:
            assert all(b == pytest.approx(round(b / segment) * segment) for b in bounds[1:-1])
        else:
            assert set(bounds[1:-1]) <= set(keyframes)


def test_segment_for_time_clamps_to_the_file():
    bounds = (0.0, 4.0, 8.0, 10.0)
    cases = {-1.0: 0, 0.0: 0, 3.999: 0, 4.0: 1, 7.5: 1, 8.0: 2, 10.0: 2, 99.0: 2}
    assert {t: segment_for_time(bounds, t) for t in cases} == cases


