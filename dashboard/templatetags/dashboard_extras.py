"""How the dashboard writes durations and percentages."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import floatformat
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from dashboard.timezones import zone_options as _zone_options

register = template.Library()


@register.simple_tag
def zone_options(chosen: str) -> SafeString:
    """The time zone <option>s with ``chosen`` selected (dashboard.timezones)."""
    return _zone_options(chosen)


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as a short duration (``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``);
    a dash for none."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:g} s"
    minutes, _ = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.filter
def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:g} %"


def _cell(value: float | int | None, unit: str, *, durations: bool) -> str:
    if value is None:
        return "–"
    if unit == "seconds":
        return duration(value) if durations else f"{floatformat(value, 0)} s"
    if unit == "percent":
        return f"{conditional_escape(localize(value))} %"
    return conditional_escape(localize(value))


@register.simple_tag
def chart_rows(chart, *, links: bool = True, durations: bool = False) -> SafeString:
    """The table view's body rows of a chart (dashboard.charts.Chart.rows): a row per label,
    a cell per series, each linked to its mentions when ``links``; seconds as whole seconds,
    or as short durations when ``durations``. Written here rather than in template loops:
    a 90-day chart's table is a thousand cells, and the template engine's per-variable cost
    was a third of the overview page."""
    unit = chart.unit
    out = []
    for label, cells in chart.rows():
        out.append(f'<tr><th scope="row">{conditional_escape(label)}</th>')
        for value, link in cells:
            text = _cell(value, unit, durations=durations)
            if links and link and value is not None:
                text = f'<a href="{conditional_escape(link)}">{text}</a>'
            out.append(f'<td class="num">{text}</td>')
        out.append("</tr>\n")
    # Every piece above is escaped or our own markup.
    return mark_safe("".join(out))  # noqa: S308
