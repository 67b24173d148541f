"""The report in a real headless Chromium: every chart drawn where it should be, every series
visible in the pixels, nothing wider than 1280 px, and not one request leaving the page."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from cli.report_charts import COLOURS
from tests.integration.test_cli import invoke, protect_target_variables
from tests.integration.test_cli_report import decided_experiment, report, seed_week

WIDTH = 1280
INSTALL = (
    "the report's browser test needs Debian's Chromium: `make test` installs it, or run "
    "`apt-get update && apt-get install -y --no-install-recommends chromium` as root"
)
# As root on a machine without a network of its own: no sandbox, and no background calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOT_TO = "SUBMSG_REPORT_SCREENSHOT"  # also keep the full-page screenshot there
GEOMETRY = """() => {
  const box = (e) => {
    const r = e.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width,
            height: r.height};
  };
  return {
    scrollWidth: document.documentElement.scrollWidth,
    wide: [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth)
      .map((e) => e.outerHTML.slice(0, 80)),
    svgs: [...document.querySelectorAll("svg")].map((s) => ({kind: s.getAttribute("class"),
      figure: s.previousElementSibling && s.previousElementSibling.textContent,
      box: box(s), marks: [...s.querySelectorAll(".mark")].map((m) => ({tag: m.tagName,
        box: box(m), onTop: document.elementFromPoint((box(m).left + box(m).right) / 2,
          (box(m).top + box(m).bottom) / 2) === m}))})),
  };
}"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"No Chromium on this machine: {INSTALL}.", pytrace=False)


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Page, list[str]]]:
    """A fresh Chromium page 1280 px wide, and the list of every URL it asked for."""
    executable = chromium()
    asked: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=executable,
            headless=True,
            args=FLAGS,
            viewport={"width": WIDTH, "height": 900},
            device_scale_factor=1,
        )
        context.on("request", lambda request: asked.append(request.url))
        page = context.new_page()
        try:
            yield page, asked
        finally:
            context.close()


@pytest.fixture
def run(aws, monkeypatch):
    protect_target_variables(monkeypatch)
    return invoke


@pytest.fixture
def realistic_report(run, api, services, client, aws, wx, pinned_clock, tmp_path) -> Path:
    """A week of three templates and a campaign whose experiment was decided, as a page."""
    seed_week(api, services)
    decided_experiment(run, api, client, aws, wx, pinned_clock, tmp_path, name="Winter sale")
    report(run, tmp_path)
    return tmp_path / "report.html"


def test_every_chart_is_drawn_within_1280_px_and_nothing_is_fetched(
    browser_page, realistic_report, tmp_path
):
    page, asked = browser_page
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(realistic_report.as_uri())
    page.wait_for_load_state("load")

    found = page.evaluate(GEOMETRY)

    assert asked == [realistic_report.as_uri()], asked  # the page itself, nothing else
    assert errors == []
    assert found["scrollWidth"] <= WIDTH
    assert found["wide"] == []
    kinds = [svg["kind"] for svg in found["svgs"]]
    assert kinds.count("chart") == 2 and kinds.count("funnel") == 1
    assert kinds.count("progress") == 1
    assert kinds.count("rate") >= 3 * 3 + 2  # templates × rates, variants × click rates
    for svg in found["svgs"]:
        assert svg["box"]["width"] > 0 and svg["box"]["height"] > 0, svg
        if svg["kind"] == "rate":  # a bar for any rate above zero
            assert len(svg["marks"]) == (svg["figure"] != "0.0%"), svg
        else:
            assert svg["marks"], f"a {svg['kind']} chart with nothing drawn in it"
        for mark in svg["marks"]:
            _drawn_inside(mark, svg["box"])
    funnel = next(svg for svg in found["svgs"] if svg["kind"] == "funnel")
    assert len(funnel["marks"]) == 4 and all(mark["onTop"] for mark in funnel["marks"])
    daily = [svg for svg in found["svgs"] if svg["kind"] == "chart"]
    assert sum(mark["tag"] == "circle" for svg in daily for mark in svg["marks"]) == 5 * 7

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get(SHOT_TO):
        shutil.copyfile(shot, os.environ[SHOT_TO])
    sends, engagement = page.locator("svg.chart").all()
    _shows_colours(sends.screenshot(), ["requested", "sent", "failed"])
    _shows_colours(engagement.screenshot(), ["clicked", "converted"])
    _shows_colours(
        page.locator("svg.funnel").screenshot(), ["requested", "sent", "clicked", "converted"]
    )


def _drawn_inside(mark: dict[str, Any], frame: dict[str, float]) -> None:
    box = mark["box"]
    assert box["width"] > 0, mark
    if mark["tag"] != "polyline":  # a line may be level; every other mark has an area
        assert box["height"] > 0, mark
    assert frame["left"] - 1 <= box["left"] and box["right"] <= frame["right"] + 1, mark
    assert frame["top"] - 1 <= box["top"] and box["bottom"] <= frame["bottom"] + 1, mark


def _shows_colours(png: bytes, counters: list[str], at_least: int = 30) -> None:
    """Enough pixels of each counter's colour in the picture: its series was really painted."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    counted = image.getcolors(maxcolors=image.width * image.height)
    for counter in counters:
        wanted = tuple(int(COLOURS[counter][i : i + 2], 16) for i in (1, 3, 5))
        painted = sum(
            times
            for times, colour in counted
            if all(abs(a - b) <= 6 for a, b in zip(colour, wanted, strict=True))
        )
        assert painted >= at_least, f"{counter}: {painted} pixels of {COLOURS[counter]}"
