"""The dashboard in Debian's Chromium (Playwright) against a real server while clients tune live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from service.service_helpers import NUMERICAL, ServerProcess

from oppertune import charts
from oppertune.bench.dashboard import JOB_TYPES, sign_in, wait_until
from oppertune.service.client import RemoteTuner
from oppertune.service.storage import Storage

from .conftest import Site, shoot

KEY_IN_STORAGE = "sessionStorage.getItem('oppertune.apiKey')"


def open_tuner(page: Any, site: Site, tuner_id: str) -> Any:
    """Sign in, go to the tuner's page through the app (no reload) and wait for its first render."""
    sign_in(page, site.url, site.key)
    page.evaluate(f"location.hash = '#/tuners/{tuner_id}'")
    page.wait_for_selector(f"#tuner[data-id='{tuner_id}'][data-renders]")
    return page.locator("#tuner")


def test_without_a_key_the_api_refuses_and_the_page_asks_for_one(page: Any, site: Site) -> None:
    for method, path in (("GET", "/v1/dashboard/tuners"), ("GET", f"/v1/dashboard/tuners/{site.ids['live']}"),
                         ("POST", f"/v1/tuners/{site.ids['live']}/freeze")):  # fmt: skip
        assert httpx.request(method, site.url + path).status_code == 401
    sent: list[tuple[str, str | None]] = []
    page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
    page.goto(site.url + "/")
    page.wait_for_selector("#login-form", state="visible")
    assert page.locator("#main").inner_text() == ""
    page.fill("#login-key", "otk_not-a-key")
    page.click("#login-form button[type=submit]")
    wait_until(page, "document.querySelector('#login-error').textContent.includes('refused')")
    assert page.evaluate(KEY_IN_STORAGE) is None
    shoot(page, "login.png", full_page=False)
    page.fill("#login-key", site.key)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#tuners[data-renders]")
    assert page.evaluate(KEY_IN_STORAGE) == site.key and page.locator("#login").is_hidden()
    api_calls = [(url, auth) for url, auth in sent if "/v1/" in url]
    assert api_calls and api_calls[-1][1] == f"Bearer {site.key}"
    assert all(site.key not in url for url, _ in sent) and site.key not in page.url
    page.click("#logout")  # forgets the key: the next call is refused and the form shows again
    page.wait_for_selector("#login-form", state="visible")
    assert page.evaluate(KEY_IN_STORAGE) is None
    assert site.key not in site.log.read_text(errors="replace")


def test_the_list_shows_every_tuner_sorts_filters_and_updates_live(page: Any, site: Site) -> None:
    sign_in(page, site.url, site.key)
    grid = page.locator("#tuners")
    assert grid.get_attribute("data-total") == str(len(site.names))
    assert page.locator("#tuners tbody tr").count() == len(site.names)
    page.evaluate("window.stayed = true")  # survives only if the page is never reloaded
    rounds = page.locator(f"#tuners tr[data-id='{site.ids['live']}'] td:nth-child(3)")
    before = int(rounds.inner_text().replace(",", ""))
    wait_until(
        page,
        f"Number(document.querySelector(\"#tuners tr[data-id='{site.ids['live']}'] td:nth-child(3)\")"
        f".textContent.replace(/,/g, '')) > {before}",
    )
    page.click("#tuners th[data-key=name] button")
    page.wait_for_selector("#tuners th[data-key=name][aria-sort=ascending]")
    wait_until(page, "document.querySelector('#tuners tbody tr a').textContent === 'jobs-autoscope'")
    assert page.locator("#tuners tbody tr a").all_inner_texts() == sorted(site.names)
    page.click("#tuners th[data-key=name] button")
    page.wait_for_selector("#tuners th[data-key=name][aria-sort=descending]")
    wait_until(page, "document.querySelector('#tuners tbody tr a').textContent === 'svc-7'")
    assert page.locator("#tuners tbody tr a").all_inner_texts() == sorted(site.names, reverse=True)
    shoot(page, "tuners.png")
    page.fill("#filter-name", "SVC-")
    page.wait_for_selector("#tuners[data-total='8']")
    page.select_option("#filter-status", "frozen")
    page.wait_for_selector("#tuners[data-total='1']")
    assert page.locator("#tuners tbody tr a").all_inner_texts() == ["svc-3"]
    assert "frozen" in page.locator("#tuners tbody tr").inner_text()
    assert page.evaluate("window.stayed") is True


def test_a_long_history_is_drawn_from_a_bounded_number_of_points(page: Any, site: Site) -> None:
    tuner = open_tuner(page, site, site.ids["long"])
    requested = int(tuner.get_attribute("data-requested"))
    reward = page.locator("#chart-reward")
    assert reward.get_attribute("data-rounds") == "3000" and 200 <= requested < 3000
    assert reward.get_attribute("data-points") == str(requested)  # downsampled on the server
    assert page.locator("#chart-reward canvas").count() == 1
    for name in ("workers", "cache_mb", "policy"):
        assert page.locator(f"[data-parameter={name}]").get_attribute("data-points") == str(requested)
    assert page.locator("#chart-served-by").get_attribute("data-points") == str(requested)
    answer = httpx.get(f"{site.url}/v1/dashboard/tuners/{site.ids['long']}", params={"points": requested},
                       headers={"Authorization": f"Bearer {site.key}"}).json()  # fmt: skip
    assert len(answer["charts"]["x"]) == requested and answer["charts"]["downsampled"]
    assert int(reward.get_attribute("data-events")) == len(answer["charts"]["events"]) > 0
    assert "in " + f"{requested:,}" + " buckets" in page.locator("#chart-note").inner_text()
    assert page.evaluate("window.oppertuneDashboard.timings.tuner.points") == requested


