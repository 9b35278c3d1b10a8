"""The web UI in a real headless Chromium (Debian ``chromium`` driven by Playwright; never a downloaded browser)
against ``kaddons serve`` on 127.0.0.1 (``tests/api/conftest.py``: a copy of the example repository, the cluster
through kmock's emulator, a documented stand-in).

Screenshots of the list and of a resource map are written to ``build/screenshots/`` (the copies the README
shows are ``docs/screenshots/``)."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaddons.addons.export import ExportOptions, export_addons
from kaddons.addons.publish import push_archive
from kaddons.oci.registry import RegistryOptions
from tests.api.conftest import Server, application, remote_log
from tests.helpers.installed import crashing_pod
from tests.helpers.registry import RunningRegistry

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@contextlib.contextmanager
def _browser_on(server: Server, token: str) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (scripts/system-deps.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            opened = browser.new_page(viewport={"width": 1280, "height": 800})
            opened.requested = []
            opened.on("request", lambda request: opened.requested.append(request.url))
            opened.goto(server.url + "/")
            opened.get_by_label("Token").fill(token)
            opened.get_by_role("button", name="Use token").click()
            opened.locator("#addons tbody tr").first.wait_for()
            yield opened
        finally:
            browser.close()


@pytest.fixture
def page(server: Server) -> Iterator[Any]:
    """A Chromium page on the server's UI, with the read token given once; every request it makes is recorded
    (``page.requested``)."""
    with _browser_on(server, server.read) as opened:
        yield opened


def test_the_list_shows_every_addon_and_follows_the_cluster_live(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    rows = page.locator("#addons tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator('tr[data-addon="headlamp"] .badge')).to_have_text("Synced")
    expect(page.locator('tr[data-addon="kyverno"] .badge')).to_have_text("Unknown")  # readable without colour
    expect(page.locator('tr[data-addon="kyverno"] .upgrade')).to_have_text(" → 3.9.0 available")  # from the source
    expect(page.locator('tr[data-addon="headlamp"] .upgrade')).to_have_count(0)  # on the newest already
    updated = page.locator('tr[data-addon="headlamp"] time')  # the commit that last changed it
    expect(updated).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", updated.get_attribute("datetime") or "")
    expect(page.locator("#live")).to_have_text("live")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "addons-list.png"))
    server.api.update("applications", application("addon-headlamp", {
        "sync": {"status": "OutOfSync"}, "health": {"status": "Healthy"}}))
    expect(page.locator('tr[data-addon="headlamp"]')).to_have_attribute("data-state", "OutOfSync", timeout=10_000)
    page.get_by_label("Filter").fill("policy")  # the kyverno stack
    expect(rows).to_have_count(1)
    page.get_by_role("button", name="State").click()
    assert page.get_by_role("button", name="State").get_attribute("aria-sort") == "ascending"
    assert all(url.startswith(server.url) for url in page.requested), "the UI loads nothing from elsewhere"


def test_the_map_of_a_degraded_addon_shows_the_failing_pod_first(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    server.api.update("pods", crashing_pod(server.release, 2))
    expect(page.locator('tr[data-addon="headlamp"]')).to_have_attribute("data-state", "Degraded", timeout=10_000)
    # keyboard only: to the add-on's link, open it, then to the Resource map tab
    link = page.get_by_role("link", name="headlamp")
    link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#details-title")).to_contain_text("Add-on headlamp")
    page.get_by_role("tab", name="Overview").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Resource map")).to_have_attribute("aria-selected", "true")
    deployment = page.locator("#map > ul > li").first
    expect(deployment).to_have_attribute("data-node", "Deployment/headlamp")
    expect(deployment).to_have_attribute("data-health", "Degraded")
    pods = deployment.locator("li li")
    expect(pods.first).to_have_attribute("data-node", "Pod/headlamp-7d9c5b8f6-p002")
    expect(pods.first).to_have_attribute("data-health", "Degraded")
    pods.first.get_by_role("button").first.click()
    expect(page.locator("#node")).to_contain_text("Back-off")
    page.screenshot(path=str(SCREENSHOTS / "resource-map.png"))
    page.get_by_role("tab", name="Values").click()
    expect(page.locator("#values")).to_contain_text('"clientSecret": "<encrypted>"')
    assert "ENC[AES256_GCM" not in page.content()


def test_an_upgrade_through_the_ui_is_a_diff_to_confirm_then_one_commit(server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    before = remote_log(server.remote, tmp_path)
    with _browser_on(server, server.write) as page:
        page.get_by_role("link", name="headlamp").click()
        expect(page.get_by_label("Chart version")).to_have_value("0.45.0")  # the current one, from the source
        expect(page.locator("#overview")).to_contain_text("profile default; automated sync on")
        expect(page.get_by_label("Settings profile")).to_have_value("default")
        page.get_by_label("Chart version").select_option("0.44.0")
        page.get_by_role("button", name="Preview upgrade").click()
        expect(page.get_by_label("Diff")).to_contain_text("+          chart_version: 0.44.0", timeout=60_000)
        assert remote_log(server.remote, tmp_path) == before  # a preview commits nothing
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#action-status")).to_contain_text("upgrade: pushed", timeout=60_000)
        expect(page.locator("#overview")).to_contain_text("headlamp 0.44.0")
    after = remote_log(server.remote, tmp_path)
    assert after[1:] == before
    assert after[0] == "kaddons: upgrade add-on headlamp from chart version 0.45.0 to 0.44.0"


def test_a_value_edited_in_the_ui_is_previewed_then_committed(server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    before = remote_log(server.remote, tmp_path)
    with _browser_on(server, server.write) as page:
        page.get_by_role("link", name="headlamp").click()
        page.get_by_role("tab", name="Values").click()
        page.get_by_label("Path").fill("replicaCount")
        page.get_by_label("Value", exact=True).fill("4")
        page.get_by_role("button", name="Preview change").click()
        expect(page.get_by_label("Diff")).to_contain_text("+replicaCount: 4", timeout=60_000)
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#action-status")).to_contain_text("values: pushed", timeout=60_000)
    after = remote_log(server.remote, tmp_path)
    assert after[1:] == before and after[0] == "kaddons: upgrade add-on headlamp: values replicaCount"


def test_install_settings_uninstall_and_restore_in_the_ui_are_each_a_diff_then_one_commit(server: Server,
                                                                                      tmp_path: Path) -> None:
    from playwright.sync_api import expect

    before = remote_log(server.remote, tmp_path)
    with _browser_on(server, server.write) as page:
        page.get_by_text("Install an add-on").click()
        for label, value in (("Chart", "podinfo"), ("Version", "6.14.1"), ("Source", "headlamp"), ("Stack", "apps"),
                             ("Name", "dashboard"), ("Values (YAML)", "replicaCount: 2\n")):
            page.locator("#install-form").get_by_label(label, exact=True).fill(value)
        page.get_by_role("button", name="Preview install").click()
        expect(page.get_by_label("Diff")).to_contain_text("+replicaCount: 2", timeout=60_000)
        assert remote_log(server.remote, tmp_path) == before  # a preview commits nothing
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#install-status")).to_contain_text("install: pushed", timeout=60_000)
        expect(page.locator('tr[data-addon="dashboard"]')).to_have_count(1)

        page.get_by_role("link", name="dashboard").click()
        page.get_by_label("Settings profile").select_option("stateful")
        page.get_by_role("button", name="Preview settings").click()
        expect(page.get_by_label("Diff")).to_contain_text("auto_prune: false", timeout=60_000)
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#action-status")).to_contain_text("settings: pushed", timeout=60_000)

        page.get_by_role("button", name="Preview uninstall").click()
        expect(page.get_by_label("Diff")).to_contain_text("uninstalled:", timeout=60_000)  # the definition kept
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#list")).to_be_visible(timeout=60_000)
        expect(page.locator('tr[data-addon="dashboard"]')).to_have_count(0)

        page.get_by_role("button", name="Preview restore of dashboard").click()  # the kept definition, listed
        expect(page.get_by_label("Diff")).to_contain_text("-  kaddons:", timeout=60_000)
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#kept-status")).to_contain_text("restore: pushed", timeout=60_000)
        expect(page.locator('tr[data-addon="dashboard"]')).to_have_count(1)
        expect(page.locator("#kept")).to_be_hidden()
    after = remote_log(server.remote, tmp_path)
    assert after[4:] == before
    assert after[:4] == ["kaddons: restore add-on dashboard in stack apps",
                         "kaddons: uninstall add-on dashboard (definition kept: kaddons cluster addons restore "
                         "dashboard)", "kaddons: update add-on dashboard: settings profile stateful",
                         "kaddons: install add-on dashboard (chart podinfo 6.14.1) in stack apps"]


def test_a_catalog_addon_enabled_in_the_ui_shows_in_its_stack_and_is_disabled_there(
        server: Server, tmp_path: Path, testdata: Path, registry: RunningRegistry) -> None:
    """The K2s addon metrics, published to the real registry, enabled through the list page's form (a diff to
    confirm, then one commit), found in the stack view, opened (its artifact pinned by digest; no chart
    actions), and disabled from there."""
    from playwright.sync_api import expect

    source = tmp_path / "addons"
    shutil.copytree(testdata / "metrics", source / "metrics")
    (tmp_path / "out").mkdir()
    archive = export_addons(source, ["metrics"], tmp_path / "out", ExportOptions(omit_images=True,
                                                                                 omit_packages=True)).path
    prefix = f"ui-{tmp_path.name[-8:]}"
    push_archive(archive, f"{registry.host}/{prefix}", RegistryOptions(insecure=True))
    before = remote_log(server.remote, tmp_path)
    with _browser_on(server, server.write) as page:
        page.get_by_text("Enable a catalog addon").click()
        for label, value in (("Addon", "metrics"), ("Registry", f"oci://{registry.host}/{prefix}"),
                             ("Stack", "apps")):
            page.locator("#enable-form").get_by_label(label, exact=True).fill(value)
        page.get_by_label("Plain HTTP registry").check()
        page.get_by_role("button", name="Preview enable").click()
        expect(page.get_by_label("Diff")).to_contain_text("addon: metrics", timeout=60_000)
        assert remote_log(server.remote, tmp_path) == before  # a preview commits nothing
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#details-title")).to_contain_text("Catalog addon metrics", timeout=60_000)
        expect(page.locator("#overview")).to_contain_text(f"oci://{registry.host}/{prefix}/addons/metrics:v1.0.0")
        expect(page.locator("#overview")).to_contain_text("sha256:")
        expect(page.locator("#upgrade-form")).to_be_hidden()
        expect(page.locator("#uninstall-form")).to_be_hidden()

        page.get_by_role("link", name="Add-ons", exact=True).click()  # the list, as the CLI's, has it too
        expect(page.locator('tr[data-addon="metrics"]')).to_contain_text("addons/metrics (catalog addon)",
                                                                        timeout=30_000)
        page.get_by_role("link", name="Stacks").click()
        expect(page.locator('tr[data-member="catalog:metrics"]')).to_contain_text("catalog", timeout=30_000)
        page.locator('tr[data-member="catalog:metrics"]').get_by_role("link", name="metrics").click()
        page.get_by_role("button", name="Preview disable").click()
        expect(page.get_by_label("Diff")).to_contain_text("-    addon: metrics", timeout=60_000)
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#list")).to_be_visible(timeout=60_000)
        expect(page.locator('tr[data-addon="metrics"]')).to_have_count(0)
        page.wait_for_timeout(2500)  # longer than the page waits before it opens the stream again
        # the stream carried both operations' events too: the page read them and kept its one stream open
        assert len([url for url in page.requested if url.endswith("/stream")]) == 1
        expect(page.locator("#live")).to_have_text("live")
    after = remote_log(server.remote, tmp_path)
    assert after[2:] == before
    assert after[0] == "kaddons: disable catalog addon metrics"
    assert after[1].startswith("kaddons: enable catalog addon metrics (")


def test_a_read_token_sees_why_it_cannot_upgrade(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="headlamp").click()
    page.get_by_label("Chart version").select_option("0.44.0")
    page.get_by_role("button", name="Preview upgrade").click()
    expect(page.locator("#action-status")).to_contain_text("this token may only read")


def test_the_stack_view_shows_waves_members_and_what_each_waits_for(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Stacks").click()
    stacks = page.locator("article[data-stack]")
    expect(stacks).to_have_count(2)
    expect(stacks.first.get_by_role("heading")).to_have_text("platform (wave 1)")
    kyverno = page.locator('tr[data-member="addon:kyverno"]')
    expect(kyverno).to_contain_text("manifest:ns-kyverno")
    expect(kyverno.locator(".badge")).to_have_text("Unknown")
    expect(page.locator('tr[data-member="addon:headlamp"] .badge')).to_have_text("Synced")


def test_the_api_reference_is_served_offline_from_the_openapi_document(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="API").click()
    upgrade = page.locator('article[data-operation="POST /api/v1/clusters/{cluster}/addons/{name}/upgrade"]')
    expect(upgrade).to_contain_text("Queue an upgrade")
    expect(upgrade).to_contain_text("Body: UpgradeRequest")
    chart = page.locator('article[data-operation="GET /api/v1/clusters/{cluster}/addons/{name}/chart"]')
    expect(chart).to_contain_text("default_values")
    expect(page.locator("article.operation")).to_have_count(26)  # every route of the OpenAPI document


def test_a_refused_token_asks_again(server: Server) -> None:
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (scripts/system-deps.sh installs it)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            opened = browser.new_page()
            opened.goto(server.url + "/")
            opened.get_by_label("Token").fill("kd_wrong")
            opened.get_by_label("Token").press("Enter")
            expect(opened.locator("#login-error")).to_contain_text("refused")
            expect(opened.locator("#list")).to_be_hidden()
        finally:
            browser.close()


def test_screenshots_in_the_readme_exist() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    readme = (docs.parents[1] / "README.md").read_text()
    for name in ("addons-list.png", "resource-map.png"):
        assert f"docs/screenshots/{name}" in readme
        assert (docs / name).stat().st_size > 10_000  # copied from build/screenshots/ when the UI changes
