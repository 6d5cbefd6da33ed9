"""tfplugin6 protobuf and gRPC stubs, generated from proto/tfplugin6.proto into .cache/ on first import."""

from __future__ import annotations

import hashlib
import importlib
import sys
import tempfile
from pathlib import Path
from types import ModuleType

PROTO = Path(__file__).resolve().parent / "proto" / "tfplugin6.proto"
CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "tfplugin6"


def _generate(out: Path) -> None:
    """Run grpcio-tools' protoc into a temp dir beside `out`, then rename it into place (safe under concurrency)."""
    import grpc_tools
    from grpc_tools import protoc

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".gen-"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO.parent}",
        f"-I{include}",
        f"--python_out={tmp}",
        f"--grpc_python_out={tmp}",
        PROTO.name,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {PROTO}")
    try:
        tmp.rename(out)
    except OSError:
        # Another process generated the same stubs first; theirs are identical.
        for child in tmp.iterdir():
            child.unlink()
        tmp.rmdir()


def load() -> tuple[ModuleType, ModuleType]:
    """Return (tfplugin6_pb2, tfplugin6_pb2_grpc), generating them once per proto content."""
    digest = hashlib.sha256(PROTO.read_bytes()).hexdigest()[:16]
    out = CACHE_DIR / digest
    if not (out / "tfplugin6_pb2_grpc.py").exists():
        _generate(out)
    if str(out) not in sys.path:
        # The generated _grpc module imports `tfplugin6_pb2` as a top-level module.
        sys.path.insert(0, str(out))
    return importlib.import_module("tfplugin6_pb2"), importlib.import_module("tfplugin6_pb2_grpc")
