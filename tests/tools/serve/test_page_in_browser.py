"""The draw-a-digit page in headless Chromium (the system's, driven by Playwright): a digit drawn with the mouse or a
finger shows its label and bars, Clear empties both, and nothing is fetched from anywhere but the server."""

from __future__ import annotations

import math
import os
import shutil

import pytest
from PIL import Image

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT = {"width": 760, "height": 560}

# Strokes in the pad's unit square (x right, y down), as a person would draw them.
OVAL = [(0.5 + 0.22 * math.sin(2 * math.pi * i / 24), 0.5 - 0.32 * math.cos(2 * math.pi * i / 24)) for i in range(25)]
DIGITS = {
    "0": [OVAL],
    "1": [[(0.5, 0.15), (0.5, 0.85)]],
    "4": [[(0.55, 0.15), (0.25, 0.6), (0.75, 0.6)], [(0.62, 0.35), (0.62, 0.88)]],
    "7": [[(0.25, 0.2), (0.75, 0.2), (0.42, 0.85)]],
}


def chromium() -> str:
    found = os.environ.get("CHROMIUM") or next(
        filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None
    )
    if not found:  # .ci/run installs Chromium and sets DIGITS_REQUIRE_BROWSER: there a missing one is a failure
        reason = "no Chromium found: apt-get install chromium, or set CHROMIUM=/path/to/chrome"
        (pytest.fail if os.environ.get("DIGITS_REQUIRE_BROWSER") else pytest.skip)(reason)
    return found


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A Chromium with a fresh profile, a touch screen, and Playwright's own browser download never used."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=chromium(), args=CHROMIUM_FLAGS, headless=True, has_touch=True,
            viewport=VIEWPORT,
        )  # fmt: skip
        yield context
        context.close()


@pytest.fixture
def page(browser, server_url):
    """The page, loaded with every request to anywhere but the server refused and recorded in ``page.outside``."""
    page = browser.new_page()
    page.outside = []

    def only_the_server(route):
        if route.request.url.startswith(f"{server_url}/"):
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.goto(f"{server_url}/")
    page.wait_for_function("document.getElementById('pad').dataset.state === 'idle'")
    yield page
    page.close()


def pad_points(page, stroke, steps: int = 6) -> list[tuple[float, float]]:
    """The stroke's corners in page pixels, with ``steps`` points along each segment."""
    box = page.locator("#pad").bounding_box()
    corners = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in stroke]
    points = [corners[0]]
    for (x0, y0), (x1, y1) in zip(corners, corners[1:], strict=False):
        points += [(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for k in range(1, steps + 1)]
    return points


def draw_with_mouse(page, strokes) -> None:
    for stroke in strokes:
        first, *rest = pad_points(page, stroke)
        page.mouse.move(*first)
        page.mouse.down()
        for point in rest:
            page.mouse.move(*point)
        page.mouse.up()


def draw_with_finger(page, strokes) -> None:
    touch = page.context.new_cdp_session(page)
    for stroke in strokes:
        first, *rest = pad_points(page, stroke)
        touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": first[0], "y": first[1]}]})
        for x, y in rest:
            touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    touch.detach()


def bar_widths(page) -> list[float]:
    """Each bar's drawn width as a percentage of its track, as a person sees it."""
    return page.eval_on_selector_all(
        "#bars .fill",
        "bars => bars.map(bar => 100 * bar.getBoundingClientRect().width"
        " / bar.parentElement.getBoundingClientRect().width)",
    )


def shown(page) -> tuple[str, list[float], str]:
    """After the answer to the finished drawing: the label, the 10 bar widths (%), the top bar's digit."""
    page.wait_for_function("document.getElementById('pad').dataset.state === 'shown'", timeout=30_000)
    return page.inner_text("#label"), bar_widths(page), page.inner_text("#bars li.top span")


@pytest.mark.parametrize("digit", list(DIGITS))
def test_a_digit_drawn_with_the_mouse_shows_its_label_and_the_tallest_bar(page, digit, tmp_path):
    draw_with_mouse(page, DIGITS[digit])
    label, widths, top = shown(page)
    screenshot = tmp_path / f"drawn-{digit}.png"
    page.screenshot(path=screenshot)
    print(f"screenshot: {screenshot}")
    assert (label, top) == (digit, digit)
    assert max(widths) == widths[int(digit)] > 50
    assert sum(widths) == pytest.approx(100, abs=2)
    assert Image.open(screenshot).size == (VIEWPORT["width"], VIEWPORT["height"])
    assert page.outside == []


def test_a_digit_drawn_with_a_finger_shows_its_label(page):
    draw_with_finger(page, DIGITS["7"])
    assert shown(page)[0] == "7"
    assert page.evaluate("window.scrollY") == 0  # the finger drew; it did not scroll the page


def test_clear_empties_the_pad_the_label_and_the_bars(page):
    draw_with_mouse(page, DIGITS["4"])
    shown(page)
    page.click("#clear")
    page.wait_for_function("document.getElementById('pad').dataset.state === 'idle'")
    assert page.inner_text("#label") == "\u2013"
    assert bar_widths(page) == [0] * 10
    blank = page.evaluate(
        "(() => { const pad = document.getElementById('pad');"
        " const data = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;"
        " return data.every(value => value === 255); })()"
    )
    assert blank
