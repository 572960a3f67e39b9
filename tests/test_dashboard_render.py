"""Pure rendering pieces of the dashboard: escaping, the usage chart."""
import html
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, strategies as st

from visitorapi.dashboard.chart import nice_ceiling, usage_chart
from visitorapi.dashboard.markup import Html, escape, join, render
from visitorapi.state.usage import UsageCounts


@given(st.text())
def test_escape_leaves_no_markup_and_round_trips(text):
    escaped = escape(text)
    assert not set("<>\"'") & set(escaped.replace("&lt;", "").replace("&gt;", "").replace(
        "&quot;", "").replace("&#x27;", ""))
    assert html.unescape(escaped) == text


def test_html_passes_and_text_is_escaped():
    assert render("<p>{0}{1}</p>", Html("<b>ok</b>"), "<b>no</b>") == "<p><b>ok</b>&lt;b&gt;no&lt;/b&gt;</p>"
    assert join(["<i>", Html("<br>")]) == "&lt;i&gt;<br>"
    assert escape(None) == ""


@given(st.integers(min_value=0, max_value=10 ** 12))
def test_nice_ceiling_is_the_smallest_1_2_5_step_above(value):
    steps = sorted(f * 10 ** k for k in range(14) for f in (1, 2, 5))
    assert nice_ceiling(value) == next(step for step in steps if step >= value)


def test_chart_has_one_titled_bar_per_day_and_scales_to_the_peak():
    days = [UsageCounts("2026-01-01", served=5, denied=2, rate_limited=1),
            UsageCounts("2026-01-02"), UsageCounts("2026-01-03", served=12)]
    svg = usage_chart(days).split("<figcaption>")[0].removeprefix('<figure class="chart">')
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    groups = root.findall(f"{ns}g")
    assert [g.get("data-day") for g in groups] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert groups[0].find(f"{ns}title").text == "2026-01-01: 5 served, 2 denied, 1 rate-limited"
    heights = {r.get("class"): float(r.get("height")) for r in groups[0].findall(f"{ns}rect")}
    assert heights["served"] == pytest.approx(5 / 20 * 168, abs=0.1)  # axis max 20
    assert heights["denied"] == pytest.approx(2 / 20 * 168, abs=0.1)
    assert [r.get("class") for r in groups[1].findall(f"{ns}rect")] == ["hit"]  # no traffic
    assert "style" not in svg
