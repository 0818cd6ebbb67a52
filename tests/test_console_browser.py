"""The ops console in a real browser: Debian's headless Chromium driven by Selenium
through the system chromedriver (nothing is downloaded). Screenshots of the main pages
go to ``test-artifacts/console/`` (``LENDMATCH_ARTIFACTS`` to put them elsewhere).

Skipped when Chromium is not installed, unless ``LENDMATCH_REQUIRE_BROWSER=1`` (CI sets
it, and installs Chromium), which turns the skip into a failure."""

import base64
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from console_data import build_history, console_app
from werkzeug.serving import make_server

from core import keys
from core.db import new_session
from core.principal import Role, command_line

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("LENDMATCH_ARTIFACTS",
                                Path(__file__).resolve().parent.parent / "test-artifacts"))

if not (BROWSER and DRIVER):
    if os.environ.get("LENDMATCH_REQUIRE_BROWSER") == "1":
        raise RuntimeError("LENDMATCH_REQUIRE_BROWSER=1 but chromium/chromedriver are not "
                           "installed (apt-get install chromium chromium-driver)")
    pytest.skip("chromium and chromium-driver are not installed", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def server(database_url):
    app, clock = console_app(database_url)
    history = build_history(app, clock)
    with app.app_context():
        session = new_session()
        _, key = keys.create(session, command_line("tests"), Role.OPS, label="browser test")
        session.close()
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}", key, history
    http.shutdown()
    app.extensions["lendmatch.engine"].dispose()


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,900", "--lang=en-US"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER),
                              options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def shot(driver, name: str) -> Path:
    """The whole page, not just the window, through the DevTools protocol."""
    folder = ARTIFACTS / "console"
    folder.mkdir(parents=True, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    image = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000),
                 "scale": 1}})
    path = folder / f"{name}.png"
    path.write_bytes(base64.b64decode(image["data"]))
    return path


def wait(driver, condition, seconds=15):
    return WebDriverWait(driver, seconds).until(condition)


def drawn_pixels(driver, canvas_id: str) -> int:
    """Pixels the chart painted on its canvas (not transparent)."""
    return driver.execute_script("""
        const canvas = document.getElementById(arguments[0]);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
        return painted;""", canvas_id)


def chart_drawn(driver, canvas_id: str) -> None:
    wait(driver, lambda d: d.find_element(By.ID, canvas_id).get_attribute("data-drawn")
         == "true")
    assert drawn_pixels(driver, canvas_id) > 2000


