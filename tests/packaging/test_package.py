"""tools/package.py: reproducible Lambda zips with the right contents, whose handlers import on their own.

The Lambda zips carry cp312/aarch64 wheels (pydantic-core, rpds-py, wrapt), which cannot load on this x86_64,
cp311 machine. So the import test builds the same zips through the same code path with `--host` (wheels for this
interpreter and machine) and imports each handler from that build in a clean interpreter: `python -I -S`, with
only the unzipped package and a stand-in for what the Lambda runtime provides (boto3, botocore) on sys.path.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("packaging")

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / "tools" / "package.py"
FUNCTIONS = ("post_message", "process_message", "reply")
RUNTIME_PROVIDED_TOP_LEVEL = ("boto3", "botocore", "s3transfer", "dateutil", "six.py", "urllib3")
# What Terraform sets on every function, enough for the handlers' module-level wiring to build its clients.
LAMBDA_ENV = {
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "TABLE_NAME": "chat-debouncer",
    "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:chat-debouncer",
    "POWERTOOLS_SERVICE_NAME": "chat-debouncer",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def run_package(*args: str) -> str:
    """Run tools/package.py as `make package` does, returning its stdout (the size table)."""
    proc = subprocess.run(
        [sys.executable, str(PACKAGE), *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=900
    )
    assert proc.returncode == 0, f"package.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def lambda_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Two independent arm64 builds (separate processes, so different hash seeds) and the first one's table."""
    first, second = tmp_path_factory.mktemp("build-a"), tmp_path_factory.mktemp("build-b")
    table = run_package("--out", str(first))
    run_package("--arch", "arm64", "--out", str(second))
    return first, second, table


@pytest.fixture(scope="module")
def host_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The host-platform variant of the zips, plus the runtime-provided packages unpacked beside them."""
    out, runtime = tmp_path_factory.mktemp("build-host"), tmp_path_factory.mktemp("lambda-runtime")
    run_package("--host", "--out", str(out), "--runtime-dir", str(runtime))
    return out, runtime


def test_two_builds_are_byte_identical(lambda_builds: tuple[Path, Path, str]) -> None:
    """Same inputs, same bytes: Terraform's source_code_hash changes only when the code or a pin does."""
    first, second, _ = lambda_builds
    for function in FUNCTIONS:
        assert (first / f"{function}.zip").read_bytes() == (second / f"{function}.zip").read_bytes(), function


def test_size_table_is_printed(lambda_builds: tuple[Path, Path, str]) -> None:
    """The build reports each artifact's size in bytes and MiB."""
    table = lambda_builds[2]
    assert "zip B" in table and "zip MiB" in table
    for function in FUNCTIONS:
        assert f"{function}.zip" in table


@pytest.mark.parametrize("function", FUNCTIONS)
def test_zip_layout(function: str, lambda_builds: tuple[Path, Path, str]) -> None:
    """Handler at the root, core package with its schemas, arm64 cp312 wheels; no tests, bytecode or boto3."""
    with zipfile.ZipFile(lambda_builds[0] / f"{function}.zip") as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert zf.read("handler.py") == (REPO_ROOT / "lambda" / function / "handler.py").read_bytes()
    assert names == sorted(names)
    assert {(i.date_time, i.external_attr >> 16, i.compress_type) for i in infos} == {
        ((1980, 1, 1, 0, 0, 0), 0o100644, zipfile.ZIP_DEFLATED)
    }
    assert "debouncer/__init__.py" in names
    schemas = sorted(p.name for p in (REPO_ROOT / "schemas").glob("*.json"))
    assert sorted(n.removeprefix("debouncer/schemas/") for n in names if n.startswith("debouncer/schemas/")) == schemas
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if "/tests/" in n and n.startswith("debouncer/")]
    assert not [n for n in names if n.startswith(("statemachines/", "lambda/", "src/"))]
    top_level = {n.split("/")[0] for n in names}
    assert not top_level & set(RUNTIME_PROVIDED_TOP_LEVEL), "the Lambda runtime provides boto3/botocore"
    assert "jmespath" in top_level, "Powertools needs jmespath even though botocore also brings it"
    compiled = [n for n in names if n.endswith(".so")]
    assert compiled and all("cpython-312-aarch64-linux-gnu" in n for n in compiled), compiled


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_imports_in_clean_interpreter(function: str, host_build: tuple[Path, Path], tmp_path: Path) -> None:
    """The unzipped package alone (plus boto3, as on Lambda) is enough to import the handler and find `handler`."""
    out, runtime = host_build
    unpacked = tmp_path / function
    with zipfile.ZipFile(out / f"{function}.zip") as zf:
        zf.extractall(unpacked)
    # -I: no PYTHON* variables, no user site, no cwd on sys.path; -S: no site-packages (so not this venv's).
    probe = (
        "import sys\n"
        f"sys.path[:0] = [{str(unpacked)!r}, {str(runtime)!r}]\n"
        "import handler, debouncer\n"
        "assert callable(handler.handler), 'handler(event, context) is missing'\n"
        f"assert debouncer.__file__.startswith({str(unpacked)!r}), debouncer.__file__\n"
        "from debouncer.schemas import SCHEMA_DIR\n"
        f"assert str(SCHEMA_DIR).startswith({str(unpacked)!r}), SCHEMA_DIR\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        cwd=tmp_path,
        env=LAMBDA_ENV,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, f"importing {function}/handler.py failed:\n{proc.stderr[-4000:]}"
