"""Each Lambda artifact's size, and its cold import time measured with `python3.13 -X importtime`.

Sizes come from the zips tools/package.py builds for Lambda (python3.13, arm64), in a temporary directory so
build/ is left to `make package`. Import times come from the x86_64 build of the same zips, exactly as deployed
(bytecode inside), imported by the runtime's own interpreter (CPython 3.13 from Debian trixie, fetched by
tools/runtime_python.py), since the arm64 wheels cannot load here: unzipped, imported in a fresh
`python3.13 -I -S -B` with only the package and a stand-in for what the Lambda runtime provides (boto3, botocore,
compiled by the same interpreter) on sys.path, in the environment Terraform gives the function (tracing on, as
`tracing_mode = "Active"` makes it). -B because /var/task is read-only: nothing a run compiles is kept. Each figure
is the median over several processes of the cumulative time of `import handler` (the handler module's own body
included: clients, settings, app).
Two figures per function:
- as deployed: the zip as built, with its unchecked-hash cpython-313 pycs;
- source only: the same zip with every __pycache__ removed, i.e. what zips without bytecode cost: every cold start
  compiles every module it imports.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = ("post_message", "process_message", "reply")
LAMBDA_ENV = {
    # Set by the Lambda runtime itself. LAMBDA_TASK_ROOT also tells the X-Ray SDK it runs in Lambda: without it, its
    # import builds a centralized-sampling X-Ray client (~100 ms) that no Lambda function ever builds.
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "TABLE_NAME": "chat-debouncer",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:chat-debouncer",
    "POWERTOOLS_SERVICE_NAME": "chat-debouncer",
    "POWERTOOLS_METRICS_NAMESPACE": "chat-debouncer",
    "LOG_LEVEL": "INFO",
    "SECRETS_SOURCE": "ssm",
    "META_APP_SECRET_PARAM": "/chat-debouncer/meta_app_secret",
    "META_VERIFY_TOKEN_PARAM": "/chat-debouncer/meta_verify_token",
    "TELEGRAM_SECRET_TOKEN_PARAM": "/chat-debouncer/telegram_secret_token",
    "GENERIC_SECRET_PARAM": "/chat-debouncer/generic_secret",
    "AI_PROVIDER": "echo",
}
# Times each top-level statement of handler.py, so an offender in the module body has a name.
_STATEMENT_TIMER = """
import ast, json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
source = open(sys.argv[1] + "/handler.py").read()
namespace = {"__name__": "handler", "__file__": sys.argv[1] + "/handler.py"}
timings = []
for node in ast.parse(source).body:
    code = compile(ast.Module(body=[node], type_ignores=[]), "handler.py", "exec")
    start = time.perf_counter()
    exec(code, namespace)
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        label = f"def {node.name}(...)"
    else:
        label = ast.get_source_segment(source, node).splitlines()[0].strip()
    timings.append([label, time.perf_counter() - start])
print(json.dumps(timings))
"""


@dataclass
class ArtifactFigures:
    """One function's package size and import times."""

    function: str
    zipped_bytes: int
    unzipped_bytes: int
    import_ms_deployed: list[float] = field(default_factory=list)
    import_ms_source_only: list[float] = field(default_factory=list)
    # Offenders as deployed: the handler's direct imports (cumulative ms) and the modules with most self time.
    top_imports: list[tuple[str, float]] = field(default_factory=list)
    top_self: list[tuple[str, float]] = field(default_factory=list)
    # The same without bytecode: where compiling costs most.
    top_imports_source_only: list[tuple[str, float]] = field(default_factory=list)
    top_self_source_only: list[tuple[str, float]] = field(default_factory=list)
    statements: list[tuple[str, float]] = field(default_factory=list)
    interpreter: str = ""

    @property
    def deployed_ms(self) -> float:
        """Median cold import as deployed (bytecode in the zip)."""
        return statistics.median(self.import_ms_deployed)

    @property
    def source_only_ms(self) -> float:
        """Median cold import of the same zip without its bytecode (compiling every module)."""
        return statistics.median(self.import_ms_source_only)


