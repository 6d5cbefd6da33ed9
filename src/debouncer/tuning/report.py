"""What `debouncer tune` prints: a table per group, the recommendation, and the Terraform lines to paste; or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from debouncer.tuning.outcome import Outcome
from debouncer.tuning.recommend import GroupResult
from debouncer.tuning.simulation import Policy

HEADER = (
    f"{'debounce':>9} {'max wait':>9} {'AI calls/100':>13} {'too early':>10} {'(left/superseded)':>18} "
    f"{'p50 wait':>9} {'p95 wait':>9} {'$/1M msgs':>10}"
)


def row(outcome: Outcome, mark: str = "") -> str:
    """One candidate's line of the table."""
    c = outcome.candidate
    split = f"{outcome.early_sent}/{outcome.early_superseded}"
    return (
        f"{c.debounce_seconds:>8}s {c.max_wait_seconds:>8}s {outcome.ai_calls_per_100:>13.1f} "
        f"{outcome.early_share:>9.1%} {split:>18} {outcome.p50:>8.1f}s {outcome.p95:>8.1f}s "
        f"{outcome.cost_per_million:>10.2f}{mark}"
    )


def shown(result: GroupResult, max_early: float, everything: bool) -> list[Outcome]:
    """Every candidate, or one per window: the max wait the choice would take for it (else the least early)."""
    if everything:
        return list(result.outcomes)
    best: dict[int, Outcome] = {}
    for o in result.outcomes:
        d = o.candidate.debounce_seconds
        current = best.get(d)
        good = o.early_share <= max_early and o.unanswered == 0
        if current is None:
            best[d] = o
            continue
        current_good = current.early_share <= max_early and current.unanswered == 0
        if (good and not current_good) or (not current_good and not good and o.early_share < current.early_share):
            best[d] = o
    return [best[d] for d in sorted(best)]


def text_report(results: Sequence[GroupResult], policy: Policy, max_early: float, *, everything: bool = False) -> str:
    """The human report."""
    lines = [
        f"debouncer tune: AI answers {policy.ai_seconds:g} s after the claim; max_messages {policy.max_messages}; "
        f"supersede {'on' if policy.supersede else 'off'}; too early: at most {max_early:.0%} of bursts",
    ]
    for result in results:
        count = result.outcomes[0].messages if result.outcomes else 0
        source = "found in the data" if result.thought_gap_found else "given or default"
        lines += [
            "",
            f"{result.group.label()}: {count} messages in {result.conversations} conversations; thought gap "
            f"{result.thought_gap:.1f} s ({source})",
            HEADER,
        ]
        for o in shown(result, max_early, everything):
            lines.append(row(o, "  <- recommended" if o is result.recommended else ""))
        if result.recommended is None:
            lines.append(f"no candidate keeps bursts answered too early within {max_early:.0%}")
        else:
            r = result.recommended
            lines.append(
                f"recommended: debounce {r.candidate.debounce_seconds} s, max wait {r.candidate.max_wait_seconds} s: "
                f"{r.early_share:.1%} too early, answer {r.p50:.1f} s (p50) / {r.p95:.1f} s (p95) after the first "
                f"message, {r.ai_calls_per_100:.1f} AI calls per 100 messages"
            )
    terraform = terraform_lines(results)
    if terraform:
        lines += ["", "Terraform (paste into your .tfvars):", *terraform]
    return "\n".join(lines) + "\n"


def _deployment(results: Sequence[GroupResult]) -> GroupResult | None:
    """The group the deployment's own variables apply to: all tenantless messages."""
    untenanted = [r for r in results if r.group.tenant is None]
    if len(untenanted) == 1:
        return untenanted[0]
    return next((r for r in untenanted if r.group.channel is None), None)


def terraform_lines(results: Sequence[GroupResult]) -> list[str]:
    """The root variables for the deployment's conversations, and each tenant's settings (variables.tf `tenants`)."""
    lines = []
    deployment = _deployment(results)
    if deployment is not None and deployment.recommended is not None:
        c = deployment.recommended.candidate
        lines += [f"debounce_seconds = {c.debounce_seconds}", f"max_wait_seconds = {c.max_wait_seconds}"]
    for result in results:
        if result.group.tenant is None or result.recommended is None:
            continue
        c = result.recommended.candidate
        lines += [
            f'# tenants: in the entry with id = "{result.group.tenant}", merge into its settings:',
            f"settings = {{ debounce_seconds = {c.debounce_seconds}, max_wait_seconds = {c.max_wait_seconds} }}",
        ]
    return lines


def json_report(results: Sequence[GroupResult], policy: Policy, max_early: float) -> dict[str, Any]:
    """The same, for scripts."""

    def figures(o: Outcome) -> dict[str, Any]:
        return {
            "debounce_seconds": o.candidate.debounce_seconds,
            "max_wait_seconds": o.candidate.max_wait_seconds,
            "ai_calls_per_100_messages": round(o.ai_calls_per_100, 3),
            "too_early_share": round(o.early_share, 5),
            "too_early_left": o.early_sent,
            "too_early_superseded": o.early_superseded,
            "p50_seconds": round(o.p50, 3),
            "p95_seconds": round(o.p95, 3),
            "cost_per_million_messages": round(o.cost_per_million, 4),
            "unanswered": o.unanswered,
        }

    return {
        "max_early": max_early,
        "ai_seconds": policy.ai_seconds,
        "max_messages": policy.max_messages,
        "supersede": policy.supersede,
        "groups": [
            {
                "tenant": r.group.tenant,
                "channel": r.group.channel,
                "messages": r.outcomes[0].messages if r.outcomes else 0,
                "conversations": r.conversations,
                "thought_gap_seconds": round(r.thought_gap, 3),
                "thought_gap_found": r.thought_gap_found,
                "recommended": None if r.recommended is None else figures(r.recommended),
                "candidates": [figures(o) for o in r.outcomes],
            }
            for r in results
        ],
        "terraform": terraform_lines(results),
    }
