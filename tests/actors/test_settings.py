"""Settings: every ``hls.*`` key converts; a bad or unknown one stops start-up naming it;
the defaults are SPEC's."""
from __future__ import annotations

import configparser
import dataclasses
import re
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from pyramid.paster import get_appsettings

from actors.media.profiles import DEFAULT_PROFILES, Profile
from actors.settings import CONVERTERS, Intensity, Settings, SettingsError, parse_settings

pytestmark = pytest.mark.timeout(10)

SETTING_NAMES = {f.name for f in fields(Settings)}
CONFIG = Path(__file__).resolve().parents[2] / "config"
SHIPPED_INIS = sorted([*CONFIG.glob("*.ini"), *CONFIG.glob("cluster/*.ini")])


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "media").mkdir()
    return {"hls.media_root": str(tmp_path / "media"), "hls.work_dir": str(tmp_path / "work")}


def samples(tmp_path: Path) -> dict[str, tuple[str, Any]]:
    """One raw value per key and what it must become."""
    return {
        "media_root": (f"{tmp_path}/media/../media", (tmp_path / "media").resolve()),
        "work_dir": (f"{tmp_path}/work", (tmp_path / "work").resolve()),
        "ffmpeg": ("ffmpeg", shutil.which("ffmpeg")),
        "ffprobe": ("ffprobe", shutil.which("ffprobe")),
        "segment_seconds": ("2.5", 2.5),
        "idle_timeout": ("30", 30.0),
        "resume_window": ("600", 600.0),
        "segment_wait": ("7", 7.0),
        "kill_grace": ("1.5", 1.5),
        "max_sessions": ("7", 7),
        "restart_intensity": ("5/20", Intensity(5, 20.0)),
        "profiles": ("\n  copy copy\n  720p 720 2800k 128k\n  low 360p 600 64\n",
                     (Profile("copy"), Profile("720p", 720, 2800, 128), Profile("low", 360, 600, 64))),
        "admin_token": ("  s3cret ", "s3cret"),
        "faults_enabled": ("Yes", True),
        "reap_interval": ("12", 12.0),
        "stall_timeout": ("9.5", 9.5),
        "pause_ahead": ("4", 4),
        "keep_behind": ("11", 11),
        "max_waiting": ("3", 3),
        "instance": (" node-a ", "node-a"),
        "session_secret": (" " + "0123456789abcdef" * 4 + " ", bytes.fromhex("0123456789abcdef" * 4)),
        "accel_redirect": (" /_segments/node1/ ", "/_segments/node1/"),
        "index": (f"{tmp_path}/db/../index.db", (tmp_path / "index.db").resolve()),
        "scan_interval": ("90", 90.0),
        "scan": ("off", False),
        "auth": (" Accounts ", "accounts"),
        "users": (f"{tmp_path}/db/../users.db", (tmp_path / "users.db").resolve()),
        "trickplay": ("no", False),
        "trickplay_bytes": ("1048576", 1048576),
        "segment_store_bytes": (" 512M ", 512 * 1024 ** 2),
    }


BAD = [
    ("media_root", "  "),
    ("work_dir", ""),
    ("ffmpeg", "no-such-ffmpeg-binary"),
    ("ffprobe", "/nonexistent/ffprobe"),
    ("segment_seconds", "0"),
    ("segment_seconds", "four"),
    ("idle_timeout", "-1"),
    ("resume_window", "nan"),
    ("segment_wait", ""),
    ("trickplay", "maybe"),
    ("trickplay_bytes", "0"),
    ("kill_grace", "-0.5"),
    ("max_sessions", "0"),
    ("max_sessions", "1.5"),
    ("restart_intensity", "3"),
    ("restart_intensity", "x/10"),
    ("restart_intensity", "-1/10"),
    ("restart_intensity", "3/0"),
    ("profiles", ""),
    ("profiles", "a copy\na copy"),
    ("profiles", "bad! copy"),
    ("profiles", "720p 720 2800"),
    ("profiles", "720p 0 2800 128"),
    ("profiles", "720p 720 fast 128"),
    ("faults_enabled", "maybe"),
    ("reap_interval", "0"),
    ("stall_timeout", "soon"),
    ("pause_ahead", "-2"),
    ("keep_behind", "many"),
    ("max_waiting", "0"),
    ("session_secret", "not-hex"),
    ("session_secret", "00" * 16),
    ("accel_redirect", "_segments/"),
    ("scan_interval", "0"),
    ("scan", "sometimes"),
    ("auth", "basic"),
    ("auth", ""),
    ("users", " "),
    ("segment_store_bytes", "-1"),
    ("segment_store_bytes", "4 GB of it"),
    ("segment_store_bytes", "1.5G"),
]


def test_every_setting_has_a_sample_and_a_converter(tmp_path):
    # A new setting needs a line in samples() (and a bad value below when it can have one).
    assert set(samples(tmp_path)) == SETTING_NAMES == set(CONVERTERS)


@pytest.mark.parametrize("name", sorted(SETTING_NAMES))
def test_each_key_is_converted(tmp_path, roots, name):
    sample = samples(tmp_path)
    if name not in sample:
        pytest.fail(f"no sample for hls.{name}")
    raw, expected = sample[name]
    parsed = parse_settings({**roots, f"hls.{name}": raw})
    assert getattr(parsed, name) == expected


