"""Build one reproducible deployment zip per Lambda function (python3.13, arm64 by default) into build/.

Each zip holds, at its root:
- `handler.py`, from lambda/<name>/handler.py;
- the `debouncer` package from src/ (no tests), with schemas/*.json copied to debouncer/schemas/, where the code
  looks first;
- the runtime dependencies: pyproject.toml `[project].dependencies`, resolved with constraints.txt, as wheels
  for the target platform, unzipped. boto3 and botocore are left out because the Lambda python runtime provides
  them, and so is every package that only they need (s3transfer, python-dateutil, ...). A package that another
  dependency also needs (jmespath, for Powertools) stays in.
- bytecode for every .py above, sources and dependencies alike: `__pycache__/<name>.cpython-313.pyc`, compiled by
  CPython 3.13 itself (tools/runtime_python.py fetches it) as unchecked-hash pycs (PEP 552). /var/task is
  read-only, so without them every cold start would compile each module it imports; unchecked-hash pycs carry no
  timestamp, and the runtime loads them without reading the source. Any bytecode a wheel ships is dropped first.
  If no Python 3.13 can be had, the build fails: it never ships source only.

Reproducible byte for byte from the same inputs, zlib and compiling interpreter: entries sorted, every timestamp
1980-01-01, every mode 0644, no directory entries, fixed deflate level; pycs compiled in a fixed order by one
process with a fixed hash seed and fixed source paths (/var/task/...). `make package` and the tests build the same
way.

Per-function zips rather than a shared layer: the three functions share one dependency set, so a layer would
upload it once instead of three times, but it adds a separately versioned artifact that must stay in step with
the code, and it does not make cold starts faster. At a few MiB per zip, plain zips are the simpler choice.

`--arch x86_64` zips import here under the fetched 3.13 interpreter (the bench and the tests do so). `--host` builds
the same zips for this interpreter and machine instead, bytecode compiled by this interpreter.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import runtime_python  # tools/runtime_python.py: run as tools/package.py, tools/ is on sys.path
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("post_message", "process_message", "reply")
# The Lambda runtime, and the Python that compiles the zips' bytecode: see the README's "Lambda runtime: python3.13".
LAMBDA_PYTHON = runtime_python.RUNTIME_MINOR
# The Lambda python runtime ships these; bundling them would only add ~25 MiB per function.
RUNTIME_PROVIDED = {canonicalize_name("boto3"), canonicalize_name("botocore")}
# Lambda quotas: direct upload of a zip, and the unzipped function (layers included).
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16
_DEFLATE_LEVEL = 9
_UNIX = 3


@dataclass(frozen=True)
class Target:
    """Where the zips will run: decides which wheels pip picks and how dependency markers evaluate."""

    name: str
    pip_args: tuple[str, ...]
    markers: dict[str, str]
    python_tag: str  # the bytecode's cache tag, e.g. cpython-313


def lambda_target(arch: str) -> Target:
    """AWS Lambda python3.13 on arm64 or x86_64 (Amazon Linux 2023, glibc 2.34)."""
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
    markers = {
        "implementation_name": "cpython",
        "implementation_version": f"{LAMBDA_PYTHON}.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_full_version": f"{LAMBDA_PYTHON}.0",
        "python_version": LAMBDA_PYTHON,
        "sys_platform": "linux",
    }
    abi = "cp" + LAMBDA_PYTHON.replace(".", "")
    pip_args = (
        *("--platform", f"manylinux2014_{machine}", "--python-version", LAMBDA_PYTHON),
        *("--implementation", "cp", "--abi", abi),
    )
    return Target(f"lambda-{abi}-{arch}", pip_args, markers, f"cpython-{abi.removeprefix('cp')}")


def host_target() -> Target:
    """This interpreter on this machine: pip's defaults, markers as they evaluate here."""
    markers = {k: str(v) for k, v in default_environment().items()}
    tag = f"{sys.version_info.major}{sys.version_info.minor}"
    return Target(f"host-cp{tag}-{platform.machine()}", (), markers, f"cpython-{tag}")


