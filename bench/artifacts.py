"""Each Lambda artifact's size, and its cold import time measured with `python -X importtime`.

Sizes come from the zips tools/package.py builds for Lambda (python3.12, arm64), in a temporary directory so
build/ is left to `make package`. Import times come from the `--host` build of the same zips (the arm64 wheels
cannot load here), unzipped, imported in a fresh `python -I -S` with only the package and a stand-in for what the
Lambda runtime provides (boto3, botocore, with bytecode) on sys.path, in the environment Terraform gives the
function (tracing on, as `tracing_mode = "Active"` makes it). Each figure is the median over several processes of
the cumulative time of `import handler` (the handler module's own body included: clients, settings, app).
Two figures per function:
- as deployed: the zip carries no bytecode and /var/task is read-only, so every cold start compiles every module
  it imports from the zip; run with -B on a fresh unzip, so each run compiles too;
- bytecode cached: the same after one run wrote __pycache__, i.e. what shipping .pyc files would give.
"""

from __future__ import annotations

import json
import os
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
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
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
    import_ms_cached: list[float] = field(default_factory=list)
    top_imports: list[tuple[str, float]] = field(default_factory=list)
    top_self: list[tuple[str, float]] = field(default_factory=list)
    statements: list[tuple[str, float]] = field(default_factory=list)

    @property
    def deployed_ms(self) -> float:
        """Median cold import as deployed (compiling)."""
        return statistics.median(self.import_ms_deployed)

    @property
    def cached_ms(self) -> float:
        """Median cold import with bytecode cached."""
        return statistics.median(self.import_ms_cached)


def measure(runs: int = 5, progress: bool = True) -> list[ArtifactFigures]:
    """Build both variants, then time `runs` cold imports of each handler in each mode."""
    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        _package("--out", str(root / "lambda"))
        _package("--host", "--out", str(root / "host"), "--runtime-dir", str(root / "runtime"))
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "runtime")], check=True, timeout=300)
        if progress:
            print(f"artifacts: built the Lambda and host zips in {time.monotonic() - started:.0f} s", flush=True)
        figures = []
        for function in FUNCTIONS:
            lambda_zip = root / "lambda" / f"{function}.zip"
            with zipfile.ZipFile(lambda_zip) as zf:
                unzipped = sum(info.file_size for info in zf.infolist())
            figure = ArtifactFigures(function, lambda_zip.stat().st_size, unzipped)
            for run in range(runs):
                fresh = root / "unzipped" / f"{function}-{run}"
                _unzip(root / "host" / f"{function}.zip", fresh)
                total, _, _ = _import_time(fresh, root / "runtime", function, write_bytecode=False)
                figure.import_ms_deployed.append(total)
            cached = root / "unzipped" / f"{function}-cached"
            _unzip(root / "host" / f"{function}.zip", cached)
            _import_time(cached, root / "runtime", function, write_bytecode=True)  # writes __pycache__
            for _ in range(runs):
                total, direct, by_self = _import_time(cached, root / "runtime", function, write_bytecode=True)
                figure.import_ms_cached.append(total)
            figure.top_imports, figure.top_self = direct, by_self
            if function == "post_message":  # the one with an import-time target: name its offenders
                figure.statements = _statement_times(cached, root / "runtime", function)
            figures.append(figure)
            if progress:
                print(
                    f"artifacts: {function:<16} {figure.zipped_bytes / 2**20:5.2f} MiB zipped, import as deployed "
                    f"{figure.deployed_ms:4.0f} ms, bytecode cached {figure.cached_ms:4.0f} ms",
                    flush=True,
                )
        return figures


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
    package: Path, runtime: Path, function: str, *, write_bytecode: bool
) -> tuple[float, list[tuple[str, float]], list[tuple[str, float]]]:
    """Cumulative ms of `import handler`; its direct imports and the modules with most self time (name, ms)."""
    flags = ["-I", "-S", "-X", "importtime"] + ([] if write_bytecode else ["-B"])
    code = f"import sys; sys.path[:0] = [{str(package)!r}, {str(runtime)!r}]; import handler"
    proc = subprocess.run(
        [sys.executable, *flags, "-c", code],
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


def _statement_times(package: Path, runtime: Path, function: str) -> list[tuple[str, float]]:
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _STATEMENT_TIMER, str(package), str(runtime)],
        env=_environment(function),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        return []
    return [(str(s), float(t) * 1000) for s, t in json.loads(proc.stdout)]
