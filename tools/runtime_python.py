"""Fetch the Lambda runtime's interpreter (CPython 3.13, Debian trixie's build) into .cache/python3.13/.

`make package` compiles every module of the Lambda zips with the exact minor version the runtime runs, and the
bench imports the zips with it. This machine's Python is not that version, so this tool gets one from a package
registry the project can reach: Debian 13 (trixie) packages CPython 3.13. It runs apt's ordinary client on a
private state directory (no root, no change to the system's apt configuration), so apt checks the signed InRelease
against Debian's archive keys in /usr/share/keyrings/debian-archive-keyring.gpg; then it unpacks the .debs with
dpkg-deb and writes a wrapper that starts the interpreter through trixie's own dynamic loader, since trixie's glibc
is newer than the host's. Finally it compiles the interpreter's standard library, as Debian's postinst does (the
Lambda runtime ships its standard library compiled), and checks that the wrapper reports 3.13.

Set RUNTIME_PYTHON to an existing python3.13 to use it instead (e.g. on a machine without apt-get).

A build that cannot get the interpreter fails with one message saying what to do: it never ships source only.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_MINOR = "3.13"
CACHE_DIR = REPO_ROOT / ".cache" / f"python{RUNTIME_MINOR}"
OVERRIDE_VARIABLE = "RUNTIME_PYTHON"
DEBIAN_SUITE = "trixie"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# The interpreter, its standard library, and the shared libraries those link against (trixie's libc included:
# its python3.13 needs a newer glibc than bookworm's).
DEBIAN_PACKAGES = (
    f"python{RUNTIME_MINOR}-minimal",
    f"libpython{RUNTIME_MINOR}-minimal",
    f"libpython{RUNTIME_MINOR}-stdlib",
    "libc6",
    "libexpat1",
    "zlib1g",
    "libssl3t64",
    "libffi8",
    "libbz2-1.0",
    "liblzma5",
    "libzstd1",
)
WRAPPER_NAME = f"python{RUNTIME_MINOR}"
_FIX = (
    f"Fix: make sure apt-get and dpkg-deb are installed and {DEBIAN_MIRROR} is reachable, then run"
    f" `make runtime-python`; or set {OVERRIDE_VARIABLE}=/path/to/python{RUNTIME_MINOR}."
    f" Without a Python {RUNTIME_MINOR} the Lambda zips cannot carry bytecode, and the build refuses to ship"
    " source only."
)


class RuntimePythonError(RuntimeError):
    """The runtime's interpreter could not be fetched or does not run as Python 3.13."""


def ensure(cache_dir: Path = CACHE_DIR, progress: TextIO = sys.stderr) -> Path:
    """Path of a command that runs Python 3.13: RUNTIME_PYTHON, the cached wrapper, or a freshly fetched one."""
    override = os.environ.get(OVERRIDE_VARIABLE)
    if override:
        interpreter = Path(override)
        check_version(interpreter)
        return interpreter
    wrapper = cache_dir / "bin" / WRAPPER_NAME
    if wrapper.exists():
        check_version(wrapper)
        return wrapper
    cache_dir.mkdir(parents=True, exist_ok=True)
    # `make -j` or two test workers may ask at once: one fetches, the other finds the wrapper once it holds the lock.
    with _locked(cache_dir / ".lock"):
        if not wrapper.exists():
            fetch(cache_dir, progress)
    check_version(wrapper)
    return wrapper


