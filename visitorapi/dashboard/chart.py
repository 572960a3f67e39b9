"""The 30-day usage chart: one stacked bar per day (served, denied, rate-limited), as SVG.

Pure: counts in, markup out. Colours come from the dashboard stylesheet
through class names (no inline style, so the strict CSP holds); each bar
has a ``<title>`` with the day's numbers, which browsers show on hover and
screen readers read.
"""
from visitorapi.dashboard.markup import Html, join, render

SERIES = (("served", "served"), ("denied", "denied"), ("rate_limited", "rate-limited"))
WIDTH, HEIGHT = 600, 200
LEFT, BOTTOM, TOP = 44, 22, 10


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k that is >= value (a readable axis maximum)."""
    ceiling = 1
    while True:
        for factor in (1, 2, 5):
            if ceiling * factor >= value:
                return ceiling * factor
        ceiling *= 10


def usage_chart(days) -> Html:
    """An SVG bar chart of ``days`` (objects with period, served, denied, rate_limited)."""
    days = list(days)
    peak = nice_ceiling(max([d.served + d.denied + d.rate_limited for d in days] + [1]))
    plot_height = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        x = LEFT + index * slot + slot * 0.1
        y = HEIGHT - BOTTOM
        rects = []
        for attribute, css in SERIES:
            count = getattr(day, attribute)
            if count:
                height = count / peak * plot_height
                y -= height
                rects.append(render('<rect class="{css}" x="{x}" y="{y}" width="{w}" height="{h}"/>',
                                    css=css, x=f"{x:.1f}", y=f"{y:.1f}", w=f"{slot * 0.8:.1f}",
                                    h=f"{height:.1f}"))
        label = (f"{day.period}: {day.served} served, {day.denied} denied, "
                 f"{day.rate_limited} rate-limited")
        bars.append(render('<g class="day" data-day="{day}"><title>{label}</title>'
                           '<rect class="hit" x="{x}" y="{top}" width="{w}" height="{h}"/>'
                           '{rects}</g>',
                           day=day.period, label=label, x=f"{LEFT + index * slot:.1f}", top=TOP,
                           w=f"{slot:.1f}", h=plot_height, rects=join(rects)))
    first = days[0].period if days else ""
    last = days[-1].period if days else ""
    legend = join(render('<span class="key {0}">{0}</span>', css) for _, css in SERIES)
    return render(
        '<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
        'role="img" aria-label="Requests per day over {n} days" id="usage-chart">'
        '<line class="axis" x1="{left}" y1="{base}" x2="{w}" y2="{base}"/>'
        '<line class="grid" x1="{left}" y1="{top}" x2="{w}" y2="{top}"/>'
        '<text class="tick" x="{tick_x}" y="{top_text}" text-anchor="end">{peak}</text>'
        '<text class="tick" x="{tick_x}" y="{base}" text-anchor="end">0</text>'
        '{bars}'
        '<text class="tick" x="{left}" y="{date_y}">{first}</text>'
        '<text class="tick" x="{w}" y="{date_y}" text-anchor="end">{last}</text>'
        '</svg><figcaption>{legend}</figcaption></figure>',
        w=WIDTH, h=HEIGHT, n=len(days), left=LEFT, base=HEIGHT - BOTTOM, top=TOP,
        tick_x=LEFT - 4, top_text=TOP + 4, peak=peak, bars=join(bars), date_y=HEIGHT - 6,
        first=first, last=last, legend=legend)
