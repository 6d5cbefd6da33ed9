"""The one table `make bench` prints, its targets and notes, and the same figures as JSON."""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

COLUMNS = ("figure", "ours (Standard)", "ours (Express)", "naive", "Std/naive", "Expr/naive", "unit")


@dataclass(frozen=True)
class Row:
    """One measured figure for each design. `express=None` with `same_in_express` prints '=' (mode-independent)."""

    section: str
    figure: str
    unit: str
    ours: float | None
    naive: float | None = None
    express: float | None = None
    same_in_express: bool = True

    @property
    def ratio(self) -> float | None:
        """Ours (Standard) over naive."""
        return _ratio(self.ours, self.naive)

    @property
    def express_ratio(self) -> float | None:
        """Ours (Express) over naive."""
        return _ratio(self.express, self.naive)


@dataclass(frozen=True)
class Target:
    """One target from the issues, the figure it is judged on, and whether it is met."""

    target: str
    measured: str
    met: bool


@dataclass
class Report:
    """Rows grouped by section, then targets and notes."""

    title: str
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        """The table as text, sections as separator lines, then targets and notes."""
        table: list[tuple[str, ...]] = []
        section = None
        for row in self.rows:
            if row.section != section:
                section = row.section
                table.append((f"-- {section}",))
            if row.express is not None:
                express = _fmt(row.express, row.unit)
            else:
                express = "=" if row.same_in_express and row.ours is not None else "-"
            table.append(
                (
                    "  " + row.figure,
                    _fmt(row.ours, row.unit),
                    express,
                    _fmt(row.naive, row.unit),
                    _fmt_ratio(row.ratio),
                    _fmt_ratio(row.express_ratio),
                    row.unit,
                )
            )
        widths = [max(len(r[i]) for r in [COLUMNS, *table] if len(r) > i) for i in range(len(COLUMNS))]
        lines = [self.title, ""]
        header = "  ".join(
            c.ljust(widths[i]) if i in (0, 6) else c.rjust(widths[i]) for i, c in enumerate(COLUMNS)
        ).rstrip()
        lines += [header, "-" * len(header)]
        for r in table:
            if len(r) == 1:
                lines.append(r[0])
                continue
            lines.append(
                "  ".join(c.ljust(widths[i]) if i in (0, 6) else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
            )
        lines += ["", "Targets"]
        for t in self.targets:
            lines.append(_wrap(f"[{'MET' if t.met else 'NOT MET'}] {t.target}: {t.measured}", "  "))
        lines += ["", "Notes"]
        lines += [_wrap(n, "  - ") for n in self.notes]
        return "\n".join(lines)

    def write_json(self, path: Path) -> None:
        """The same figures, machine-readable, for the README."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "title": self.title,
            "rows": [
                {
                    **asdict(r),
                    "express": r.express if r.express is not None or not r.same_in_express else r.ours,
                    "ratio_standard_to_naive": r.ratio,
                    "ratio_express_to_naive": r.express_ratio,
                }
                for r in self.rows
            ],
            "targets": [asdict(t) for t in self.targets],
            "notes": self.notes,
            **self.data,
        }
        path.write_text(json.dumps(_finite(payload), indent=1, sort_keys=False) + "\n")


def _wrap(text: str, first: str, width: int = 150) -> str:
    return textwrap.fill(text, width, initial_indent=first, subsequent_indent=" " * (len(first) + 2))


def _ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or not math.isfinite(value) or not math.isfinite(baseline) or baseline == 0:
        return None
    return value / baseline


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "n/a"
    if unit == "$":
        return f"{value:,.2f}"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _finite(value: Any) -> Any:
    """JSON has no NaN: not-measured figures become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