def measure(runs: int = 5, progress: bool = True) -> list[ArtifactFigures]:
    """Build the zips, then time `runs` cold imports of each handler, as deployed and source only."""
    python = runtime_python()
    version = subprocess.run(
        [str(python), "-I", "-S", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        _package("--arch", "arm64", "--out", str(root / "arm64"))
        _package("--arch", "x86_64", "--out", str(root / "x86_64"), "--runtime-dir", str(root / "runtime"))
        if progress:
            print(f"artifacts: built the arm64 and x86_64 zips in {time.monotonic() - started:.0f} s", flush=True)
        figures = []
        for function in FUNCTIONS:
            sized = root / "arm64" / f"{function}.zip"
            with zipfile.ZipFile(sized) as zf:
                unzipped = sum(info.file_size for info in zf.infolist())
            figure = ArtifactFigures(function, sized.stat().st_size, unzipped, interpreter=f"CPython {version}")
            deployed = root / "unzipped" / f"{function}-deployed"
            _unzip(root / "x86_64" / f"{function}.zip", deployed)
            source_only = root / "unzipped" / f"{function}-source-only"
            _unzip(root / "x86_64" / f"{function}.zip", source_only)
            for cache in sorted(source_only.rglob("__pycache__"), reverse=True):
                shutil.rmtree(cache)
            # Alternate the two modes, so that a burst of load on the machine weighs on both alike.
            for _ in range(runs):
                total, direct, by_self = _import_time(python, deployed, root / "runtime", function)
                figure.import_ms_deployed.append(total)
                figure.top_imports, figure.top_self = direct, by_self
                total, direct, by_self = _import_time(python, source_only, root / "runtime", function)
                figure.import_ms_source_only.append(total)
                figure.top_imports_source_only, figure.top_self_source_only = direct, by_self
            if function == "post_message":  # the one with an import-time target: name its offenders
                figure.statements = _statement_times(python, deployed, root / "runtime", function)
            figures.append(figure)
            if progress:
                print(
                    f"artifacts: {function:<16} {figure.zipped_bytes / 2**20:5.2f} MiB zipped, import (Python"
                    f" {version}) as deployed {figure.deployed_ms:4.0f} ms,"
                    f" source only {figure.source_only_ms:4.0f} ms",
                    flush=True,
                )
        return figures


def runtime_python() -> Path:
    """The Lambda runtime's interpreter, fetched by tools/runtime_python.py on first use (its progress shown)."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "runtime_python.py")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError("no Python 3.13 to measure imports with: tools/runtime_python.py failed (message above)")
    return Path(proc.stdout.strip())


def _package(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "package.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"tools/package.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")


def _unzip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(into)


def _environment(function: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **LAMBDA_ENV, "AWS_LAMBDA_FUNCTION_NAME": function}


def _import_time(
    python: Path, package: Path, runtime: Path, function: str
) -> tuple[float, list[tuple[str, float]], list[tuple[str, float]]]:
    """Cumulative ms of `import handler`; its direct imports and the modules with most self time (name, ms)."""
    code = f"import sys; sys.path[:0] = [{str(package)!r}, {str(runtime)!r}]; import handler"
    proc = subprocess.run(
        [str(python), "-I", "-S", "-B", "-X", "importtime", "-c", code],
        env=_environment(function),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"importing {function}'s handler failed:\n{proc.stderr[-3000:]}")
    tree: list[tuple[str, int, float, float]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        if not cumulative.strip().isdigit():
            continue
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        tree.append((name.strip(), depth, int(cumulative) / 1000, int(own) / 1000))
    # -X importtime prints a module after everything it imported: the handler's imports precede it.
    end = next(i for i, (name, depth, _, _) in enumerate(tree) if name == "handler" and depth == 0)
    start = max((i + 1 for i, (_, depth, _, _) in enumerate(tree[:end]) if depth == 0), default=0)
    under = tree[start:end]
    direct = sorted(((n, ms) for n, d, ms, _ in under if d == 1), key=lambda x: -x[1])
    by_self = sorted(((n, own) for n, _, _, own in under), key=lambda x: -x[1])
    return tree[end][2], direct[:6], by_self[:8]


def _statement_times(python: Path, package: Path, runtime: Path, function: str) -> list[tuple[str, float]]:
    proc = subprocess.run(
        [str(python), "-I", "-S", "-B", "-c", _STATEMENT_TIMER, str(package), str(runtime)],
        env=_environment(function),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        return []
    return [(str(s), float(t) * 1000) for s, t in json.loads(proc.stdout)]
