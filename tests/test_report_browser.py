"""The HTML report in a real browser: `snakemake --report` of the smoke run, opened in headless
Chromium (Debian's chromium + chromium-driver, which `.ci/run` installs where missing), must load
without a console error and show the ROC figure when a user clicks through to it."""

from __future__ import annotations

import shutil

import pytest
from workflow_utils import load_config, snakemake, write_config

RUN = "smoke_i3d"
# The flags a locked-down machine needs (no sandbox as root, no GPU, no background traffic).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000")


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed: "
                                    "pip install -e '.[test]'")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.skip("no headless Chromium here: `apt-get install chromium chromium-driver` "
                    "(Debian; .ci/run does it) to check the report in a browser")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    chrome.implicitly_wait(10)  # the report is a React page: wait for elements to appear
    yield chrome
    chrome.quit()


def test_report_shows_the_roc_figure_in_chromium(tmp_path, browser):
    from selenium.webdriver.common.by import By

    write_config(tmp_path, load_config(tiny=True))
    pieces = f"results/report/{RUN}/contents.txt"
    run = snakemake(tmp_path, "--cores", "2", pieces)
    assert run.returncode == 0, run.stdout + run.stderr
    report = tmp_path / "report.html"
    run = snakemake(tmp_path, "--report", str(report), pieces)
    assert run.returncode == 0, run.stdout + run.stderr

    browser.get(report.as_uri())
    text = lambda name: f"normalize-space(text())='{name}'"  # noqa: E731
    for step in ("Results", RUN, "Detection", "ROC curves"):
        browser.find_element(By.XPATH, f"//nav//*[{text(step)}]").click()
    browser.find_element(By.XPATH, f"//nav//tr[td[{text(RUN)}]]//a[@iconname='eye']").click()
    roc = browser.find_element(By.CSS_SELECTOR, "img[src^='data:image/png'][src*='roc']")
    width, height, shown = browser.execute_script(
        "const i = arguments[0]; return [i.naturalWidth, i.naturalHeight, "
        "i.getBoundingClientRect().width];", roc)
    # decoded and on screen
    assert width > 200 and height > 200 and shown > 200, (width, height, shown)
    errors = [entry["message"] for entry in browser.get_log("browser")
              if entry["level"] == "SEVERE"]
    assert not errors, errors
