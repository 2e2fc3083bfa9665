"""Trick play, the pure part: tile geometry, the FFmpeg arguments, cue times and the
playlists' text (parsed with the m3u8 library where it reads the tags)."""
from __future__ import annotations

from pathlib import Path

import m3u8
import pytest

from actors.media import trickplay
from actors.media.trickplay import Manifest, geometry

pytestmark = pytest.mark.timeout(30)


def manifest_of(duration: float, aspect: float = 16 / 9) -> Manifest:
    shape = geometry(duration, aspect)
    frames = tuple((1000 + 200 * n, 200 + n, shape.tick_time(n)) for n in range(shape.ticks))
    return Manifest(shape, tuple(30_000 + n for n in range(shape.sheets)), 1000, frames)


def test_geometry_is_jellyfins_320_px_tiles_10x10_one_per_10_s_at_the_display_aspect() -> None:
    shape = geometry(3600.0, 16 / 9)
    assert (shape.tile_width, shape.tile_height, shape.columns, shape.rows) == (320, 180, 10, 10)
    assert (shape.iframe_width, shape.iframe_height) == (480, 270)
    assert shape.ticks == 360 and shape.sheets == 4
    assert geometry(95.0, 4 / 3).tile_height == 240 and geometry(95.0, 4 / 3).ticks == 10
    assert geometry(10.0, 2.39).tile_height % 2 == 0 and geometry(10.0, 1.0).ticks == 1
    assert geometry(1000.0, 16 / 9).sheets == 1 and geometry(1000.5, 16 / 9).sheets == 2


def test_a_tick_s_cell_runs_along_rows_then_onto_the_next_sheet() -> None:
    shape = geometry(3600.0, 16 / 9)
    assert shape.cell(0) == (0, 0, 0, 0)
    assert shape.cell(13)[:3] == (0, 3 * 320, 1 * 180)
    assert shape.cell(99)[:3] == (0, 9 * 320, 9 * 180)
    assert shape.cell(100)[:3] == (1, 0, 0)
    with pytest.raises(ValueError):
        geometry(0.0, 16 / 9)


def test_keyframes_only_while_no_keyframe_gap_exceeds_the_interval() -> None:
    assert trickplay.keyframes_suffice((0.0, 2.0, 4.0, 6.0), 8.0)
    assert not trickplay.keyframes_suffice((0.0, 12.0), 20.0)
    assert not trickplay.keyframes_suffice((0.0, 2.0), 30.0)  # the tail counts too
    assert not trickplay.keyframes_suffice(None, 30.0) and not trickplay.keyframes_suffice((), 3.0)


def test_the_argv_reads_one_file_input_and_writes_two_file_outputs() -> None:
    shape = geometry(95.0, 16 / 9)
    argv = trickplay.scan_args(Path("/m/a b.mkv"), Path("/w/out"), shape, True, 7, "mov,matroska")
    assert argv[argv.index("-i") + 1] == "file:/m/a b.mkv"
    assert argv.index("-skip_frame") < argv.index("-i") and argv[argv.index("-skip_frame") + 1] == "nokey"
    assert [a for a in argv if a.startswith("file:")] == [
        "file:/m/a b.mkv", "file:/w/out/%d.jpg", "file:/w/out/iframes.mp4"]
    assert argv[argv.index("-protocol_whitelist") + 1] == "file"
    assert argv[argv.index("-progress") + 1] == "pipe:7"
    graph = argv[argv.index("-filter_complex") + 1]
    assert "fps=fps=1/10:round=up" in graph and "trim=end_frame=10" in graph
    assert "scale=320:180,tile=10x10" in graph and "scale=480:270" in graph
    assert "-g" in argv and argv[argv.index("-g") + 1] == "1"  # every picture a keyframe
    assert "+frag_keyframe+empty_moov+default_base_moof" in argv
    every_frame = trickplay.scan_args(Path("/m/a.mkv"), Path("/w"), shape, False, 7, "mov")
    assert "-skip_frame" not in every_frame


def test_the_image_playlist_lists_every_sheet_with_its_tiles() -> None:
    text = trickplay.image_playlist(manifest_of(1500.0))
    assert "#EXT-X-IMAGES-ONLY" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert text.count("#EXT-X-TILES:RESOLUTION=320x180,LAYOUT=10x10,DURATION=10.000") == 2
    playlist = m3u8.loads(text)
    assert [s.uri for s in playlist.segments] == ["0.jpg", "1.jpg"]
    assert [s.duration for s in playlist.segments] == [1000.0, 500.0]
    assert playlist.target_duration == 1000


def test_the_vtt_has_one_cue_per_tick_pointing_at_its_cell() -> None:
    text = trickplay.thumbnails_vtt(manifest_of(1015.0))
    assert text.startswith("WEBVTT\n\n")
    blocks = [b.strip() for b in text.split("\n\n")[1:] if b.strip()]
    assert len(blocks) == 102
    assert blocks[0] == "00:00:00.000 --> 00:00:10.000\n0.jpg#xywh=0,0,320,180"
    assert blocks[13] == "00:02:10.000 --> 00:02:20.000\n0.jpg#xywh=960,180,320,180"
    assert blocks[100] == "00:16:40.000 --> 00:16:50.000\n1.jpg#xywh=0,0,320,180"
    assert blocks[101] == "00:16:50.000 --> 00:16:55.000\n1.jpg#xywh=320,0,320,180"


def test_the_iframe_playlist_names_the_init_and_one_byte_range_per_picture() -> None:
    manifest = manifest_of(95.0)
    playlist = m3u8.loads(trickplay.iframe_playlist(manifest))
    assert playlist.is_i_frames_only and playlist.version == 7
    assert playlist.segment_map[0].uri == "iframes.mp4"
    assert playlist.segment_map[0].byterange == "1000@0"
    assert [s.byterange for s in playlist.segments] == [f"{200 + n}@{1000 + 200 * n}" for n in range(10)]
    assert [s.duration for s in playlist.segments] == [10.0] * 9 + [5.0]
    assert playlist.is_endlist


def test_the_master_lines_announce_both_with_peak_bandwidth() -> None:
    manifest = manifest_of(95.0)
    images, iframes = trickplay.master_lines(manifest, "/hls/s/trickplay/images.m3u8",
                                             "/hls/s/trickplay/iframes.m3u8")
    assert images == (  # 30,000 bytes over the 95 s of the one sheet, ceiled
        '#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=2527,RESOLUTION=320x180,CODECS="jpeg",'
        'URI="/hls/s/trickplay/images.m3u8"')
    master = m3u8.loads("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n" + iframes + "\n")
    (stream,) = master.iframe_playlists
    assert stream.uri == "/hls/s/trickplay/iframes.m3u8"
    assert stream.iframe_stream_info.codecs == trickplay.IFRAME_CODECS
    assert stream.iframe_stream_info.resolution == (480, 270)
    assert stream.iframe_stream_info.bandwidth == 335  # the last: (200 + 9) bytes * 8 / 5 s


def test_a_manifest_survives_its_json() -> None:
    manifest = manifest_of(2500.0)
    assert Manifest.from_json(manifest.to_json()) == manifest
