"""The overview's "most engaged mentions" panel (issue 12): the rows of
selectors_mentions.engaged_mentions_top, the explorer link that shows all of them sorted the
same way, why the panel is empty when it is, and the figures its "Download CSV" button writes.

The button is the charts' own (dashboard/templates/dashboard/_chart.html, dashboard.js): it
reads ``spec()`` from the page's chart data, whose shape is a chart's (labels and series), so
the table needs no script of its own. Cells that come from strangers (names, text, links) are
neutralised for spreadsheets by dashboard.js as every chart's are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from dashboard.explorer import explorer_url
from dashboard.selectors_mentions import EngagedMention, engaged_mentions_top

PANEL_ID = "engaged"


@dataclass
class EngagedPanel:
    rows: list[EngagedMention]
    explorer_link: str
    # Why no row is listed ("" when some are).
    empty: str
    zone: tzinfo
    id: str = PANEL_ID

    def spec(self) -> dict:
        """The panel as dashboard.js's csvOf() reads a chart: one line per mention (labelled
        by rank), one column per series. Times are local to the user's zone, with offset."""
        columns: list[tuple[str, list]] = [
            ("Published", [self._local(r.published_at) for r in self.rows]),
            ("Author", [r.author_name for r in self.rows]),
            ("Handle", [r.author_handle for r in self.rows]),
            ("Platform", [r.platform for r in self.rows]),
            ("effective_label", [r.label for r in self.rows]),
            ("Engagement", [r.engagement for r in self.rows]),
            ("Likes", [r.likes for r in self.rows]),
            ("Replies", [r.replies for r in self.rows]),
            ("Reposts", [r.reposts for r in self.rows]),
            ("reach", [r.reach for r in self.rows]),
            ("Text", [r.excerpt for r in self.rows]),
            ("Link", [r.link for r in self.rows]),
            ("Mention id", [r.mention_id for r in self.rows]),
        ]
        return {
            "kind": "table",
            "unit": "count",
            "labels": [str(rank) for rank in range(1, len(self.rows) + 1)],
            "dates": None,
            "series": [{"label": name, "colour": "", "values": values} for name, values in columns],
            "links": [],
            "colours": None,
            "bounds": None,
        }

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).isoformat(timespec="seconds")


def engaged_panel(
    *,
    brand_id: int,
    brand_name: str,
    since: datetime,
    until: datetime,
    first: date,
    last: date,
    zone: tzinfo,
    mentions: int | None = None,
    empty: str = "",
) -> EngagedPanel:
    """The panel for a brand and period ([since, until): the local midnights of first and the
    day after last). ``mentions``: the brand's mentions in the period, as the overview's
    rollups already counted them (it picks the query's plan). ``empty``: the overview's
    reason when the period has no mention at all; then nothing is queried."""
    rows = (
        []
        if empty
        else engaged_mentions_top(brand_id=brand_id, since=since, until=until, mentions=mentions)
    )
    if not rows and not empty:
        empty = (
            f"None of the mentions of {brand_name} from {first:%Y-%m-%d} to {last:%Y-%m-%d} "
            "has any engagement (likes, replies or reposts), or their platforms do not say."
        )
    return EngagedPanel(
        rows=rows,
        explorer_link=explorer_url(brand=brand_id, since=first, until=last, sort="engagement"),
        empty=empty,
        zone=zone,
    )
