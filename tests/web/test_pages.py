"""The library page, the player page and the static files they load."""
from __future__ import annotations

from pathlib import Path

from webtest import TestApp

from actors.system import HlsSystem
from tests.helpers.server import wait_for_scan, web_app


def test_library_lists_titles(app: TestApp, system: HlsSystem) -> None:
    """The index lists one folder at a time: the root has clip.mp4 and the folder shows."""
    wait_for_scan(system)
    page = app.get("/")
    assert page.content_type == "text/html"
    links = [a["href"] for a in page.html.select("a.card-link")]
    assert links == ["/watch/clip.mp4"]
    assert [a.get_text(strip=True) for a in page.html.select("a.folder-link")] == ["shows"]
    inner = app.get(page.html.select_one("a.folder-link")["href"])
    assert [a["href"] for a in inner.html.select("a.card-link")] == ["/watch/shows/second%20clip.mkv"]
    titles = [h.get_text(strip=True) for h in (page.html.select(".card .title")
                                               + inner.html.select(".card .title"))]
    assert titles == ["clip", "second clip"]
    text = page.html.get_text(" ") + inner.html.get_text(" ")
    assert "0:12" in text and "0:06" in text and "640×360" in text and "h264 / aac" in text


def test_library_search_finds_files_in_every_folder(app: TestApp, system: HlsSystem) -> None:
    wait_for_scan(system)
    found = app.get("/", params={"q": "SECOND"})
    assert [a["href"] for a in found.html.select("a.card-link")] == ["/watch/shows/second%20clip.mkv"]
    assert found.html.select("a.folder-link") == []
    assert "Nothing matches" in app.get("/", params={"q": "no such title"}).text


def test_empty_library_says_so(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    with web_app(tmp_path / "media", tmp_path / "work") as test_app:
        assert "No media yet" in test_app.get("/").text


def test_watch_page_opens_no_session(app: TestApp, system: HlsSystem, nothing_spawned: None) -> None:
    page = app.get("/watch/shows/second%20clip.mkv")
    player = page.html.select_one("#player")
    assert player["data-media"] == "shows/second clip.mkv" and player["data-profile"] == "copy"
    scripts = [s["src"] for s in page.html.select("script[src]")]
    assert scripts == ["/static/vendor/hls.min.js", "/static/chapters.js",
                       "/static/thumbnails.js", "/static/player.js"]
    # Automatic quality first, then every rendition the plan offers.
    assert [o["value"] for o in page.html.select("#quality option")] == ["auto", "copy", "360p", "240p"]
    assert system.runtime.directory.ids() == []


def test_watch_unknown_media_is_an_html_404(app: TestApp, nothing_spawned: None) -> None:
    page = app.get("/watch/missing.mp4", status=404)
    assert page.content_type == "text/html" and "Not found" in page.text


def test_static_files(app: TestApp) -> None:
    for path, kind in (("/static/style.css", "text/css"), ("/static/player.js", "text/javascript"),
                       ("/static/vendor/hls.min.js", "text/javascript")):
        response = app.get(path)
        assert response.content_type in (kind, "application/javascript")
        assert response.headers["Cache-Control"] == "max-age=3600"
