"""Explorable figures (``book/explorable``): the package's own checks, then each explorable on
the built site driven in headless Chromium.

One row of ``EXPLORABLES`` per explorable: its page, its name and its sliders. For each, on the
built site: the static figure is in the page's HTML (what a reader without JavaScript sees),
inside a numbered figure with a caption; the script wakes the sliders; moving each slider to
either end changes what is drawn (the SVG path data and text) and the value shown beside it;
moving back to the default draws exactly the static figure again (so the Python and the
JavaScript unpacking agree); no console errors; and the explorables of a page stay within the
page-weight budget.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from test_site import fetch, new_page, open_page, site_url, browser  # noqa: F401 (fixtures)

try:
    import explorable
    from explorable import _pack
except ImportError as exc:  # a dependency of the book, not an optional one
    raise ImportError("the book's package is missing: `pip install -e ./book` (make does)") from exc

EXPLORABLES = [
    # (page, explorable name, the labels of its sliders)
    ("chapters/02-ema", "ema-decay", ["β"]),
    ("chapters/03-momentum", "heavy-ball", ["step size α", "momentum μ"]),
    ("chapters/05-bias-correction", "bias-correction", ["β₁", "β₂"]),
    ("chapters/06-adam", "adam-and-ancestors", ["α", "β₁", "β₂"]),
    ("chapters/07-amsgrad", "amsgrad-beta2", ["β₂"]),
    ("chapters/10-schedules", "schedule-designer", ["warm-up", "peak α", "decay"]),
]


# --------------------------------------------------------------------------------------------
# The package


def test_packing_round_trips_to_half_pixels():
    points = np.array([[0.0, 0.0], [12.26, -3.74], [-511.5, 1535.5], [100.0, 40.25]])
    code = _pack.pack(points, breaks=np.array([True, False, True, False]))
    assert len(code) == 4 * len(points) + 1  # four digits a point, one break after the first
    assert _pack.path_data("line", code) == "M0 0L12.5 -3.5M-511.5 1535.5L100 40"
    assert _pack.path_data("dots", code) == "M0 0h0M12.5 -3.5h0M-511.5 1535.5h0M100 40h0"
    assert _pack.path_data("bars", code[:8], base=50) == "M0 50V0M12.5 50V-3.5"
    with pytest.raises(ValueError, match="outside"):
        _pack.pack(np.array([[0.0, 1536.0]]))


def test_lines_are_clipped_at_the_box_and_broken_at_nan():
    box = (0.0, 0.0, 100.0, 100.0)
    # Inside, out through the right edge at y = 50, far away, back in through the top edge.
    line = np.array([[50, 50], [150, 50], [1e6, -1e6], [50, -50], [50, 10], [np.nan, 0], [1, 1]])
    drawn, breaks = _pack.clip_polyline(line, box)
    np.testing.assert_allclose(drawn, [[50, 50], [100, 50], [50, 0], [50, 10]])
    assert breaks.tolist() == [True, False, True, False]
    outside = np.array([[200.0, 200.0], [300.0, 200.0]])
    assert len(_pack.clip_polyline(outside, box)[0]) == 0


def small_figure(**slider):
    betas = np.round(np.linspace(0.5, 0.95, 10), 2)
    figure = explorable.Explorable(
        "test-figure", [explorable.Slider("β", betas, **{"default": 0.9, **slider})], alt="a test"
    )
    ages = np.arange(1, 21)
    panel = figure.panel(x=(0, 21), y=(1e-3, 1), ylog=True)
    panel.bars(lambda b: (ages, (1 - b) * b ** (ages - 1.0)))
    panel.text(lambda b: f"β = {b:.2f}", at=(10, 0.5))
    return figure


def test_repeats_are_left_out_and_repeated_frames_stored_once():
    points = np.array([[0.0, 0.0], [0.1, 0.2], [5.0, 5.0], [5.0, 5.0], [9.0, 9.0]])
    breaks = np.array([True, False, False, True, False])
    kept, kept_breaks = _pack.drop_repeats(points, breaks)
    np.testing.assert_array_equal(kept, points[[0, 2, 3, 4]])  # a break is never dropped
    assert kept_breaks.tolist() == [True, False, True, False]
    figure = small_figure()
    figure.panels[0].line(lambda b: ([1, 20], [0.01, 0.01]))  # the same in every frame
    entry = figure.frames()[-1]
    assert len(entry["frames"]) == 1 and entry["index"] == [0] * 10
    assert "index" not in figure.frames()[0]


def test_output_is_deterministic_and_carries_its_parts():
    html = small_figure().html()
    assert html == small_figure().html()
    assert html.count('id="explorable-test-figure"') == 1
    assert html.count("<svg") == 1 and 'data-layer="0"' in html and 'data-layer="1"' in html
    assert 'type="range" min="0" max="9" step="1" value="8" disabled' in html
    assert explorable.player_script() in html
    assert "β = 0.90" in html  # the static figure is drawn at the default value


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match="default 0.91 is not one of its values"):
        small_figure(default=0.91)
    with pytest.raises(ValueError, match="name 'Bad Name'"):
        explorable.Explorable("Bad Name", [explorable.Slider("β", [0, 1], 0)], alt="")
    figure = small_figure()
    with pytest.raises(ValueError, match="low > 0 on a logarithmic axis"):
        figure.panel(x=(0, 1), y=(0, 1), ylog=True)
    with pytest.raises(TypeError, match="pair"):
        figure.panels[0].line(np.arange(3))


def test_a_figure_over_budget_is_refused():
    figure = small_figure()
    many = np.linspace(0, 20, 20_000)  # a zigzag: no point repeats the one before
    figure.panels[0].line(lambda b: (many, b * (0.1 + 0.5 * (np.arange(many.size) % 2))))
    with pytest.raises(ValueError, match="over the 400,000-byte budget"):
        figure.html()


def test_two_views_of_one_output_move_independently(browser):
    """JupyterLab can show one output twice (a second view of it), ids and all: each copy's
    script wires its own figure."""
    html = small_figure().html()
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_content(f"<!doctype html><html><body>{html}{html}</body></html>")
    roots = page.locator(".explorable")
    assert roots.count() == 2
    assert [roots.nth(k).get_attribute("data-live") for k in range(2)] == ["1", "1"]
    before = [roots.nth(k).evaluate(DRAWN) for k in range(2)]
    roots.nth(1).locator('input[type="range"]').evaluate(
        "el => { el.value = 0; el.dispatchEvent(new Event('input')); }")
    after = [roots.nth(k).evaluate(DRAWN) for k in range(2)]
    assert after[0] == before[0] and after[1] != before[1]
    assert after[1][-1] == "β = 0.50"  # the text layer of the first frame
    assert not errors, errors
    page.close()


# --------------------------------------------------------------------------------------------
# On the built site

DRAWN = """(root) => [...root.querySelectorAll('[data-layer]')]
    .map(el => el.tagName === 'text' ? el.textContent : el.getAttribute('d'))"""
SHOWN = "(root) => [...root.querySelectorAll('output')].map(o => o.textContent)"


def explorable_html(body: str, name: str) -> str:
    """The explorable's whole output as it stands in the page's HTML."""
    start = body.find(f'<div class="explorable tex2jax_ignore" id="explorable-{name}"')
    end_marker = f'explorableShow("explorable-{name}", document.currentScript);</script></div>'
    end = body.find(end_marker, start)
    assert start >= 0 and end >= 0, f"explorable {name!r} is not in the page's HTML"
    return body[start:end + len(end_marker)]


def static_drawing(fragment: str) -> list[str]:
    """The moving layers as the HTML draws them (no script), in data-layer order."""
    layers = re.findall(r'<(path|text) ([^>]*)data-layer="(\d+)"(/>|>([^<]*)</text>)', fragment)
    drawn = {}
    for tag, attributes, number, _, text in layers:
        if tag == "path":
            drawn[int(number)] = re.search(r'\bd="([^"]*)"', attributes).group(1)
        else:
            drawn[int(number)] = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return [drawn[k] for k in sorted(drawn)]


@pytest.mark.parametrize("docname", sorted({page for page, _, _ in EXPLORABLES}))
def test_page_weight_of_explorables_within_budget(site_url, docname):
    body = fetch(site_url + docname + ".html")
    assert body, f"{docname} is not in the built site"
    names = [name for page, name, _ in EXPLORABLES if page == docname]
    added = sum(len(explorable_html(body, name).encode("utf-8")) for name in names)
    assert added <= explorable.BUDGET_BYTES, (
        f"{docname}: its explorables add {added:,} bytes, over the "
        f"{explorable.BUDGET_BYTES:,}-byte budget per page"
    )


@pytest.mark.parametrize("docname, name, labels", EXPLORABLES, ids=[n for _, n, _ in EXPLORABLES])
def test_explorable_moves_on_the_site(new_page, site_url, docname, name, labels):
    body = fetch(site_url + docname + ".html")
    assert body, f"{docname} is not in the built site"
    fragment = explorable_html(body, name)
    static = static_drawing(fragment)
    assert static and all(static), f"{name}: the static figure draws nothing"
    assert "<svg" in fragment and 'role="img"' in fragment
    # Inside a numbered figure whose caption says what to do.
    figure = re.search(r'<figure[^>]*>(?:(?!</figure>).)*?id="explorable-' + name
                       + r'"(?:(?!</figure>).)*<figcaption>(.*?)</figcaption>', body, re.S)
    assert figure and re.search(r'caption-number">Fig\. \d+', figure.group(1)), (
        f"{name}: not in a numbered figure with a caption"
    )

    page = new_page()
    open_page(page, site_url + docname + ".html")
    root = page.locator(f"#explorable-{name}")
    root.scroll_into_view_if_needed()
    assert root.get_attribute("data-live") == "1", f"{name}: the script did not start"
    sliders = root.locator('input[type="range"]')
    assert [sliders.nth(k).get_attribute("aria-label") for k in range(sliders.count())] == labels
    assert root.evaluate(DRAWN) == static, f"{name}: the page does not show the static figure"
    for k in range(sliders.count()):
        slider = sliders.nth(k)
        assert slider.is_enabled(), f"{name}: slider {k} stays disabled"
        default, top = slider.input_value(), slider.get_attribute("max")
        for end in ("0", top):
            if end == default:
                continue
            before, shown = root.evaluate(DRAWN), root.evaluate(SHOWN)
            slider.evaluate("(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", end)
            assert root.evaluate(DRAWN) != before, f"{name}: moving slider {k} to {end} changed nothing"
            assert root.evaluate(SHOWN)[k] != shown[k], f"{name}: slider {k} shows no new value"
        slider.evaluate("(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", default)
    assert root.evaluate(DRAWN) == static, (
        f"{name}: back at the defaults the script draws something else than the static figure"
    )
    assert not page.log.console_errors, "console errors:\n" + "\n".join(page.log.console_errors)


PANEL_SCALES = """(root) => [...root.querySelectorAll('svg')].map(svg =>
    svg.getBoundingClientRect().width / svg.viewBox.baseVal.width)"""


@pytest.mark.parametrize("docname, name", [(p, n) for p, n, _ in EXPLORABLES],
                         ids=[n for _, n, _ in EXPLORABLES])
def test_explorable_is_readable_on_a_phone(new_page, site_url, docname, name):
    """At 390 px the panels stack one under the other instead of shrinking: each is drawn at
    no less than 85 % of its size (its 12 px labels stay at least 10 px)."""
    from test_site import SCREENS

    page = new_page(SCREENS["phone"])
    open_page(page, site_url + docname + ".html")
    scales = page.locator(f"#explorable-{name}").evaluate(PANEL_SCALES)
    assert scales and min(scales) >= 0.85, f"{name}: panels drawn at {scales} of their size"