def test_every_kind_of_rail_event_is_listed_in_a_colour_of_its_own(page: Any, site: Site) -> None:
    open_tuner(page, site, site.ids["long"])  # 3000 rounds: it fell over once, drifted, and was pulled back often
    page.wait_for_selector("#events .badge")
    badges = page.eval_on_selector_all(
        "#events .badge", "els => els.map(e => [e.textContent, getComputedStyle(e).backgroundColor])"
    )
    colours = dict(badges)
    assert {"collapse", "avoided", "drift", "regression"} <= set(colours)
    assert "rgba(0, 0, 0, 0)" not in colours.values()  # white text on no background could not be read
    assert len(set(colours.values())) == len(colours)
    rgb = {kind: "rgb({}, {}, {})".format(*bytes.fromhex(hex_[1:])) for kind, hex_ in charts.EVENT_COLOURS.items()}
    assert colours == {kind: rgb[kind] for kind in colours}  # the server's events.css, one list for badges and plots
    marker = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--k-collapse').trim()")
    assert marker == charts.EVENT_COLOURS["collapse"]


def test_live_updates_arrive_without_a_reload(page: Any, site: Site) -> None:
    tuner = open_tuner(page, site, site.ids["live"])
    page.evaluate("window.stayed = true")
    first = int(tuner.get_attribute("data-iteration"))
    renders = int(tuner.get_attribute("data-renders"))
    wait_until(page, f"Number(document.querySelector('#tuner').dataset.iteration) >= {first + 5}")
    assert int(tuner.get_attribute("data-renders")) > renders
    iteration = int(tuner.get_attribute("data-iteration"))
    points = int(page.locator("#chart-reward").get_attribute("data-points"))
    assert points == min(iteration, int(tuner.get_attribute("data-requested")))  # a point per round until full
    newest = int(page.locator("#recent tbody tr td").first.inner_text().replace(",", ""))
    assert newest == iteration and page.evaluate("window.stayed") is True
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    shoot(page, "tuner-live.png")


def test_freeze_resume_and_rollback_work_through_the_page(page: Any, site: Site) -> None:
    live = site.ids["live"]
    open_tuner(page, site, live)
    status = page.locator("#status")

    def server_status() -> str:
        return httpx.get(f"{site.url}/v1/tuners/{live}", headers={"Authorization": f"Bearer {site.key}"}).json()[
            "status"
        ]

    page.once("dialog", lambda dialog: dialog.dismiss())  # a cancelled confirmation does nothing
    page.click("#action-freeze")
    page.wait_for_timeout(300)
    assert server_status() != "frozen"
    for action, expected in (("freeze", "frozen"), ("resume", "exploring"), ("rollback", "rolled_back")):
        page.wait_for_selector(f"#action-{action}:not([disabled])")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click(f"#action-{action}")
        page.wait_for_selector(f"#status[data-status={expected}]")
        assert server_status() == expected
        assert action in page.locator("#action-message").inner_text()
        if action == "freeze":
            shoot(page, "tuner-frozen.png")
    wait_until(page, "document.querySelector('#events').textContent.includes('rolled back by the operator')")
    events = page.locator("#events").inner_text()
    assert "frozen by the operator" in events and "resumed by the operator" in events
    assert status.get_attribute("data-status") == "rolled_back"
    shoot(page, "tuner-rails.png")


def test_autoscope_routing_shows_each_context_under_its_leaf(page: Any, site: Site) -> None:
    open_tuner(page, site, site.ids["scoped"])
    page.wait_for_selector("#routing:not([hidden])")
    assert page.locator("#routing .leaf").count() == 4
    routed = page.locator("#routing .chip.routed").all_inner_texts()
    for job in JOB_TYPES:
        assert sum(text.startswith(f'jobtype="{job}"') for text in routed) == 1, routed
    shoot(page, "autoscope.png")
    everything = int(page.locator("#chart-reward").get_attribute("data-rounds"))
    option = page.locator("#context option").nth(1)
    page.select_option("#context", option.get_attribute("value"))
    wait_until(page, f"Number(document.querySelector('#chart-reward').dataset.rounds) < {everything}")
    assert "jobtype" in option.inner_text()


def test_in_open_mode_no_key_is_needed(page: Any, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'open.db'}"
    Storage(db).migrate()
    server = ServerProcess(db, log=tmp_path / "server.log").start()
    try:
        tuner = RemoteTuner.create(server.url, None, "open-tuner", NUMERICAL, algorithm="bluefin")
        _, request_id = tuner.predict()
        tuner.store_reward(request_id, 0.5)
        tuner.set_reward()
        page.goto(server.url + "/")
        page.wait_for_selector("#tuners[data-renders]")
        assert page.locator("#login").is_hidden() and page.locator("#logout").is_hidden()
        page.click("#tuners tbody tr a")
        page.wait_for_selector("#tuner[data-renders]")
        assert page.locator("#chart-reward").get_attribute("data-points") == "1"
        assert page.locator("#action-freeze").is_disabled()  # no safety rails
        tuner.close()
    finally:
        server.stop()