def test_all_keys_at_once(tmp_path):
    sample = samples(tmp_path)
    parsed = parse_settings({f"hls.{name}": raw for name, (raw, _) in sample.items()})
    assert {name: getattr(parsed, name) for name in sample} == {n: e for n, (_, e) in sample.items()}


@pytest.mark.parametrize("name, raw", BAD, ids=[f"{n}={r!r}" for n, r in BAD])
def test_a_bad_value_raises_one_line_naming_the_key(roots, name, raw):
    with pytest.raises(SettingsError) as raised:
        parse_settings({**roots, f"hls.{name}": raw})
    message = str(raised.value)
    assert f"hls.{name}" in message
    assert "\n" not in message


@pytest.mark.parametrize("key", ["hls.segment_second", "hls.", "hls.Profiles", "hls.media_root.x"])
def test_an_unknown_hls_key_raises_naming_it(roots, key):
    with pytest.raises(SettingsError, match=re.escape(key)):
        parse_settings({**roots, key: "1"})


def test_keys_outside_hls_are_ignored(roots):
    parsed = parse_settings({**roots, "pyramid.reload_templates": "maybe", "hlsx.foo": "1"})
    assert parsed.media_root == Path(roots["hls.media_root"]).resolve()


@pytest.mark.parametrize("missing", ["hls.media_root", "hls.work_dir"])
def test_a_missing_root_raises_naming_it(roots, missing):
    del roots[missing]
    with pytest.raises(SettingsError, match=re.escape(missing)):
        parse_settings(roots)


def test_the_work_dir_must_differ_from_the_media_root(roots):
    with pytest.raises(SettingsError, match="hls.work_dir"):
        parse_settings({**roots, "hls.work_dir": roots["hls.media_root"] + "/."})


# SPEC's "Settings": the defaults it names.
SPEC_DEFAULTS = {
    "segment_seconds": 4.0,
    "idle_timeout": 60.0,
    "resume_window": 21600.0,
    "segment_wait": 20.0,
    "kill_grace": 5.0,
    "restart_intensity": Intensity(3, 10.0),
    "faults_enabled": False,
    "admin_token": "",
    "scan_interval": 600.0,
    "auth": "none",
}


@pytest.mark.parametrize("name", sorted(SPEC_DEFAULTS))
def test_defaults_are_specs(roots, name):
    if name not in SETTING_NAMES:
        pytest.skip(f"hls.{name} is not a setting on this branch yet")
    assert getattr(parse_settings(roots), name) == SPEC_DEFAULTS[name]


def test_default_executables_are_found_on_path(roots):
    parsed = parse_settings(roots)
    assert parsed.ffmpeg == shutil.which("ffmpeg") and Path(parsed.ffmpeg).is_file()
    assert parsed.ffprobe == shutil.which("ffprobe") and Path(parsed.ffprobe).is_file()


def test_default_profiles_are_a_copy_and_transcodes(roots):
    profiles = parse_settings(roots).profiles
    assert profiles == DEFAULT_PROFILES
    assert profiles[0].is_copy and all(not p.is_copy and p.height for p in profiles[1:])


def test_default_instance_is_random_per_start(roots):
    first, second = parse_settings(roots).instance, parse_settings(roots).instance
    assert re.fullmatch(r"[0-9a-f]{8}", first) and re.fullmatch(r"[0-9a-f]{8}", second)
    assert first != second


def test_default_index_lives_in_the_work_dir(roots):
    if "index" not in SETTING_NAMES:
        pytest.skip("hls.index is not a setting on this branch yet")
    parsed = parse_settings(roots)
    assert parsed.index is None and parsed.index_path == parsed.work_dir / "index.sqlite3"


def test_settings_are_frozen(roots):
    parsed = parse_settings(roots)
    with pytest.raises(AttributeError):
        parsed.segment_seconds = 1.0  # type: ignore[misc]


def shipped_default(name: str) -> Any:
    """What ``hls.<name>`` is when an ini leaves it out; ``MISSING`` when it has no fixed
    default (the roots are required, the instance is random)."""
    if name in ("ffmpeg", "ffprobe"):
        return shutil.which(name)
    if name == "instance":
        return dataclasses.MISSING
    return next(f.default for f in fields(Settings) if f.name == name)


@pytest.mark.parametrize("ini", SHIPPED_INIS, ids=lambda p: str(p.relative_to(CONFIG)))
def test_a_shipped_ini_parses_and_sets_only_what_differs_from_the_defaults(ini: Path) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini)
    if parser.has_section("app:main"):  # cluster/base.ini is parsed as part of each node's
        parse_settings(get_appsettings(str(ini)))
    repeated = []
    for section in parser.sections():
        for key, raw in parser[section].items():
            if key.startswith("hls."):
                default = shipped_default(key.removeprefix("hls."))
                if default is not dataclasses.MISSING and CONVERTERS[key.removeprefix("hls.")](raw) == default:
                    repeated.append(key)
    assert repeated == [], f"{ini.name} repeats defaults (they live in actors/settings.py)"
