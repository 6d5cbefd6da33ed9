"""`debouncer tune --html`: one self-contained page (plotly's JavaScript embedded, no CDN) per run.

Per group: the trade-off curve (bursts answered too early against the median and p95 wait, one point per window at
the max wait the choice takes for it), the gap histogram on a log scale with the thought gap and the chosen window
marked, and the table. plotly is the optional `tune` extra, imported here only.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

from debouncer.tuning.recommend import GroupResult
from debouncer.tuning.report import HEADER, row, shown
from debouncer.tuning.simulation import Policy


class PlotlyMissingError(RuntimeError):
    """plotly is not installed: `pip install 'chat-debouncer[tune]'`."""


def write_html(path: Path, results: Sequence[GroupResult], policy: Policy, max_early: float) -> None:
    """Write the report to `path`."""
    try:
        import plotly.graph_objects as go  # type: ignore[import-untyped]
        from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]
    except ImportError as e:
        raise PlotlyMissingError("--html needs plotly: pip install 'chat-debouncer[tune]'") from e
    sections = []
    for result in results:
        points = shown(result, max_early, everything=False)
        curve = go.Figure()
        for name, wait in (("p50 wait", [o.p50 for o in points]), ("p95 wait", [o.p95 for o in points])):
            curve.add_trace(
                go.Scatter(
                    x=wait,
                    y=[100 * o.early_share for o in points],
                    mode="lines+markers",
                    name=name,
                    text=[
                        f"debounce {o.candidate.debounce_seconds}s, max wait {o.candidate.max_wait_seconds}s"
                        for o in points
                    ],
                    hovertemplate="%{text}<br>wait %{x:.1f}s<br>too early %{y:.1f}%<extra></extra>",
                )
            )
        curve.add_hline(y=100 * max_early, line_dash="dot", annotation_text=f"--max-early {max_early:.0%}")
        if result.recommended is not None:
            curve.add_trace(
                go.Scatter(
                    x=[result.recommended.p50],
                    y=[100 * result.recommended.early_share],
                    mode="markers",
                    marker={"size": 14, "symbol": "star"},
                    name="recommended",
                )
            )
        curve.update_layout(
            title="Trade-off: bursts answered too early against waiting time",
            xaxis_title="seconds from a burst's first message to its answer",
            yaxis_title="bursts answered too early (%)",
        )
        histogram = go.Figure(go.Histogram(x=[math.log10(g) for g in result.gaps], nbinsx=60, name="gaps"))
        histogram.add_vline(
            x=math.log10(result.thought_gap), line_dash="dash", annotation_text=f"thought gap {result.thought_gap:.1f}s"
        )
        if result.recommended is not None:
            window = result.recommended.candidate.debounce_seconds
            histogram.add_vline(x=math.log10(window), line_color="red", annotation_text=f"window {window}s")
        histogram.update_layout(
            title="Gaps between a person's consecutive messages",
            xaxis_title="gap, log10 seconds (0 = 1 s, 1 = 10 s, 2 = 100 s)",
            yaxis_title="gaps",
        )
        table = "\n".join(
            [HEADER] + [row(o, "  <- recommended" if o is result.recommended else "") for o in result.outcomes]
        )
        sections.append(
            f"<h2>{html.escape(result.group.label())}</h2>"
            + curve.to_html(full_html=False, include_plotlyjs=False)
            + histogram.to_html(full_html=False, include_plotlyjs=False)
            + f"<pre>{html.escape(table)}</pre>"
        )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>debouncer tune</title>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<h1>debouncer tune</h1><p>AI answers {policy.ai_seconds:g} s after the claim; bursts answered too early "
        f"allowed: {max_early:.0%}.</p>" + "".join(sections) + "</body></html>"
    )
    path.write_text(page, encoding="utf-8")
