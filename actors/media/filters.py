"""What a source needs before a browser can show it: the ``-vf`` chain, sizes, ``copy``.

Pure functions of a ``VideoSource``:

- ``copy_refusal(source)`` says why a source may not be offered as ``copy`` (None when it
  may): either 8-bit 4:2:0 progressive SDR H.264 of a common profile (remuxed into
  MPEG-TS), or a passthrough source (``passthrough_refusal``: HEVC Main / Main 10, AV1,
  VP9; 8- or 10-bit 4:2:0, progressive, SDR, PQ or HLG; copied into fMP4). Both are shown
  as coded: a rotated source is never copied. Everything else (MPEG-2, 10-bit H.264,
  4:2:2/4:4:4, interlaced, HDR H.264, rotated) is only transcoded. ``copy_allowed`` is
  the yes/no of it.
- ``output_size(source, target_height)``: even width and height, the source's display
  aspect (sample aspect and rotation applied), never larger than the upright source.
- ``video_filters(source, width, height)``: the chain that turns the source into
  ``width`` x ``height`` progressive 8-bit 4:2:0 BT.709 square pixels, upright, at the
  source's frame rate. ``prepare_filters`` + ``finish_filters`` are the same chain split
  where burned-in subtitles go.

Rotation is done here, not by FFmpeg's autorotate: every run must pass ``INPUT_ARGS``
(``-noautorotate``) before ``-i``. Autorotate puts its ``transpose`` in front of our chain,
so an interlaced rotated source would be deinterlaced along columns, and the size we
announce would depend on a step we do not see. In the chain, the order is: deinterlace
(fields are rows of the coded picture), tone-map (in linear light, scaling there too),
scale, 8-bit 4:2:0, then turn upright.

Deinterlacing uses ``bwdif=mode=send_frame``: one frame per frame, so the frame rate the
master announces stays the source's (``send_field`` would double it).
"""
from __future__ import annotations

from fractions import Fraction

from actors.media.tracks import VideoSource

INPUT_ARGS = ("-noautorotate",)
BROWSER_H264_PROFILES = frozenset({"Constrained Baseline", "Baseline", "Main", "High"})
BROWSER_PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})
PASSTHROUGH_CODECS = frozenset({"hevc", "av1", "vp9"})  # copied into fMP4
PASSTHROUGH_PIX_FMTS = frozenset({"yuv420p", "yuvj420p", "yuv420p10le"})
PASSTHROUGH_HEVC_PROFILES = frozenset({"Main", "Main 10"})
HDR_INPUT = {  # zscale's names for the source transfer
    "pq": "smpte2084",
    "hlg": "arib-std-b67",
}
NOMINAL_PEAK_NITS = 100  # SDR reference white: what tone-mapping maps down to
ROTATIONS = {90: ["transpose=cclock"], 180: ["hflip", "vflip"], 270: ["transpose=clock"]}


def copy_refusal(source: VideoSource) -> str | None:
    """Why ``source`` may not be remuxed as is for a browser; None when it may."""
    if source.codec in PASSTHROUGH_CODECS:
        return passthrough_refusal(source)
    if source.codec != "h264":
        return f"{source.codec or 'unknown'} video is not H.264"
    if source.bit_depth > 8:
        return f"{source.bit_depth}-bit video"
    if source.chroma != 420:
        return f"chroma 4:{str(source.chroma)[1]}:{str(source.chroma)[2]} ({source.pix_fmt})"
    if source.pix_fmt not in BROWSER_PIX_FMTS:
        return f"pixel format {source.pix_fmt} (browsers decode 8-bit 4:2:0)"
    if source.interlaced:
        return f"interlaced ({source.field_order})"
    if source.hdr is not None:
        return f"HDR ({source.hdr.upper()})"
    if source.rotation:
        return f"rotated {source.rotation} degrees"
    if source.profile not in BROWSER_H264_PROFILES:
        return f"H.264 profile {source.profile}"
    return None