@dataclass
class Wheel:
    """A downloaded wheel and the requirements it declares."""

    path: Path
    name: NormalizedName
    requires: list[Requirement] = field(default_factory=list)


def project_dependencies(pyproject: Path) -> list[Requirement]:
    """The pinned runtime dependencies of pyproject.toml."""
    data = tomllib.loads(pyproject.read_text())
    return [Requirement(spec) for spec in data["project"]["dependencies"]]


def _cache_key(requirements: Iterable[Requirement], constraints: bytes, target: Target) -> str:
    """Hash of everything that decides the wheel set, so a cached set is reused only when it still applies."""
    digest = hashlib.sha256()
    digest.update("\n".join(sorted(map(str, requirements))).encode())
    digest.update(constraints)
    digest.update(json.dumps([target.pip_args, target.markers], sort_keys=True).encode())
    return digest.hexdigest()[:16]


def download_wheels(requirements: list[Requirement], target: Target, cache_dir: Path, constraints: Path) -> list[Path]:
    """Download (once; later runs stay offline) the wheels of requirements and their dependencies for target."""
    wheel_dir = cache_dir / target.name
    lock = wheel_dir / f"wheels-{_cache_key(requirements, constraints.read_bytes(), target)}.json"
    if lock.exists():
        names: list[str] = json.loads(lock.read_text())
        if all((wheel_dir / n).exists() for n in names):
            return [wheel_dir / n for n in names]
    wheel_dir.mkdir(parents=True, exist_ok=True)
    # A fresh directory holds exactly the wheels this resolution chose, whatever older runs left in the cache.
    with tempfile.TemporaryDirectory(dir=wheel_dir) as tmp:
        subprocess.run(  # noqa: S603 - fixed argv; requirements are the project's own pins
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                *target.pip_args,
                "--constraint",
                str(constraints),
                "--dest",
                tmp,
                *map(str, requirements),
            ],
            check=True,
        )
        names = sorted(p.name for p in Path(tmp).glob("*.whl"))
        for name in names:
            Path(tmp, name).replace(wheel_dir / name)
    lock.write_text(json.dumps(names, indent=1) + "\n")
    return [wheel_dir / n for n in names]


def read_wheel(path: Path) -> Wheel:
    """Name and Requires-Dist of a wheel, from its METADATA."""
    name = parse_wheel_filename(path.name)[0]
    with zipfile.ZipFile(path) as zf:
        metadata_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        metadata = zf.read(metadata_name).decode()
    requires = [
        Requirement(line.split(":", 1)[1].strip())
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    return Wheel(path, name, requires)


def closure(roots: Iterable[Requirement], wheels: dict[NormalizedName, Wheel], target: Target) -> set[NormalizedName]:
    """Distributions reachable from roots for target, never walking into the runtime-provided ones."""
    needed: set[NormalizedName] = set()
    pending: list[tuple[Requirement, str]] = [(r, "") for r in roots]
    while pending:
        requirement, extra = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in RUNTIME_PROVIDED:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({**target.markers, "extra": extra}):
            continue
        if name not in wheels:
            raise RuntimeError(f"{requirement} is needed for {target.name} but no wheel was downloaded for it")
        first_visit = name not in needed
        needed.add(name)
        # Revisit with each requested extra, since an extra adds requirements (powertools[tracer] -> aws-xray-sdk).
        for wanted in sorted(requirement.extras) + ([""] if first_visit else []):
            pending += [(dep, wanted) for dep in wheels[name].requires]
    return needed


def _wheel_entries(wheel: Path) -> Iterator[tuple[str, bytes]]:
    """Files a wheel installs into site-packages, as (archive path, bytes), bytecode and scripts left out."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename
            parts = name.split("/")
            if parts[0].endswith(".data"):
                # purelib/platlib go to site-packages; scripts, headers and data have no place in a Lambda zip.
                if len(parts) < 3 or parts[1] not in {"purelib", "platlib"}:
                    continue
                name = "/".join(parts[2:])
            if _is_bytecode(name):
                continue
            yield name, zf.read(info)


def _is_bytecode(name: str) -> bool:
    """True for compiled bytecode, which Python regenerates and which would break reproducibility."""
    return "__pycache__/" in name or name.endswith((".pyc", ".pyo"))


# What only runs on a developer's or an operator's machine (the local runtime and its console, the CLI's commands):
# no function imports it, so it would only make the zips larger.
LOCAL_ONLY = frozenset({"local", "ops", "replay", "tuning", "cli.py"})


def _source_entries() -> Iterator[tuple[str, bytes]]:
    """The debouncer package (tests and LOCAL_ONLY excluded) plus the JSON Schemas it loads from debouncer/schemas/."""
    package = REPO_ROOT / "src" / "debouncer"
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package.parent).as_posix()
        parts = path.relative_to(package).parts
        if not path.is_file() or _is_bytecode(relative) or "tests" in parts or path.name.startswith("test_"):
            continue
        if parts[0] in LOCAL_ONLY:
            continue
        yield relative, path.read_bytes()
    for schema in sorted((REPO_ROOT / "schemas").glob("*.json")):
        yield f"debouncer/schemas/{schema.name}", schema.read_bytes()


def write_zip(path: Path, entries: dict[str, bytes]) -> None:
    """Write entries deterministically: sorted, fixed timestamps and modes, fixed compression."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = _FILE_MODE
            info.create_system = _UNIX
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entries[name], compresslevel=_DEFLATE_LEVEL)
    tmp.replace(path)


