"""checkov on the Terraform (root module + modules/): zero failed checks; skips only inline, each with a reason.

checkov pins an old boto3, so it runs from its own venv (.venv-checkov, created by `make checkov-venv` from
tools/checkov-requirements.txt) as a subprocess rather than being imported here.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# checkov is the slowest check here; keep its runs on one xdist worker.
pytestmark = pytest.mark.xdist_group("checkov")

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
# `#checkov:skip=CKV_AWS_117: reason` (checkov also accepts `# checkov:skip=...` and `//` comments).
SKIP_COMMENT = re.compile(r"(?:#|//)\s*checkov:skip=([^\s:]*)(?::(.*))?")
CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
MIN_REASON_LENGTH = 10
QUIET_JSON = ("--quiet", "--compact", "-o", "json")


@dataclass(frozen=True)
class CheckovReport:
    """The parts of checkov's JSON report the assertions need."""

    summary: dict[str, Any]
    failed: list[dict[str, Any]]


def run_checkov(directory: Path) -> CheckovReport:
    """Run checkov (terraform framework, offline) on a directory and parse its JSON report."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make checkov-venv` (make test does it)"
    proc = subprocess.run(
        # --skip-download: no Prisma Cloud calls (CI has no network beyond package registries).
        [str(CHECKOV), "-d", str(directory), "--framework", "terraform", *QUIET_JSON, "--skip-download"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # Exit 1 only means "some check failed"; anything else is checkov itself failing.
    assert proc.returncode in (0, 1), f"checkov exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout)
    # One framework gives one report object; an empty directory gives a bare summary.
    reports = report if isinstance(report, list) else [report]
    summary: dict[str, Any] = {}
    failed: list[dict[str, Any]] = []
    for item in reports:
        item_summary = item.get("summary", item)
        for key in ("passed", "failed", "skipped", "parsing_errors", "resource_count"):
            summary[key] = summary.get(key, 0) + item_summary.get(key, 0)
        failed += item.get("results", {}).get("failed_checks", [])
    return CheckovReport(summary, failed)


def describe(check: dict[str, Any]) -> str:
    """One line per failed check: id, resource, file:lines, title."""
    lines = check.get("file_line_range") or ["?", "?"]
    return (
        f"{check['check_id']} {check.get('resource')} {check.get('file_path')}:{lines[0]}-{lines[1]} "
        f"{check.get('check_name')}"
    )


def bad_skip_comments(text: str) -> list[str]:
    """Inline skips that lack a valid check id or a one-line reason."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in SKIP_COMMENT.finditer(line):
            check_id, reason = match.group(1), (match.group(2) or "").strip()
            if not CHECK_ID.match(check_id):
                problems.append(f"line {number}: {check_id!r} is not a checkov check id")
            elif len(reason) < MIN_REASON_LENGTH:
                problems.append(f"line {number}: skip of {check_id} has no reason (`checkov:skip={check_id}: why`)")
    return problems


@pytest.fixture(scope="module")
def repo_report() -> CheckovReport:
    """One checkov run over the repository (hidden directories such as .venv are ignored by checkov)."""
    return run_checkov(REPO_ROOT)


def test_checkov_parsed_everything(repo_report: CheckovReport) -> None:
    """checkov saw resources and parsed every file."""
    assert repo_report.summary["parsing_errors"] == 0, repo_report.summary
    assert repo_report.summary["resource_count"] > 0, "checkov found no Terraform resources"


def test_checkov_has_no_failed_checks(repo_report: CheckovReport) -> None:
    """Zero failed checks: fix the resource or add a justified inline skip."""
    assert not repo_report.failed, f"{len(repo_report.failed)} failed checks:\n" + "\n".join(
        sorted({describe(c) for c in repo_report.failed})
    )


def test_every_inline_skip_has_a_reason(tf_file: Path) -> None:
    """Each `checkov:skip=` names a real check id and says why in one line."""
    problems = bad_skip_comments(tf_file.read_text())
    assert not problems, f"{tf_file.relative_to(REPO_ROOT)}:\n" + "\n".join(problems)


def test_no_skips_outside_the_tf_files() -> None:
    """Skips live next to the resource they excuse, never in a global checkov config."""
    for config in (REPO_ROOT / ".checkov.yaml", REPO_ROOT / ".checkov.yml"):
        if config.exists():
            text = config.read_text()
            for forbidden in ("skip-check", "soft-fail", "skip-path", "skip-framework"):
                assert forbidden not in text, f"{config.name} must not use {forbidden}; skip inline with a reason"


# --- self-tests --------------------------------------------------------------------------------------------------


def test_skip_reason_check() -> None:
    """Skips without a reason or with a malformed id are reported; justified ones are not."""
    text = (
        "#checkov:skip=CKV_AWS_117: Calls only public endpoints; no VPC resources.\n"
        "  # checkov:skip=CKV_AWS_338:Retention is an operator setting.\n"
        "  #checkov:skip=CKV_AWS_116\n"
        "  #checkov:skip=CKV_AWS_272:  \n"
        "  // checkov:skip=CKV2_AWS_5: ok\n"
        "  #checkov:skip=all: everything, please\n"
    )
    assert bad_skip_comments(text) == [
        "line 3: skip of CKV_AWS_116 has no reason (`checkov:skip=CKV_AWS_116: why`)",
        "line 4: skip of CKV_AWS_272 has no reason (`checkov:skip=CKV_AWS_272: why`)",
        "line 5: skip of CKV2_AWS_5 has no reason (`checkov:skip=CKV2_AWS_5: why`)",
        "line 6: 'all' is not a checkov check id",
    ]


def test_checkov_reports_failures_and_honours_inline_skips(tmp_path: Path) -> None:
    """The harness surfaces a failing check, and an inline skip turns exactly that check into a skip."""
    # GIVEN an unencrypted queue, once as is and once with a justified skip of the encryption check
    (tmp_path / "main.tf").write_text(
        'resource "aws_sqs_queue" "plain" {\n  name = "plain"\n}\n'
        'resource "aws_sqs_queue" "skipped" {\n'
        "  #checkov:skip=CKV_AWS_27: self-test of the skip mechanism\n"
        '  name = "skipped"\n}\n'
    )
    # WHEN checkov runs on it
    report = run_checkov(tmp_path)
    # THEN the plain queue fails CKV_AWS_27 and the other one does not
    failing = {(c["check_id"], c["resource"]) for c in report.failed}
    assert ("CKV_AWS_27", "aws_sqs_queue.plain") in failing
    assert ("CKV_AWS_27", "aws_sqs_queue.skipped") not in failing
    assert report.summary["skipped"] == 1