def passthrough_refusal(source: VideoSource) -> str | None:
    """Why an HEVC, AV1 or VP9 source may not be copied into fMP4; None when it may."""
    if source.codec not in PASSTHROUGH_CODECS:
        return f"{source.codec or 'unknown'} video is not HEVC, AV1 or VP9"
    if source.codec == "hevc" and source.profile not in PASSTHROUGH_HEVC_PROFILES:
        return f"HEVC profile {source.profile}"
    if source.pix_fmt not in PASSTHROUGH_PIX_FMTS:
        return f"pixel format {source.pix_fmt} (8- or 10-bit 4:2:0 is copied)"
    if source.interlaced:
        return f"interlaced ({source.field_order})"
    if source.rotation:
        return f"rotated {source.rotation} degrees"
    return None


def copy_allowed(source: VideoSource) -> bool:
    return copy_refusal(source) is None


def upright_size(source: VideoSource) -> tuple[Fraction, Fraction]:
    """The source's display size in square pixels, turned upright."""
    width, height = source.width * source.sample_aspect, Fraction(source.height)
    return (height, width) if source.rotation in (90, 270) else (width, height)


def output_size(source: VideoSource, target_height: int) -> tuple[int, int]:
    """Even ``(width, height)`` for a rendition ``target_height`` high, capped at the
    upright source's size, keeping its display aspect."""
    upright_width, upright_height = upright_size(source)
    height = max(2, _even_floor(min(Fraction(target_height), upright_height)))
    width = _even_round(height * upright_width / upright_height)
    return max(2, min(width, _even_floor(upright_width))), height


def video_filters(source: VideoSource, width: int, height: int) -> list[str]:
    """The ``-vf`` chain (join with ``,``) from the decoded source to the rendition."""
    coded_width, coded_height = _coded(source, width, height)
    chain = _deinterlace(source)
    if source.hdr is not None:
        chain += _tone_map(source, (coded_width, coded_height))
    else:
        chain += [f"scale={coded_width}:{coded_height}", "format=yuv420p"]
    return chain + ROTATIONS.get(source.rotation, []) + ["setsar=1"]


def prepare_filters(source: VideoSource) -> list[str]:
    """The chain up to where burned-in subtitles are overlaid: progressive SDR pictures
    at the source's coded size (image subtitles are drawn for that canvas)."""
    chain = _deinterlace(source)
    if source.hdr is not None:
        chain += _tone_map(source, None)
    return chain


def finish_filters(source: VideoSource, width: int, height: int) -> list[str]:
    """The chain after ``prepare_filters`` (and an overlay) to the rendition."""
    coded_width, coded_height = _coded(source, width, height)
    return [f"scale={coded_width}:{coded_height}", "format=yuv420p",
            *ROTATIONS.get(source.rotation, []), "setsar=1"]


def _coded(source: VideoSource, width: int, height: int) -> tuple[int, int]:
    """The size to scale to before turning upright."""
    if width % 2 or height % 2 or width <= 0 or height <= 0:
        raise ValueError(f"rendition size {width}x{height} must be even and positive")
    return (height, width) if source.rotation in (90, 270) else (width, height)


def _deinterlace(source: VideoSource) -> list[str]:
    if not source.interlaced:
        return []
    # Parity stays "auto": each decoded frame says which field comes first.
    return ["bwdif=mode=send_frame:deint=all"]


def _tone_map(source: VideoSource, size: tuple[int, int] | None) -> list[str]:
    """HDR (PQ or HLG, BT.2020) to SDR BT.709: to linear light, Hable's curve, back.

    The input's transfer, primaries and matrix are named, not read from the frames,
    because some files flag HDR in the container only."""
    scale = f"w={size[0]}:h={size[1]}:" if size else ""
    return [
        f"zscale={scale}tin={HDR_INPUT[source.hdr or 'pq']}:pin=bt2020:min=bt2020nc"
        f":t=linear:npl={NOMINAL_PEAK_NITS}",
        "format=gbrpf32le", "zscale=p=bt709", "tonemap=tonemap=hable:desat=0",
        "zscale=t=bt709:m=bt709:r=tv", "format=yuv420p",
    ]


def _even_floor(value: Fraction) -> int:
    return int(value) // 2 * 2


def _even_round(value: Fraction) -> int:
    return 2 * round(value / 2)