# Run by the compiling interpreter, once per build. stdin: [[source, dfile], ...]; each source gets its
# __pycache__/<name>.<cache tag>.pyc beside it. stdout: the cache tag and the sources that failed, as JSON.
_COMPILER = """
import json, py_compile, sys
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
failed = []
for source, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(source, dfile=dfile, doraise=True, invalidation_mode=mode)
    except py_compile.PyCompileError as e:
        failed.append(str(e).strip().splitlines()[-1][:300] + " in " + dfile)
print(json.dumps({"cache_tag": sys.implementation.cache_tag, "failed": failed}))
"""


def compile_bytecode(
    groups: list[tuple[str, dict[str, bytes]]], compiler: Path, cache_tag: str, pyc_cache: Path | None = None
) -> list[dict[str, bytes]]:
    """Unchecked-hash pycs of every .py in each group (archive path -> bytes), compiled by one compiler process.

    A group is a tree as it will sit on sys.path (the shared zip contents, one function's handler, the runtime
    stand-in); the result maps each group's pyc archive paths to their bytes, in the same order. The compiler must
    report cache_tag (cpython-313 for Lambda), and every file must compile: a zip never carries a module that the
    runtime would have to compile, nor one it cannot.
    `pyc_cache`: a directory of pycs by content (compiler version, path in the zip, source), so that a rebuild
    compiles only what changed: a pyc is a pure function of those three.
    """
    version = _compiler_version(compiler) if pyc_cache is not None else ""
    with tempfile.TemporaryDirectory(prefix="package-bytecode-") as tmp:
        stage = Path(tmp)
        jobs: list[tuple[str, str]] = []
        cached: dict[tuple[int, str], bytes] = {}
        keys: dict[tuple[int, str], Path] = {}
        for index, (group, entries) in enumerate(groups):
            for name in sorted(n for n in entries if n.endswith(".py")):
                # A fixed path in co_filename, not the staging directory's random one: the import system replaces it
                # with the file's real location anyway when it loads the pyc beside its source.
                dfile = f"/var/task/{name}" if group != "runtime" else f"/var/runtime/{name}"
                if pyc_cache is not None:
                    digest = hashlib.sha256(f"{version}\0{dfile}\0".encode() + entries[name]).hexdigest()
                    keys[index, name] = pyc_cache / digest[:2] / f"{digest}.pyc"
                    if keys[index, name].is_file():
                        cached[index, name] = keys[index, name].read_bytes()
                        continue
                source = stage / str(index) / name
                source.parent.mkdir(parents=True, exist_ok=True)
                source.write_bytes(entries[name])
                jobs.append((str(source), dfile))
        proc = subprocess.run(  # noqa: S603 - the runtime's interpreter and a fixed script
            [str(compiler), "-S", "-c", _COMPILER],
            input=json.dumps(jobs),
            # A fixed hash seed, so that nothing whose marshalled order follows string hashes can vary between runs.
            env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"compiling bytecode with {compiler} failed:\n{proc.stderr[-3000:]}")
        report = json.loads(proc.stdout)
        if report["cache_tag"] != cache_tag:
            raise RuntimeError(f"{compiler} compiles for {report['cache_tag']}, the target needs {cache_tag}")
        if report["failed"]:
            raise RuntimeError("these modules do not compile:\n" + "\n".join(report["failed"]))
        compiled: list[dict[str, bytes]] = []
        for index, (_, entries) in enumerate(groups):
            pycs = {}
            for name in sorted(n for n in entries if n.endswith(".py")):
                pyc = _pyc_name(name, cache_tag)
                if (index, name) in cached:
                    pycs[pyc] = cached[index, name]
                    continue
                pycs[pyc] = (stage / str(index) / pyc).read_bytes()
                if pyc_cache is not None:
                    _store(keys[index, name], pycs[pyc])
            compiled.append(pycs)
        return compiled


