"""The Dagster UI, in a real browser, on a home the real pipeline built.

One module fixture runs ``corpusmill run`` on the sample factory (in a subprocess, so DAGSTER_HOME
and friends stay out of this process), serves the home with ``dagster-webserver`` on
``workspace.yaml``, and drives Debian's headless chromium with selenium. The tests read what a
user sees: the asset catalog, an asset's checks, the runs, and the checks over GraphQL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ui")]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SERVER_TIMEOUT = 90  # seconds for the webserver to answer and load the code location
PAGE_TIMEOUT = 60  # seconds for a page to show what we wait for
CANONICAL = ["sensor_readings", "text_corpus", "shard_plan", "equipment", "staged_sensor_readings"]
#: Variables that would steer a child process to another home or sources file.
_STEERING = ("DAGSTER_HOME", "CORPUSMILL_HOME", "CORPUSMILL_SOURCES")


@dataclass
class UI:
    url: str
    home: Path
    shots: Path
    driver: object  # selenium WebDriver
    server_log: Path

    def gql(self, query: str, variables: dict | None = None) -> dict:
        return _gql(self.url, query, variables)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STEERING}
    env.update(GX_ANALYTICS_ENABLED="false", DAGSTER_DISABLE_TELEMETRY="true", **extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gql(url: str, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"{url}/graphql", data=body,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out = json.load(r)
    assert not out.get("errors"), f"GraphQL errors: {out['errors']}"
    return out["data"]


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return "(no log)"


def _ensure_chromium() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    subprocess.run(["bash", str(REPO / "scripts" / "test-deps.sh")], check=False, timeout=600)
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("chromium/chromium-driver are missing and could not be installed "
                    "(run scripts/test-deps.sh as root)")  # fmt: skip


_LOCATION_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message
    errorChain { error { message } } } } } } } }
"""


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path) -> None:
    """Until the webserver answers and the corpusmill code location is loaded (bounded)."""
    deadline = time.monotonic() + SERVER_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as r:
                r.read()
            entries = _gql(url, _LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, OSError, AssertionError) as e:
            last = repr(e)
            time.sleep(0.5)
            continue
        entry = next((e for e in entries if e["name"] == "corpusmill"), None)
        if entry and entry["loadStatus"] == "LOADED":
            loaded = entry["locationOrLoadError"] or {}
            if loaded.get("__typename") == "PythonError":
                chain = [c["error"]["message"] for c in loaded.get("errorChain") or []]
                pytest.fail("the corpusmill code location failed to load in the webserver:\n"
                            + "\n".join([loaded["message"], *chain]))  # fmt: skip
            return
        last = f"code location not loaded yet: {entry}"
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver not ready after {SERVER_TIMEOUT}s ({last}):\n{_tail(log)}")