def test_an_ops_person_signs_in_filters_changes_a_weight_and_checks_a_what_if(server,
                                                                               browser):
    base, key, history = server
    product_id = history.lenders[1].product_ids[0]

    # Signed out, the console asks for a key; a wrong one is refused with a message.
    browser.get(base + "/ops/products")
    wait(browser, expected_conditions.presence_of_element_located((By.ID, "key")))
    shot(browser, "01-sign-in")
    browser.find_element(By.ID, "key").send_keys("lm_000000000000_not-a-key")
    browser.find_element(By.ID, "sign-in").click()
    assert "not a valid ops key" in browser.find_element(By.CSS_SELECTOR, ".errors").text
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.ID, "sign-in").click()
    wait(browser, expected_conditions.presence_of_element_located((By.ID, "products")))
    assert browser.current_url.endswith("/ops/products")  # back where it was going
    cookie = browser.get_cookie("lendmatch_ops")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # The overview draws the whole market's funnel.
    browser.get(base + "/ops/")
    chart_drawn(browser, "funnel-chart")
    shot(browser, "02-overview")

    # Filter products: search narrows the table to matching names.
    browser.get(base + "/ops/products")
    rows_before = len(browser.find_elements(By.CSS_SELECTOR, "#products tbody tr"))
    search = browser.find_element(By.ID, "product-search")
    search.send_keys("Lender 1")
    Select(browser.find_element(By.ID, "product-type")).select_by_visible_text("cash_loan")
    browser.find_element(By.ID, "filter-products").click()
    wait(browser, expected_conditions.url_contains("q=Lender+1"))
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR,
                                                   "#products tbody td:nth-child(3)")]
    assert names and set(names) == {"Lender 1"} and len(names) < rows_before
    shot(browser, "03-products-filtered")

    # Change a weight: without a reason the browser's own check stops it; with one it saves.
    browser.find_element(By.LINK_TEXT, "Lender 1 loan 0").click()
    wait(browser, expected_conditions.presence_of_element_located((By.ID, "edit-product")))
    chart_drawn(browser, "funnel-chart")
    weight = browser.find_element(By.ID, "weight")
    weight.clear()
    weight.send_keys("12")
    browser.find_element(By.ID, "reason").send_keys("try an out-of-range weight")
    browser.find_element(By.ID, "save-product").click()
    assert "weight" in browser.find_element(By.CSS_SELECTOR, ".errors").text
    assert browser.find_element(By.ID, "ops-weight").text == "1"  # nothing saved
    weight = browser.find_element(By.ID, "weight")
    weight.clear()
    weight.send_keys("2.5")
    reason = browser.find_element(By.ID, "reason")
    reason.clear()
    reason.send_keys("strong repayment in the pilot")
    browser.find_element(By.ID, "save-product").click()
    wait(browser, expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR,
                                                                     ".flash"), "Saved"))
    assert browser.find_element(By.ID, "ops-weight").text == "2.5"
    audit = browser.find_element(By.ID, "audit").text
    assert "strong repayment in the pilot" in audit and '"weight": 2.5' in audit
    assert re.search(r'"weight": 1(\.0)?\b', audit)
    shot(browser, "04-product-after-weight-change")

    # The institution page draws its funnel and its approval-odds calibration.
    browser.get(f"{base}/ops/institutions/{history.lenders[1].institution_id}")
    chart_drawn(browser, "funnel-chart")
    chart_drawn(browser, "calibration-chart")
    shot(browser, "05-institution")

    # What-if: a much lower weight for that product moves its routings elsewhere.
    browser.get(f"{base}/ops/what-if?product_id={product_id}&weight=0.1")
    applications = browser.find_element(By.ID, "applications")
    applications.clear()
    applications.send_keys("60")
    browser.find_element(By.ID, "run-what-if").click()
    wait(browser, expected_conditions.presence_of_element_located((By.ID, "what-if-result")))
    chart_drawn(browser, "what-if-chart")
    first_row = browser.find_element(By.CSS_SELECTOR, "#what-if-products tbody tr").text
    assert f"{product_id} Lender 1 loan 0" in first_row and "2.5 → 0.1" in first_row
    before, after = re.search(r"(\d+) → (\d+)", first_row.split("0.1", 1)[1]).groups()
    assert int(after) < int(before)
    shot(browser, "06-what-if")

    # Saving it needs a reason too, and then the product has the new weight.
    browser.find_element(By.ID, "save-reason").send_keys("the what-if looked right")
    browser.find_element(By.ID, "save-weights").click()
    wait(browser, expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR,
                                                                     ".flash"), "0.1"))
    browser.get(f"{base}/ops/products/{product_id}")
    assert browser.find_element(By.ID, "ops-weight").text == "0.1"

    # Jobs and models, then sign out: the console is closed again.
    browser.get(base + "/ops/jobs")
    assert "update-models" in browser.find_element(By.ID, "jobs").text
    assert browser.find_elements(By.CSS_SELECTOR, "#models tbody tr")
    shot(browser, "07-jobs-and-models")
    browser.find_element(By.ID, "sign-out").click()
    wait(browser, expected_conditions.presence_of_element_located((By.ID, "key")))
    browser.get(base + "/ops/")
    assert browser.find_elements(By.ID, "key")
