"""The HTML report of the demo's records, opened in headless Chromium (skips without Chromium).

Asserts what a reader would notice: console errors, leaderboards missing rows, broken images,
dead links. Screenshots of the index and one run page are saved under the test's tmp folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from unic_bench.report.tables import _backbone_label, _method_label
from unic_bench.run.records import iter_records

REPO = Path(__file__).resolve().parents[1]
DEMO_RECORDS = [REPO / "results" / "runs" / task / "digits" for task in ("clustering", "gcd")]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def site(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's committed digits records copied to tmp, one UNIC run plotted, the report built."""
    results = tmp_path / "results"
    for folder in DEMO_RECORDS:
        shutil.copytree(folder, results / folder.relative_to(REPO / "results"))
    assert cli("extract", "--backbone", "pixels", "--dataset", "digits", "--device", "cpu").code == 0
    import unic_bench.analysis.run_figures as run_figures

    monkeypatch.setattr(run_figures, "EMBED_MAX_POINTS", 300)  # t-SNE of a sample: seconds, not a minute
    unic = sorted((results / "runs" / "clustering" / "digits" / "pixels" / "unic").glob("*.json"))[0]
    out = cli("plot", str(unic))
    assert out.code == 0, out.err
    assert {"confusion", "embedding", "curves"} <= {p.stem for p in unic.with_name(f"{unic.stem}.figures").glob("*.png")}
    out = cli("report", "--results", str(results), "--output", str(tmp_path / "site"))
    assert out.code == 0, out.err
    return tmp_path / "site"


def browser() -> Any:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -e '.[test]')")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium and chromium-driver not installed (apt-get install -y chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def dead_links(driver: Any) -> list[str]:
    hrefs = driver.execute_script("return Array.from(document.querySelectorAll('a[href]'), a => a.href)")
    dead = []
    for href in hrefs:
        url = urlparse(href)
        if url.scheme != "file" or not Path(unquote(url.path)).is_file():
            dead.append(href)
    return dead


def broken_images(driver: Any) -> list[str]:
    script = "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    return driver.execute_script(script)


def table_rows(driver: Any, table_id: str) -> list[tuple[str, str]]:
    script = f"""return Array.from(document.querySelectorAll('#{table_id} + table tbody tr'),
                  r => [r.cells[0].textContent.trim(), r.cells[1].textContent.trim()])"""
    return [tuple(row) for row in driver.execute_script(script)]


def expected_rows(task: str) -> set[tuple[str, str]]:
    records = [r for r in iter_records(DEMO_RECORDS) if r.task == task]
    return {(_method_label(r), _backbone_label(r)) for r in records}


def test_report_in_headless_chromium(site: Path, tmp_path: Path) -> None:
    driver = browser()
    try:
        driver.get((site / "index.html").as_uri())
        driver.save_screenshot(str(tmp_path / "index.png"))
        assert console_errors(driver) == []
        assert dead_links(driver) == []
        assert broken_images(driver) == []
        for table_id, task in (("table1", "clustering"), ("table2", "gcd")):
            rows = table_rows(driver, table_id)
            measured = {row for row in rows if "[paper]" not in row[0]}
            assert measured == expected_rows(task)
            assert any("[paper]" in row[0] for row in rows)  # the paper's rows are there too

        # the sorter: clicking a metric header orders the rows by it
        header = driver.find_element("css selector", "#table1 + table thead tr:last-child th:nth-child(3)")
        header.click()
        values = driver.execute_script(
            "return Array.from(document.querySelectorAll('#table1 + table tbody tr'), r => r.cells[2].textContent.trim())"
        )
        numbers = [float(v.split()[0].strip("*")) for v in values if v != "-"]
        assert numbers == sorted(numbers, reverse=True) and len(numbers) > 1

        run_link = driver.execute_script(
            "return Array.from(document.querySelectorAll('a'), a => a.href).find(h => h.includes('clustering--digits'))"
        )
        driver.get(run_link)
        assert dead_links(driver) == []
        plotted = next(p for p in (site / "runs").glob("*") if p.is_dir())
        driver.get((site / "runs" / f"{plotted.name}.html").as_uri())
        driver.save_screenshot(str(tmp_path / "run.png"))
        assert console_errors(driver) == []
        assert dead_links(driver) == []
        images = driver.execute_script("return document.images.length")
        assert images >= 3 and broken_images(driver) == []
    finally:
        driver.quit()
    assert (tmp_path / "index.png").stat().st_size > 10_000 and (tmp_path / "run.png").stat().st_size > 10_000
