"""tools/package.py: reproducible Lambda zips with the right contents and bytecode, whose handlers import on their own.

The default (arm64) zips carry cp313/aarch64 wheels (pydantic-core, rpds-py, wrapt), which cannot load on this
x86_64 machine. So the import tests build the x86_64 zips through the same code path and import each handler from
them with the runtime's own interpreter (CPython 3.13, fetched by tools/runtime_python.py) in a clean process:
`python3.13 -I -S -B`, with only the unzipped package and a stand-in for what the Lambda runtime provides (boto3,
botocore) on sys.path.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

pytestmark = pytest.mark.xdist_group("packaging")

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / "tools" / "package.py"
RUNTIME_PYTHON = REPO_ROOT / "tools" / "runtime_python.py"
# PEP 552: the pyc header's flags word. Bit 0: hash-based; bit 1: check the source. Unchecked hash is 0b01.
UNCHECKED_HASH_FLAGS = 0b01
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


def run_package(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run tools/package.py as `make package` does."""
    return subprocess.run(
        [sys.executable, str(PACKAGE), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env=env,
    )


def build(*args: str) -> str:
    """A build that must succeed, returning its stdout (the size table)."""
    proc = run_package(*args)
    assert proc.returncode == 0, f"package.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def python313() -> Path:
    """The runtime's interpreter, as `make package` gets it (fetched into .cache/python3.13/ on first use)."""
    proc = subprocess.run(
        [sys.executable, str(RUNTIME_PYTHON)], capture_output=True, text=True, check=False, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Path(proc.stdout.strip())


@pytest.fixture(scope="module")
def lambda_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Two arm64 builds in separate processes (so different hash seeds) and the first one's table: the first compiles
    every module into a bytecode cache of its own; the second uses make package's cache, which a fresh clone fills
    there by compiling everything again (and a warm one serves: then it checks the cache gives the same bytes)."""
    first, second = tmp_path_factory.mktemp("build-a"), tmp_path_factory.mktemp("build-b")
    table = build("--out", str(first), "--pyc-cache", str(tmp_path_factory.mktemp("pyc-a")))
    build("--arch", "arm64", "--out", str(second))
    return first, second, table


@pytest.fixture(scope="module")
def x86_64_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The x86_64 zips, which load here, plus the runtime-provided packages unpacked beside them."""
    out, runtime = tmp_path_factory.mktemp("build-x86_64"), tmp_path_factory.mktemp("lambda-runtime")
    build("--arch", "x86_64", "--out", str(out), "--runtime-dir", str(runtime))
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
    """Handler at the root, core package with its schemas, arm64 cp313 wheels; no tests or boto3."""
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
    assert not [n for n in names if "/tests/" in n and n.startswith("debouncer/")]
    assert not [n for n in names if n.startswith(("statemachines/", "lambda/", "src/"))]
    top_level = {n.split("/")[0] for n in names}
    assert not top_level & set(RUNTIME_PROVIDED_TOP_LEVEL), "the Lambda runtime provides boto3/botocore"
    assert "jmespath" in top_level, "Powertools needs jmespath even though botocore also brings it"
    compiled = [n for n in names if n.endswith(".so")]
    assert compiled and all("cpython-313-aarch64-linux-gnu" in n for n in compiled), compiled


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_module_has_unchecked_hash_bytecode(
    function: str, lambda_builds: tuple[Path, Path, str], python313: Path
) -> None:
    """Each .py, ours and the dependencies' alike, has exactly one cpython-313 pyc: 3.13's magic, unchecked hash."""
    magic = subprocess.run(
        [str(python313), "-I", "-S", "-c", "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    with zipfile.ZipFile(lambda_builds[0] / f"{function}.zip") as zf:
        names = set(zf.namelist())
        sources = {n for n in names if n.endswith(".py")}
        pycs = {n for n in names if n.endswith(".pyc")}
        expected = {pyc_path(n) for n in sources}
        assert len(sources) > 500, "the dependencies' modules are compiled too"
        assert pycs == expected, (sorted(pycs - expected)[:5], sorted(expected - pycs)[:5])
        assert not [n for n in names if "__pycache__/" in n and not n.endswith(".cpython-313.pyc")]
        for pyc in sorted(pycs):
            header = zf.read(pyc)[:16]
            assert header[:4].hex() == magic, pyc
            assert struct.unpack("<I", header[4:8])[0] == UNCHECKED_HASH_FLAGS, pyc


def pyc_path(source: str) -> str:
    """Where Python 3.13 looks for a module's bytecode: pkg/mod.py -> pkg/__pycache__/mod.cpython-313.pyc."""
    path = PurePosixPath(source)
    return str(path.parent / "__pycache__" / f"{path.stem}.cpython-313.pyc").removeprefix("./")


@pytest.mark.parametrize("interpreter", ["/nonexistent/python3.13", sys.executable], ids=["missing", "wrong-version"])
def test_build_without_python313_fails_loudly(interpreter: str, tmp_path: Path) -> None:
    """No Python 3.13, no zips: the build says so and what to do, instead of shipping source only."""
    env = {**os.environ, "RUNTIME_PYTHON": interpreter}
    proc = run_package("--out", str(tmp_path / "out"), env=env)
    assert proc.returncode == 1
    assert "no Python 3.13 to compile the Lambda zips' bytecode, so nothing was built" in proc.stderr
    assert "make runtime-python" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_imports_in_clean_interpreter(
    function: str, x86_64_build: tuple[Path, Path], python313: Path, tmp_path: Path
) -> None:
    """The unzipped package alone (plus boto3, as on Lambda) is enough for Python 3.13 to import the handler."""
    out, runtime = x86_64_build
    unpacked = tmp_path / function
    with zipfile.ZipFile(out / f"{function}.zip") as zf:
        zf.extractall(unpacked)
    # -I: no PYTHON* variables, no user site, no cwd on sys.path; -S: no site-packages; -B: /var/task is read-only.
    probe = (
        "import sys\n"
        f"sys.path[:0] = [{str(unpacked)!r}, {str(runtime)!r}]\n"
        "import handler, debouncer\n"
        "assert callable(handler.handler), 'handler(event, context) is missing'\n"
        f"assert debouncer.__file__.startswith({str(unpacked)!r}), debouncer.__file__\n"
        "from debouncer.schemas import SCHEMA_DIR\n"
        f"assert str(SCHEMA_DIR).startswith({str(unpacked)!r}), SCHEMA_DIR\n"
    )
    proc = import_in_python313(python313, probe)
    assert proc.returncode == 0, f"importing {function}/handler.py failed:\n{proc.stderr[-4000:]}"


def test_handler_imports_from_bytecode_alone(x86_64_build: tuple[Path, Path], python313: Path, tmp_path: Path) -> None:
    """With every source in the zip replaced by one that raises, the handler still imports: nothing is compiled."""
    out, runtime = x86_64_build
    unpacked = tmp_path / "post_message"
    with zipfile.ZipFile(out / "post_message.zip") as zf:
        zf.extractall(unpacked)
    # Unchecked-hash pycs are loaded without reading their source, so a poisoned source is never run.
    for source in unpacked.rglob("*.py"):
        source.write_text("raise ImportError('compiled from source: its pyc was missing or not used')\n")
    probe = f"import sys; sys.path[:0] = [{str(unpacked)!r}, {str(runtime)!r}]; import handler; handler.handler"
    proc = import_in_python313(python313, probe)
    assert proc.returncode == 0, f"post_message needed a source file:\n{proc.stderr[-4000:]}"


def import_in_python313(python313: Path, probe: str) -> subprocess.CompletedProcess[str]:
    """Run probe as Lambda would import the handler: isolated, no site-packages, no bytecode written."""
    return subprocess.run(
        [str(python313), "-I", "-S", "-B", "-c", probe],
        env=LAMBDA_ENV,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
