"""hls.auth = accounts through the real app (web.main, real FFmpeg, the real users file):
sign-in, CSRF, each user's library, sessions and positions, strangers, hostile input."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator

import pytest
from webtest import TestApp

from actors import accounts
from actors.system import HlsSystem
from tests.helpers.server import LOOPBACK, ffmpeg_children, spawned, web_app

PASSWORD = "a long enough password"
ADMIN_TOKEN = "operator-token-for-tests"
OUTSIDER = {"REMOTE_ADDR": "198.51.100.23"}


@pytest.fixture(scope="module")
def app(media_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestApp]:
    with web_app(media_root, tmp_path_factory.mktemp("work"), auth="accounts",
                 admin_token=ADMIN_TOKEN) as test_app:
        store = test_app.app.registry.hls.accounts
        store.add("ann", PASSWORD, folders=["shows"])
        store.add("bob", PASSWORD, max_sessions=1)
        store.add("root", PASSWORD, role="admin")
        yield test_app


@pytest.fixture
def system(app: TestApp) -> HlsSystem:
    return app.app.registry.hls


@pytest.fixture(autouse=True)
def no_throttle(system: HlsSystem) -> Iterator[None]:
    """Each test starts with no failed sign-ins on record, and leaves no session."""
    system.accounts._run(lambda c: c.execute("DELETE FROM failures"))
    yield
    for session_id in system.runtime.directory.ids():
        system.stop_session(session_id, "test over")


def browser(app: TestApp, environ: dict[str, str] | None = None) -> TestApp:
    """Another client of the same app, with a cookie jar of its own."""
    return TestApp(app.app, extra_environ=environ or LOOPBACK)


def signed_in(app: TestApp, name: str) -> tuple[TestApp, str]:
    """A client signed in as ``name`` and its CSRF token."""
    client = browser(app)
    answer = client.post_json("/api/v1/login", {"name": name, "password": PASSWORD})
    return client, answer.json["csrf"]


# --- strangers ----------------------------------------------------------------------------

# One sample path per route of web/routes.py; a new route fails the test until it is here.
SAMPLE_TOKEN = "A" * 40
SAMPLES = {
    "home": "/", "watch": "/watch/clip.mp4", "poster": "/posters/clip.mp4",
    "media_list": "/media", "media_master": "/media/clip.mp4/master.m3u8",
    "hls_master": f"/hls/{SAMPLE_TOKEN}/master.m3u8",
    "hls_playlist": f"/hls/{SAMPLE_TOKEN}/copy/index.m3u8",
    "hls_segment": f"/hls/{SAMPLE_TOKEN}/copy/0.ts",
    "hls_fmp4_segment": f"/hls/{SAMPLE_TOKEN}/copy/0.m4s",
    "hls_init": f"/hls/{SAMPLE_TOKEN}/copy/init.mp4",
    "hls_trickplay_images": f"/hls/{SAMPLE_TOKEN}/trickplay/images.m3u8",
    "hls_trickplay_vtt": f"/hls/{SAMPLE_TOKEN}/trickplay/thumbnails.vtt",
    "hls_trickplay_sheet": f"/hls/{SAMPLE_TOKEN}/trickplay/0.jpg",
    "hls_trickplay_iframes": f"/hls/{SAMPLE_TOKEN}/trickplay/iframes.m3u8",
    "hls_trickplay_mp4": f"/hls/{SAMPLE_TOKEN}/trickplay/iframes.mp4",
    "hls_audio_playlist": f"/hls/{SAMPLE_TOKEN}/audio/1/index.m3u8",
    "hls_audio_segment": f"/hls/{SAMPLE_TOKEN}/audio/1/0.ts",
    "hls_subs_playlist": f"/hls/{SAMPLE_TOKEN}/subs/2/index.m3u8",
    "hls_subs_segment": f"/hls/{SAMPLE_TOKEN}/subs/2/0.vtt",
    "sessions": "/api/v1/sessions", "session": f"/api/v1/sessions/{SAMPLE_TOKEN}",
    "session_heartbeat": f"/api/v1/sessions/{SAMPLE_TOKEN}/heartbeat",
    "session_stop": f"/api/v1/sessions/{SAMPLE_TOKEN}/stop",
    "tree": "/api/v1/tree", "faults": "/api/v1/faults", "scan": "/api/v1/scan",
    "metrics": "/metrics", "healthz": "/healthz",
    "login": "/login", "logout": "/logout", "api_login": "/api/v1/login",
}
OPEN = {"healthz", "login", "logout", "api_login"}


def test_every_route_has_a_sample(app):
    routes = {route.name for route in app.app.routes_mapper.get_routes()}
    assert routes - {"__static/"} == set(SAMPLES)


@pytest.mark.parametrize("route", sorted(set(SAMPLES) - OPEN))
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_a_stranger_gets_nothing(app, system, route, method):
    """From loopback or outside, with the session secret's shape of token or none: a
    redirect to the login (pages), 401 (the rest), 404 (a token that is no session),
    405 (no such method); never an answer, never a spawn."""
    for environ in (LOOPBACK, OUTSIDER):
        response = browser(app, environ).request(SAMPLES[route], method=method, expect_errors=True,
                                                 body=b"{}", content_type="application/json")
        if response.status_int == 303:
            assert route in ("home", "watch", "poster") and method == "GET"
            assert response.location.endswith("/login?next=" + SAMPLES[route].replace("/", "%2F"))
        else:
            assert response.status_int in (401, 404, 405), (route, method, response.status)
            assert response.json["error"] in ("unauthorized", "not_found", "method_not_allowed")
        assert "Traceback" not in response.text
    assert system.runtime.directory.ids() == [] and not spawned(system.settings.work_dir)


def test_open_routes_say_nothing_private(app):
    assert browser(app, OUTSIDER).get("/healthz").json["status"] == "ok"
    assert "Sign in" in browser(app, OUTSIDER).get("/login").text
    assert browser(app, OUTSIDER).get("/static/style.css").status_int == 200


# --- signing in ---------------------------------------------------------------------------

def test_sign_in_gives_a_signed_httponly_lax_cookie_and_a_csrf_token(app):
    client = browser(app)
    answer = client.post_json("/api/v1/login", {"name": "ann", "password": PASSWORD})
    assert answer.json["name"] == "ann" and answer.json["role"] == "viewer" and answer.json["csrf"]
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/media").status_int == 200
    assert answer.headers.get("Cache-Control") == "no-store"


def test_a_wrong_password_is_401_and_the_form_says_so(app, caplog):
    caplog.set_level(logging.INFO, logger="web")
    client = browser(app, OUTSIDER)
    client.post_json("/api/v1/login", {"name": "ann", "password": "not the password"}, status=401)
    page = client.post("/login", {"name": "ann", "password": "not the password 2"}, status=401)
    assert "Wrong name or password." in page.text
    assert "198.51.100.23" in caplog.text and "ann" in caplog.text
    assert "not the password" not in caplog.text


def test_the_sixth_failure_is_429_with_retry_after_then_even_the_right_password(app):
    client = browser(app, OUTSIDER)
    for _ in range(accounts.MAX_FAILURES):
        client.post_json("/api/v1/login", {"name": "bob", "password": "wrong wrong"}, status=401)
    refused = client.post_json("/api/v1/login", {"name": "bob", "password": PASSWORD}, status=429)
    assert 0 < int(refused.headers["Retry-After"]) <= accounts.FAILURE_WINDOW
    page = client.post("/login", {"name": "bob", "password": PASSWORD}, status=429)
    assert "Too many failed attempts" in page.text
    browser(app).post_json("/api/v1/login", {"name": "root", "password": PASSWORD})  # others may


def test_next_goes_only_to_a_path_of_this_site(app):
    for target, lands in (("/watch/shows/second%20clip.mkv", "/watch/shows/second%20clip.mkv"),
                          ("//evil.example/x", "/"), ("https://evil.example/", "/"),
                          ("/\\evil.example", "/"), ("javascript:alert(1)", "/")):
        client = browser(app)
        form = client.get("/login", {"next": target})
        assert f'name="next" value="{lands}"'.replace("%20", "%20") in form.text.replace("&#34;", '"')
        answer = client.post("/login", {"name": "ann", "password": PASSWORD, "next": target}, status=303)
        assert answer.location in (f"http://localhost{lands}", lands)


def test_sign_out_ends_the_cookie_even_replayed(app):
    client, csrf = signed_in(app, "ann")
    cookie = client.cookies["hlsd"]
    client.post("/logout", {"csrf_token": csrf}, status=303)
    client.get("/media", status=401)
    replay = browser(app)
    replay.set_cookie("hlsd", cookie)
    replay.get("/media", status=401)


def test_a_forged_cookie_or_one_of_another_secret_is_no_sign_in(app, system):
    from pyramid.session import JSONSerializer
    from webob.cookies import SignedSerializer
    client, _ = signed_in(app, "ann")
    good = client.cookies["hlsd"]
    forged = browser(app)
    forged.set_cookie("hlsd", good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"))
    forged.get("/media", status=401)
    # A cookie carrying a real open sign-in, as Pyramid would sign it, with another secret.
    sid = system.accounts.open_login(system.accounts.user("ann"))
    other = SignedSerializer("another secret entirely", "hlsd.session.", "sha512",
                             serializer=JSONSerializer())
    now = time.time()
    value = other.dumps((now, now, {"auth.userid": ["ann", sid]})).decode()
    foreign = browser(app)
    foreign.set_cookie("hlsd", value)
    foreign.get("/media", status=401)


@pytest.mark.parametrize("body, status", [
    (b'{"name": "ann", "password": "' + b"x" * (1 << 20) + b'"}', 413),
    (b'{"name": "ann", "password": "' + b"x" * 10_000 + b'"}', 400),
    (b'{"name": "a\\u0000n", "password": "a long enough password"}', 400),
    (b'{"name": "../../etc/passwd", "password": "a long enough password"}', 400),
    (b'{"name": ["ann"], "password": 1}', 400),
    (b"not json", 400),
])
def test_hostile_sign_ins_are_a_clear_4xx_and_spawn_nothing(app, system, body, status, caplog):
    answer = browser(app, OUTSIDER).post("/api/v1/login", body, content_type="application/json",
                                         status=status)
    assert answer.json["error"] and "Traceback" not in answer.text
    assert "xxxxxxxx" not in caplog.text
    assert system.runtime.directory.ids() == [] and ffmpeg_children() == []


# --- each user's library, sessions and positions ------------------------------------------

def test_a_viewer_sees_only_their_folders_everywhere(app):
    ann, csrf = signed_in(app, "ann")
    assert [entry["id"] for entry in ann.get("/media").json] == ["shows/second clip.mkv"]
    page = ann.get("/")
    assert "clip.mp4" not in page.text.replace("second clip", "") and "shows" in page.text
    for path in ("/watch/clip.mp4", "/posters/clip.mp4", "/media/clip.mp4/master.m3u8"):
        assert ann.get(path, status=404).status_int == 404
    ann.post_json("/api/v1/sessions", {"media": "clip.mp4"}, headers={"X-CSRF-Token": csrf}, status=404)
    ann.get("/watch/shows/second%20clip.mkv", status=200)


def test_a_cookie_request_that_changes_state_needs_the_csrf_token(app):
    ann, csrf = signed_in(app, "ann")
    refused = ann.post_json("/api/v1/sessions", {"media": "shows/second clip.mkv"}, status=403)
    assert refused.json["error"] == "csrf"
    opened = ann.post_json("/api/v1/sessions", {"media": "shows/second clip.mkv"},
                           headers={"X-CSRF-Token": csrf}, status=201).json
    ann.post(f"/api/v1/sessions/{opened['id']}/stop", status=403)
    ann.post(f"/api/v1/sessions/{opened['id']}/stop", {"csrf_token": csrf}, status=204)


def test_sessions_and_positions_are_each_users_own(app, system):
    ann, ann_csrf = signed_in(app, "ann")
    bob, bob_csrf = signed_in(app, "bob")
    media = "shows/second clip.mkv"
    mine = ann.post_json("/api/v1/sessions", {"media": media}, headers={"X-CSRF-Token": ann_csrf}).json
    ann.post_json(f"/api/v1/sessions/{mine['id']}/heartbeat", {"position": 5.5},
                  headers={"X-CSRF-Token": ann_csrf}, status=204)
    assert [s["id"] for s in ann.get("/api/v1/sessions").json] == [mine["id"]]
    assert bob.get("/api/v1/sessions").json == []
    bob.get(f"/api/v1/sessions/{mine['id']}", status=404)
    bob.delete(f"/api/v1/sessions/{mine['id']}", headers={"X-CSRF-Token": bob_csrf}, status=404)
    assert system.runtime.directory.lookup(mine["id"]) is not None
    assert "Continue from 0:06" in ann.get("/watch/shows/second%20clip.mkv").text
    assert "Continue from" not in bob.get("/watch/shows/second%20clip.mkv").text
    root, _ = signed_in(app, "root")
    assert [s["id"] for s in root.get("/api/v1/sessions").json] == [mine["id"]]


def test_more_than_max_sessions_is_429_with_a_message(app):
    bob, csrf = signed_in(app, "bob")
    bob.post_json("/api/v1/sessions", {"media": "clip.mp4"}, headers={"X-CSRF-Token": csrf}, status=201)
    refused = bob.post_json("/api/v1/sessions", {"media": "clip.mp4"}, headers={"X-CSRF-Token": csrf},
                            status=429)
    assert "stop one to start another" in refused.json["detail"] and refused.headers["Retry-After"]


def test_a_token_plays_without_a_cookie_and_stops_with_its_removed_user(app, system):
    store = system.accounts
    store.add("dora", PASSWORD)
    dora, csrf = signed_in(app, "dora")
    opened = dora.post_json("/api/v1/sessions", {"media": "clip.mp4"}, headers={"X-CSRF-Token": csrf}).json
    player = browser(app, OUTSIDER)  # no cookie: a TV handed the URL
    assert player.get(opened["master"]).status_int == 200
    assert player.get(f"/hls/{opened['id']}/copy/0.ts").status_int == 200
    assert system.runtime.directory.lookup(opened["id"]) is not None
    store.remove("dora")
    time.sleep(accounts.CACHE_SECONDS)  # the longest a running hlsd may take to notice
    player.get(opened["master"], status=404)
    dora.get("/media", status=401)
    deadline = time.monotonic() + 10
    while system.runtime.directory.lookup(opened["id"]) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert system.runtime.directory.lookup(opened["id"]) is None
    assert not spawned(system.settings.work_dir).ffmpeg


def test_operator_routes_take_an_admin_user_or_the_admin_token(app):
    ann, _ = signed_in(app, "ann")
    ann.get("/api/v1/tree", status=403)
    root, _ = signed_in(app, "root")
    assert root.get("/api/v1/tree").json
    token = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert browser(app, OUTSIDER).get("/api/v1/tree", headers=token).json
    browser(app).get("/api/v1/tree", status=401)  # loopback is no key with accounts


def test_an_api_key_works_without_a_cookie_or_csrf(app, system):
    key = system.accounts.new_key("bob")
    script = browser(app, OUTSIDER)
    headers = {"Authorization": f"Bearer {key}"}
    assert [e["id"] for e in script.get("/media", headers=headers).json]
    opened = script.post_json("/api/v1/sessions", {"media": "clip.mp4"}, headers=headers, status=201).json
    script.delete(f"/api/v1/sessions/{opened['id']}", headers=headers, status=204)
    script.get("/media", headers={"Authorization": "Bearer hlsd_not-a-key"}, status=401)


def test_pages_redirect_to_the_login_and_keep_nothing_in_caches(app):
    stranger = browser(app)
    assert stranger.get("/watch/clip.mp4", status=303).location.endswith("/login?next=%2Fwatch%2Fclip.mp4")
    ann, _ = signed_in(app, "ann")
    page = ann.get("/")
    assert page.headers["Cache-Control"] == "no-store" and "Sign out" in page.text and "ann" in page.text