def check_version(interpreter: Path) -> str:
    """The interpreter's full version, after checking it is Python 3.13; raises RuntimePythonError otherwise."""
    try:
        proc = subprocess.run(  # noqa: S603 - the interpreter this tool wrote or the user named
            [str(interpreter), "-I", "-S", "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except OSError as e:
        raise RuntimePythonError(f"{interpreter} does not run: {e}. {_FIX}") from e
    version = proc.stdout.strip()
    if proc.returncode != 0 or not version.startswith(f"{RUNTIME_MINOR}."):
        reason = proc.stderr.strip()[-500:] or f"it reports {version!r}"
        raise RuntimePythonError(f"{interpreter} is not a working Python {RUNTIME_MINOR}: {reason}. {_FIX}")
    return version


def fetch(cache_dir: Path, progress: TextIO = sys.stderr) -> None:
    """Download Debian trixie's python3.13 with apt, unpack it and write the wrapper (replacing any earlier one)."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise RuntimePythonError(f"cannot fetch Python {RUNTIME_MINOR}: `{tool}` is not installed. {_FIX}")
    if not DEBIAN_KEYRING.exists():
        raise RuntimePythonError(
            f"cannot fetch Python {RUNTIME_MINOR}: Debian's archive keys ({DEBIAN_KEYRING}) are missing"
            f" (apt-get install debian-archive-keyring). {_FIX}"
        )
    apt = cache_dir / "apt"
    for directory in (apt / "lists" / "partial", apt / "cache" / "archives" / "partial", apt / "etc"):
        directory.mkdir(parents=True, exist_ok=True)
    sources = apt / "etc" / "sources.list"
    sources.write_text(f"deb [signed-by={DEBIAN_KEYRING}] {DEBIAN_MIRROR} {DEBIAN_SUITE} main\n")
    options = [
        *("-o", f"Dir::Etc::SourceList={sources}"),
        *("-o", "Dir::Etc::SourceParts=/dev/null"),
        *("-o", f"Dir::State::Lists={apt / 'lists'}"),
        *("-o", f"Dir::Cache={apt / 'cache'}"),
        *("-o", "Dir::State::status=/dev/null"),
    ]
    if os.geteuid() == 0:
        # apt would drop to its _apt user, which cannot write into this cache, and then download as root anyway
        # with a warning; say so up front. The InRelease signature check is the same either way.
        options += ["-o", "APT::Sandbox::User=root"]
    _step(progress, f"1/4 apt-get update: Debian {DEBIAN_SUITE}'s package lists (InRelease signature checked)")
    _run(["apt-get", *options, "update"], progress, "apt-get update")
    debs = cache_dir / "debs"
    shutil.rmtree(debs, ignore_errors=True)
    debs.mkdir()
    _step(progress, f"2/4 apt-get download: {' '.join(DEBIAN_PACKAGES)}")
    _run(["apt-get", *options, "download", *DEBIAN_PACKAGES], progress, "apt-get download", cwd=debs)

    _step(progress, f"3/4 unpacking {len(list(debs.glob('*.deb')))} packages into {cache_dir / 'root'}")
    root = cache_dir / "root"
    shutil.rmtree(root, ignore_errors=True)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(root)], progress, f"dpkg-deb -x {deb.name}")
    wrapper = _write_wrapper(cache_dir, root)

    _step(progress, f"4/4 compiling Python {RUNTIME_MINOR}'s standard library (as the Lambda runtime ships it)")
    stdlib = root / "usr" / "lib" / f"python{RUNTIME_MINOR}"
    # One process: compileall's workers would start sys.executable without the loader the wrapper supplies.
    _run([str(wrapper), "-I", "-m", "compileall", "-q", "-j", "1", str(stdlib)], progress, "compileall stdlib")
    version = check_version(wrapper)
    _step(progress, f"Python {version} (Debian {DEBIAN_SUITE}) ready: {wrapper}")


def _write_wrapper(cache_dir: Path, root: Path) -> Path:
    """A shell script running the unpacked interpreter through trixie's dynamic loader and libraries."""
    loaders = sorted(root.glob("usr/lib/*-linux-gnu*/ld-linux*.so.*"))
    if not loaders:
        raise RuntimePythonError(f"no dynamic loader in the unpacked libc6 under {root}. {_FIX}")
    loader = loaders[0]
    executable = root / "usr" / "bin" / f"python{RUNTIME_MINOR}"
    wrapper = cache_dir / "bin" / WRAPPER_NAME
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    # argv[0] stays the interpreter's own path, so it finds its standard library under root/usr without PYTHONHOME
    # (which -I would ignore anyway).
    script = (
        "#!/bin/sh\n"
        f"# Python {RUNTIME_MINOR} from Debian {DEBIAN_SUITE}, written by tools/runtime_python.py.\n"
        f'exec "{loader}" --library-path "{loader.parent}" "{executable}" "$@"\n'
    )
    tmp = wrapper.with_suffix(".tmp")
    tmp.write_text(script)
    tmp.chmod(0o755)
    tmp.replace(wrapper)
    return wrapper


def _run(argv: list[str], progress: TextIO, what: str, cwd: Path | None = None) -> None:
    """Run a step with its output shown (apt prints its own progress); any failure becomes RuntimePythonError."""
    try:
        proc = subprocess.run(  # noqa: S603 - fixed tools and arguments
            argv, cwd=cwd, stdout=progress, stderr=subprocess.STDOUT, check=False, timeout=900
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimePythonError(f"cannot fetch Python {RUNTIME_MINOR}: {what} failed ({e}). {_FIX}") from e
    if proc.returncode != 0:
        raise RuntimePythonError(
            f"cannot fetch Python {RUNTIME_MINOR}: {what} exited with {proc.returncode} (output above). {_FIX}"
        )


def _step(progress: TextIO, message: str) -> None:
    print(f"runtime-python: {message}", file=progress, flush=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (`make runtime-python`): fetch if needed, then print the interpreter's path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="where the interpreter is unpacked")
    parser.add_argument("--refresh", action="store_true", help="fetch again even if a cached interpreter works")
    args = parser.parse_args(argv)
    try:
        if args.refresh:
            args.cache_dir.mkdir(parents=True, exist_ok=True)
            with _locked(args.cache_dir / ".lock"):
                fetch(args.cache_dir)
        print(ensure(args.cache_dir))
    except RuntimePythonError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