def _compiler_version(compiler: Path) -> str:
    """The compiling interpreter's full version and build, part of every cached pyc's key."""
    return subprocess.run(  # noqa: S603 - the runtime's interpreter and a fixed script
        [str(compiler), "-S", "-c", "import sys; print(sys.version, sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def _store(path: Path, data: bytes) -> None:
    """Write a cache entry atomically: concurrent builds (tests, the bench) may fill the cache at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_bytes(data)
    partial.replace(path)


def _pyc_name(source: str, cache_tag: str) -> str:
    """Where the import system looks for a source's bytecode: pkg/mod.py -> pkg/__pycache__/mod.<tag>.pyc."""
    path = PurePosixPath(source)
    return str(path.parent / "__pycache__" / f"{path.stem}.{cache_tag}.pyc").removeprefix("./")


@dataclass(frozen=True)
class Artifact:
    """One built zip and the figures the size table prints."""

    path: Path
    files: int
    unzipped: int
    zipped: int
    sha256: str


def build(
    out_dir: Path,
    target: Target,
    cache_dir: Path,
    runtime_dir: Path | None = None,
    functions: Iterable[str] = FUNCTIONS,
    *,
    compiler: Path,
    pyc_cache: Path | None = None,
) -> list[Artifact]:
    """Build every function's zip for target into out_dir, bytecode compiled by compiler (a python for the target).

    Optionally unpack the runtime-provided packages, compiled too, into runtime_dir.
    """
    requirements = project_dependencies(REPO_ROOT / "pyproject.toml")
    paths = download_wheels(requirements, target, cache_dir, REPO_ROOT / "constraints.txt")
    wheels = {w.name: w for w in map(read_wheel, paths)}
    bundled = closure(requirements, wheels, target)

    shared: dict[str, bytes] = {}
    for name in sorted(bundled):
        _merge(shared, _wheel_entries(wheels[name].path), wheels[name].path.name)
    _merge(shared, _source_entries(), "src/")
    handlers = {f: {"handler.py": (REPO_ROOT / "lambda" / f / "handler.py").read_bytes()} for f in functions}
    runtime: dict[str, bytes] = {}
    if runtime_dir is not None:
        provided = [r for r in requirements if canonicalize_name(r.name) in RUNTIME_PROVIDED]
        runtime = _runtime_provided_entries(provided, wheels, target)

    # One compiler process for everything: starting the interpreter per tree would cost more than compiling.
    groups = [("shared", shared), *handlers.items(), ("runtime", runtime)]
    shared_pycs, *handler_pycs, runtime_pycs = compile_bytecode(groups, compiler, target.python_tag, pyc_cache)
    if runtime_dir is not None:
        for relative, data in sorted({**runtime, **runtime_pycs}.items()):
            dest = runtime_dir / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)

    artifacts = []
    for function, handler_pyc in zip(handlers, handler_pycs, strict=True):
        entries = {**shared, **shared_pycs, **handlers[function], **handler_pyc}
        zip_path = out_dir / f"{function}.zip"
        write_zip(zip_path, entries)
        data = zip_path.read_bytes()
        artifact = Artifact(
            zip_path, len(entries), sum(map(len, entries.values())), len(data), hashlib.sha256(data).hexdigest()
        )
        if artifact.zipped > MAX_ZIPPED_BYTES or artifact.unzipped > MAX_UNZIPPED_BYTES:
            raise RuntimeError(f"{zip_path.name} exceeds Lambda's size quotas: {artifact}")
        artifacts.append(artifact)
    return artifacts


def _merge(into: dict[str, bytes], entries: Iterable[tuple[str, bytes]], origin: str) -> None:
    """Add entries, refusing two sources that write different bytes to one path (last-writer-wins would hide it)."""
    for name, data in entries:
        if name in into and into[name] != data:
            raise RuntimeError(f"{origin} overwrites {name} with different content")
        into[name] = data


def _runtime_provided_entries(
    provided: list[Requirement], wheels: dict[NormalizedName, Wheel], target: Target
) -> dict[str, bytes]:
    """Stand-in for what the Lambda runtime has on sys.path (boto3, botocore and their dependencies)."""
    names: set[NormalizedName] = set()
    pending = list(provided)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in names or (requirement.marker and not requirement.marker.evaluate({**target.markers, "extra": ""})):
            continue
        names.add(name)
        pending += wheels[name].requires
    entries: dict[str, bytes] = {}
    for name in sorted(names):
        entries.update(_wheel_entries(wheels[name].path))
    return entries


def print_table(artifacts: list[Artifact], target: Target, compiler: Path) -> None:
    """Size of each artifact, in bytes and MiB, with its digest."""
    print(f"target: {target.name}; bytecode: unchecked-hash {target.python_tag} pycs, compiled by {compiler}")
    print(f"{'artifact':<22} {'files':>6} {'unzipped B':>12} {'zip B':>11} {'zip MiB':>8}  sha256")
    for a in artifacts:
        print(
            f"{a.path.name:<22} {a.files:>6} {a.unzipped:>12,} {a.zipped:>11,} "
            f"{a.zipped / 1024 / 1024:>8.2f}  {a.sha256[:16]}"
        )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (`make package`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--arch", choices=("arm64", "x86_64"), default="arm64", help="Lambda architecture")
    parser.add_argument(
        "--out", type=Path, help="output directory (default: build/<arch>/, where Terraform looks for it)"
    )
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / ".cache" / "wheels", help="wheel cache")
    parser.add_argument(
        "--pyc-cache", type=Path, default=REPO_ROOT / ".cache" / "pyc", help="compiled bytecode, by content"
    )
    parser.add_argument("--host", action="store_true", help="build for this interpreter and machine")
    parser.add_argument(
        "--runtime-dir", type=Path, help="also unpack the runtime-provided packages (boto3, botocore) here"
    )
    args = parser.parse_args(argv)
    target = host_target() if args.host else lambda_target(args.arch)
    try:
        compiler = Path(sys.executable) if args.host else runtime_python.ensure()
    except runtime_python.RuntimePythonError as e:
        print(
            f"error: no Python {LAMBDA_PYTHON} to compile the Lambda zips' bytecode, so nothing was built.\n{e}",
            file=sys.stderr,
        )
        return 1
    # One folder per architecture: Terraform deploys build/<lambda_architecture>/, so a zip built for the other
    # instruction set can never be shipped by mistake (its wheels' native code would not load).
    out = args.out or REPO_ROOT / "build" / ("host" if args.host else args.arch)
    artifacts = build(out, target, args.cache_dir, args.runtime_dir, compiler=compiler, pyc_cache=args.pyc_cache)
    print_table(artifacts, target, compiler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