def _driver(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}",
        # Tall, so the virtualized asset list renders every row without scrolling.
        "--window-size=1600,3000",
    ):  # fmt: skip
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    return driver


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    _ensure_chromium()
    from corpusmill.generate import generate

    t0 = time.monotonic()
    tmp = tmp_path_factory.mktemp("ui")
    factory, home = tmp / "factory", tmp / "home"
    generate(factory, scale=1, seed=0)
    run = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--sources", str(factory / "sources.yaml"),
         "--home", str(home), "--no-summary"],
        cwd=REPO, env=_clean_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, f"corpusmill run failed ({run.returncode}):\n{run.stderr[-4000:]}"
    t_run = time.monotonic()

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "webserver.log"
    exe = Path(sys.executable).with_name("dagster-webserver")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env=_clean_env(CORPUSMILL_HOME=str(home), DAGSTER_HOME=str(home / "dagster")),
        )  # fmt: skip
    driver = None
    try:
        _wait_for_server(url, proc, log)
        t_server = time.monotonic()
        # The "Join the Dagster community" dialog covers the pages on localhost: mark it seen.
        _gql(url, "mutation { setNuxSeen }")
        driver = _driver(tmp / "chromium-profile")
        print(f"ui fixture: generate+run {t_run - t0:.1f}s, webserver {t_server - t_run:.1f}s, "
              f"chromium {time.monotonic() - t_server:.1f}s")  # fmt: skip
        yield UI(url=url, home=home, shots=tmp, driver=driver, server_log=log)
    finally:
        if driver is not None:
            driver.quit()
        _stop(proc)
        shutil.rmtree(tmp / "chromium-profile", ignore_errors=True)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the webserver's process group (it and its code server), then SIGKILL if needed."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _open(ui: UI, path: str, *needles: str, shot: str) -> str:
    """Open ``path`` and wait until the page text holds every needle; the text, or a failure
    that names what was missing and where the screenshot is."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = ui.driver
    d.get(ui.url + path)
    seen = {"text": ""}

    def shows_all(drv) -> bool:
        seen["text"] = drv.find_element(By.TAG_NAME, "body").text
        return all(n in seen["text"] for n in needles)

    try:
        wait = WebDriverWait(d, PAGE_TIMEOUT, poll_frequency=0.5,
                             ignored_exceptions=(StaleElementReferenceException,))  # fmt: skip
        wait.until(shows_all)
    except TimeoutException:
        png = ui.shots / f"fail-{shot}.png"
        d.save_screenshot(str(png))
        missing = [n for n in needles if n not in seen["text"]]
        pytest.fail(f"{path}: after {PAGE_TIMEOUT}s the page does not show {missing}; "
                    f"screenshot {png}; page text starts:\n{seen['text'][:1500]}")  # fmt: skip
    return seen["text"]


def test_asset_catalog_lists_canonical_assets(ui: UI) -> None:
    _open(ui, "/assets", *CANONICAL, shot="assets")


def test_asset_page_shows_suite_check(ui: UI) -> None:
    _open(ui, "/assets/sensor_readings", "sensor_readings", "Latest check results",
          shot="asset")  # fmt: skip
    text = _open(ui, "/assets/sensor_readings?view=checks", "sensor_readings_suite",
                 "conservation", shot="asset-checks")  # fmt: skip
    assert "Succeeded" in text or "Failed" in text


def test_asset_graph_renders(ui: UI, tmp_path: Path) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = ui.driver
    d.set_window_size(1400, 900)  # before loading: the graph centres itself on the first layout
    try:
        _open(ui, "/assets/sensor_readings?view=lineage", "standardized_sensor_readings",
              "timeseries_windows", "Materialized", "Passed", shot="lineage")  # fmt: skip

        def node_in_view(drv) -> bool:
            height = drv.execute_script("return window.innerHeight")
            nodes = drv.find_elements(By.XPATH, "//*[text()='timeseries_windows']")
            return any(e.is_displayed() and 0 < e.rect["y"] < height for e in nodes)

        try:
            WebDriverWait(d, PAGE_TIMEOUT, poll_frequency=0.5).until(node_in_view)
        except TimeoutException:
            d.save_screenshot(str(fail := ui.shots / "fail-lineage-node.png"))
            pytest.fail(f"the lineage graph never showed its timeseries_windows node; see {fail}")
        png = tmp_path / "asset-graph.png"
        assert d.save_screenshot(str(png)) and png.stat().st_size > 10_000
        print(f"asset graph screenshot: {png}")
    finally:
        d.set_window_size(1600, 3000)


_RUNS_QUERY = """
{ runsOrError(limit: 50) { __typename ... on Runs { results { runId status } } } }
"""


def test_runs_page_lists_successful_runs(ui: UI) -> None:
    runs = ui.gql(_RUNS_QUERY)["runsOrError"]["results"]
    ok = [r["runId"] for r in runs if r["status"] == "SUCCESS"]
    assert ok, f"no successful run in the home: {runs}"
    _open(ui, "/runs", "Success", ok[0][:8], shot="runs")


_CHECKS_QUERY = """
query ($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode {
      assetMaterializations(limit: 1) { runId }
      assetChecksOrError {
        __typename
        ... on AssetChecks { checks { name executionForLatestMaterialization { runId status } } }
      }
    }
  }
}
"""


def test_graphql_suite_check_executed_with_latest_materialization(ui: UI) -> None:
    node = ui.gql(_CHECKS_QUERY, {"key": {"path": ["sensor_readings"]}})["assetNodeOrError"]
    assert node["__typename"] == "AssetNode", node
    mats = node["assetMaterializations"]
    assert mats, "sensor_readings has no materialization"
    checks = node["assetChecksOrError"]
    assert checks["__typename"] == "AssetChecks", checks
    by_name = {c["name"]: c["executionForLatestMaterialization"] for c in checks["checks"]}
    suite = by_name.get("sensor_readings_suite")
    assert suite is not None, f"no execution of sensor_readings_suite: {by_name}"
    # the sample factory's sensor readings pass their suite (its planted defects are quarantined)
    assert suite["status"] == "SUCCEEDED", suite
    assert suite["runId"] == mats[0]["runId"]


def _open_markdown(ui: UI, path: str, entry: str, *needles: str, shot: str) -> str:
    """Open an asset page whose metadata ``entry`` is Markdown, open that entry, and wait for the
    needles in the page (the UI shows a Markdown metadata value in a dialog)."""
    from selenium.webdriver.common.by import By

    _open(ui, path, entry, shot=shot)
    d = ui.driver
    rows = d.find_elements(By.XPATH, f"//tr[.//*[normalize-space(text())='{entry}']]")
    for row in rows:
        links = row.find_elements(By.XPATH, ".//*[contains(text(), 'Markdown')]")
        if links:
            d.execute_script("arguments[0].click();", links[0])
            break
    return _wait_text(ui, needles, shot=shot)


def _wait_text(ui: UI, needles: tuple[str, ...], *, shot: str) -> str:
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    seen = {"text": ""}

    def shows_all(drv) -> bool:
        seen["text"] = drv.find_element(By.TAG_NAME, "body").text
        return all(n in seen["text"] for n in needles)

    try:
        WebDriverWait(ui.driver, PAGE_TIMEOUT, poll_frequency=0.5,
                      ignored_exceptions=(StaleElementReferenceException,)).until(shows_all)  # fmt: skip
    except TimeoutException:
        png = ui.shots / f"fail-{shot}.png"
        ui.driver.save_screenshot(str(png))
        missing = [n for n in needles if n not in seen["text"]]
        pytest.fail(f"the page does not show {missing}; screenshot {png}; text starts:\n"
                    f"{seen['text'][:1500]}")  # fmt: skip
    return seen["text"]


def test_corpus_page_shows_its_data_card(ui: UI) -> None:
    _open_markdown(ui, "/assets/text_corpus?view=events", "data_card", "Data card: text_corpus",
                   "built from", "documents, maintenance_records", shot="corpus-card")  # fmt: skip


def test_shard_plan_page_shows_its_pool_table(ui: UI) -> None:
    _open_markdown(ui, "/assets/shard_plan?view=events", "pools", "a100-cn-east", "l4-cn-east",
                   "ascend-cn-north", shot="shard-plan-pools")  # fmt: skip


def test_shard_plan_page_shows_a_load_bar_per_pool(ui: UI) -> None:
    """One materialization per training job (partition); the latest shows its load chart."""
    text = _open_markdown(ui, "/assets/shard_plan?view=events", "load", "█", "load (tokens)",
                          shot="shard-plan-load")  # fmt: skip
    assert "share" in text and "hours" in text
