"""Offline stand-in for `terraform validate`: AWS provider schema from the cdktf bindings, and a checker for .tf files.

There is no terraform binary and no provider download in CI, only PyPI. The prebuilt cdktf bindings for the AWS
provider ship a jsii assembly that describes every resource and data source (arguments, nested blocks, which are
required), so the schema is derived from that JSON once and cached; node and the cdktf runtime are never needed.

Usage: `.venv/bin/python tools/provider_schema.py [DIR ...]` validates the .tf files of each directory (default: the
root module and every module under modules/) and exits non-zero on any error.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache" / "cdktf"

# 21.22.1 is the last prebuilt release; its package.json says `"cdktf": {"provider": {"version": "6.25.0"}}`.
CDKTF_DIST = "cdktf-cdktf-provider-aws"
CDKTF_VERSION = "21.22.1"
CDKTF_WHEEL = f"cdktf_cdktf_provider_aws-{CDKTF_VERSION}-py3-none-any.whl"
CDKTF_WHEEL_SHA256 = "603c647c4de622ed0a2b5e0f1518d81a89b31eed84b67d23410840041e7df924"
AWS_PROVIDER_VERSION = "6.25.0"
# Bump when the derived JSON layout changes, so a stale cache is rebuilt instead of misread.
SCHEMA_FORMAT = 1
SCHEMA_FILE = f"aws-provider-schema-{AWS_PROVIDER_VERSION}.json"

_CONFIG_BASES = {"cdktf.TerraformResource": "resource", "cdktf.TerraformDataSource": "data"}
_TYPE_LINK = re.compile(r"/docs/(resources|data-sources)/([a-z0-9_]+)[ }]")
_ANCHOR = re.compile(r"#([A-Za-z0-9_]+) ")

# Meta-arguments Terraform itself accepts on every resource / data block (not part of any provider schema).
META_ATTRIBUTES = {"count", "for_each", "depends_on", "provider"}
RESOURCE_META_BLOCKS = {"lifecycle", "provisioner", "connection"}
DATA_META_BLOCKS = {"lifecycle"}
DYNAMIC_KEYS = {"for_each", "iterator", "labels", "content"}
MODULE_META_ATTRIBUTES = {"source", "version", "count", "for_each", "depends_on", "providers"}

# Built into Terraform rather than a provider (terraform.io/builtin/terraform).
BUILTIN_RESOURCES: dict[str, Any] = {
    "terraform_data": {
        "attributes": {"input": False, "triggers_replace": False},
        "blocks": {},
    }
}

_HCL_OPTIONS = SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=True)

Schema = dict[str, Any]
Block = dict[str, Any]


def _log(message: str) -> None:
    """Progress on stderr, so stdout stays clean for callers that parse it."""
    print(message, file=sys.stderr)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file + rename, so a concurrent test worker never reads a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    """Hex digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel(
    cache_dir: Path = CACHE_DIR,
    dist: str = CDKTF_DIST,
    version: str = CDKTF_VERSION,
    wheel_name: str = CDKTF_WHEEL,
    sha256: str = CDKTF_WHEEL_SHA256,
) -> Path:
    """Return a pinned pure-Python wheel (default: the cdktf bindings), downloading it with pip only once."""
    wheel = cache_dir / wheel_name
    if not wheel.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        _log(f"downloading {dist}=={version} into {cache_dir} (once)")
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            subprocess.run(  # noqa: S603 - fixed argv, pinned requirement
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--dest",
                    tmp,
                    f"{dist}=={version}",
                ],
                check=True,
            )
            Path(tmp, wheel_name).replace(wheel)
    actual = _sha256(wheel)
    if actual != sha256:
        wheel.unlink()
        raise RuntimeError(f"{wheel_name}: sha256 {actual} != pinned {sha256}; removed, retry")
    return wheel


def read_assembly(wheel: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (jsii assembly, npm package.json) from the tarball that the wheel embeds under `_jsii/`."""
    with zipfile.ZipFile(wheel) as zf:
        tarballs = [n for n in zf.namelist() if "/_jsii/" in n and n.endswith(".tgz")]
        if len(tarballs) != 1:
            raise RuntimeError(f"{wheel.name}: expected one _jsii/*.tgz, found {tarballs}")
        members: dict[str, bytes] = {}
        # Stream the tarball (mode r|gz): the assembly is ~130 MB and we need only three small-named members.
        with zf.open(tarballs[0]) as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
            for member in tar:
                if member.name in {"package/.jsii", "package/.jsii.gz", "package/package.json"}:
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        members[member.name] = extracted.read()
    assembly = json.loads(members["package/.jsii"])
    # Newer jsii writes a small redirect file next to a gzip-compressed assembly.
    if assembly.get("schema") == "jsii/file-redirect":
        target = "package/" + assembly["filename"].removeprefix("./")
        data = members[target]
        assembly = json.loads(gzip.decompress(data) if assembly.get("compression") == "gzip" else data)
    return assembly, json.loads(members["package/package.json"])


def _struct_ref(type_ref: Mapping[str, Any], types: Mapping[str, Any]) -> tuple[str, str] | None:
    """Find the provider struct a property's type refers to, and how: 'single', 'array' or 'map'."""
    fqn = type_ref.get("fqn")
    if fqn is not None and types.get(fqn, {}).get("datatype"):
        return fqn, "single"
    collection = type_ref.get("collection")
    if collection is not None:
        inner = _struct_ref(collection["elementtype"], types)
        if inner is not None:
            return inner[0], collection["kind"]
    for member in type_ref.get("union", {}).get("types", []):
        found = _struct_ref(member, types)
        if found is not None:
            return found
    return None


def _struct_properties(fqn: str, types: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Own and inherited properties of a provider struct (cdktf's meta-argument interface excluded)."""
    struct = types[fqn]
    yield from struct.get("properties", [])
    for parent in struct.get("interfaces", []):
        if parent in types:
            yield from _struct_properties(parent, types)


def _derive_block(fqn: str, types: Mapping[str, Any], seen: tuple[str, ...] = ()) -> Block:
    """Schema of one struct: {'attributes': {name: required}, 'blocks': {name: {...}}}, recursively."""
    attributes: dict[str, bool] = {}
    blocks: dict[str, Any] = {}
    for prop in _struct_properties(fqn, types):
        docs = prop.get("docs", {})
        anchor = _ANCHOR.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
        if anchor is None:
            raise RuntimeError(f"{fqn}.{prop['name']}: no registry docs anchor to map it to a Terraform name")
        name = anchor.group(1)
        required = not prop.get("optional", False)
        ref = _struct_ref(prop["type"], types)
        # A map of objects has user-chosen keys, so it validates like a plain attribute.
        if ref is None or ref[1] == "map" or ref[0] in seen:
            attributes[name] = required
            continue
        blocks[name] = {
            "required": required,
            # cdktf renders MaxItems=1 blocks as a single struct instead of a list.
            "max_one": ref[1] == "single",
            # Plugin-framework nested attributes (`x = {...}`) have no "x block." summary; those accept both forms.
            "syntax": "block" if docs.get("summary", "").endswith(" block.") else "any",
            "block": _derive_block(ref[0], types, (*seen, ref[0])),
        }
    return {"attributes": attributes, "blocks": blocks}


def derive_schema(assembly: Mapping[str, Any], package: Mapping[str, Any]) -> Schema:
    """Turn the jsii assembly into {'provider': Block, 'resource': {type: Block}, 'data': {type: Block}}."""
    provider_version = package.get("cdktf", {}).get("provider", {}).get("version")
    if provider_version != AWS_PROVIDER_VERSION:
        raise RuntimeError(f"cdktf {CDKTF_VERSION} wraps aws {provider_version}, expected {AWS_PROVIDER_VERSION}")
    types = assembly["types"]
    schema: Schema = {
        "format": SCHEMA_FORMAT,
        "cdktf_version": CDKTF_VERSION,
        "provider_version": provider_version,
        "provider": {},
        "resource": {},
        "data": {},
    }
    for fqn, cls in types.items():
        if cls.get("kind") != "class":
            continue
        base = cls.get("base")
        config_fqn = next(
            (p["type"]["fqn"] for p in cls.get("initializer", {}).get("parameters", []) if p["name"] == "config"),
            None,
        )
        if base == "cdktf.TerraformProvider" and config_fqn:
            schema["provider"] = _derive_block(config_fqn, types)
        elif base in _CONFIG_BASES and config_fqn:
            link = _TYPE_LINK.search(cls.get("docs", {}).get("summary", ""))
            if link is None:
                raise RuntimeError(f"{fqn}: no registry docs link to derive the Terraform type name")
            schema[_CONFIG_BASES[base]][f"aws_{link.group(2)}"] = _derive_block(config_fqn, types)
    if not schema["provider"] or len(schema["resource"]) < 1000 or len(schema["data"]) < 300:
        raise RuntimeError("derived schema is implausibly small; the assembly layout has changed")
    return schema


def load_schema(cache_dir: Path = CACHE_DIR) -> Schema:
    """Return the derived AWS provider schema: from the JSON cache, else from the (cached) wheel, else via pip."""
    cached = cache_dir / SCHEMA_FILE
    if cached.exists():
        try:
            schema: Schema = json.loads(cached.read_bytes())
        except json.JSONDecodeError:
            schema = {}  # a damaged cache is rebuilt below, never trusted
        if schema.get("format") == SCHEMA_FORMAT and schema.get("cdktf_version") == CDKTF_VERSION:
            return schema
    assembly, package = read_assembly(fetch_wheel(cache_dir))
    schema = derive_schema(assembly, package)
    _atomic_write(cached, json.dumps(schema, sort_keys=True, separators=(",", ":")).encode())
    return schema


# --- validation -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One validation error, located by file and a Terraform-style address path."""

    file: str
    address: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.address}: {self.message}"


def parse_hcl(text: str) -> dict[str, Any]:
    """Parse HCL into python-hcl2's dict form, with unquoted strings and `__is_block__` markers."""
    parsed: dict[str, Any] = hcl2.loads(text, serialization_options=_HCL_OPTIONS)
    return parsed


def _is_block(value: Any) -> bool:
    """True for a list of python-hcl2 block bodies (what `name { ... }` parses to)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def _body_items(body: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Keys of a block body, without python-hcl2's `__markers__`."""
    return ((k, v) for k, v in body.items() if not (k.startswith("__") and k.endswith("__")))


class _Checker:
    """Walks parsed HCL bodies against the derived schema, collecting problems."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def error(self, address: str, message: str) -> None:
        """Record a problem."""
        self.problems.append(Problem(self.file, address, message))

    def check_body(
        self,
        body: Mapping[str, Any],
        block: Block,
        address: str,
        meta_attributes: Iterable[str] = (),
        meta_blocks: Iterable[str] = (),
    ) -> None:
        """Check one block body: known names, right syntax, required arguments and blocks present."""
        attributes: dict[str, bool] = block["attributes"]
        blocks: dict[str, Any] = block["blocks"]
        meta_attributes, meta_blocks = set(meta_attributes), set(meta_blocks)
        present: set[str] = set()
        for key, value in _body_items(body):
            where = f"{address}.{key}"
            # `dynamic "x" {...}` is a labelled block: python-hcl2 gives [{"x": body}, ...] without a block marker.
            if key == "dynamic" and "dynamic" not in attributes and isinstance(value, list):
                for dynamic in value:
                    for name, dyn_body in _labelled(dynamic):
                        present.add(name)
                        self.check_dynamic(name, dyn_body, blocks, f"{address}.dynamic.{name}")
                continue
            present.add(key)
            if key in meta_attributes or key in meta_blocks:
                continue
            if key in attributes:
                if _is_block(value):
                    self.error(where, f'"{key}" is an argument: write `{key} = ...`, not a block')
                continue
            nested = blocks.get(key)
            if nested is None:
                self.error(where, f'unsupported {"block type" if _is_block(value) else "argument"} "{key}"')
                continue
            if _is_block(value):
                if nested["max_one"] and len(value) > 1:
                    self.error(where, f'at most one "{key}" block is allowed, found {len(value)}')
                for item in value:
                    self.check_body(item, nested["block"], where)
            elif nested["syntax"] == "block":
                self.error(where, f'"{key}" is a block: write `{key} {{ ... }}`, not `{key} = ...`')
            else:
                # Nested attribute given as an object or list of objects literal: check its keys too.
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict):
                        self.check_body(item, nested["block"], where)
        for name, required in attributes.items():
            if required and name not in present:
                self.error(address, f'missing required argument "{name}"')
        for name, nested in blocks.items():
            if nested["required"] and name not in present:
                self.error(address, f'missing required block "{name}"')

    def check_dynamic(self, name: str, body: Mapping[str, Any], blocks: Mapping[str, Any], address: str) -> None:
        """Check `dynamic "name" { for_each ... content { ... } }` against block `name`."""
        nested = blocks.get(name)
        if nested is None:
            self.error(address, f'dynamic block for unsupported block type "{name}"')
            return
        for key, _ in _body_items(body):
            if key not in DYNAMIC_KEYS:
                self.error(f"{address}.{key}", f'unsupported argument "{key}" in a dynamic block')
        if "for_each" not in body:
            self.error(address, 'dynamic block is missing "for_each"')
        content = body.get("content")
        if not isinstance(content, list) or not _is_block(content) or len(content) != 1:
            self.error(address, 'dynamic block needs exactly one "content" block')
            return
        self.check_body(content[0], nested["block"], f"{address}.content")


def _labelled(section: Any) -> Iterator[tuple[str, Any]]:
    """Yield (label, body) from python-hcl2's `[{label: body}, ...]` layout of a labelled block."""
    for entry in section if isinstance(section, list) else [section]:
        yield from _body_items(entry)


def _module_variables(module_dir: Path) -> dict[str, bool] | None:
    """Variables a local module declares, mapped to whether they are required (no default)."""
    if not module_dir.is_dir():
        return None
    variables: dict[str, bool] = {}
    for path in sorted(module_dir.glob("*.tf")):
        for name, body in _labelled(parse_hcl(path.read_text()).get("variable", [])):
            variables[name] = "default" not in body
    return variables


def validate_text(text: str, schema: Schema, file: str = "<inline>", module_dir: Path | None = None) -> list[Problem]:
    """Validate one file's HCL text; module calls are resolved relative to module_dir when given."""
    checker = _Checker(file)
    try:
        doc = parse_hcl(text)
    except Exception as e:  # python-hcl2 raises lark errors of several types
        return [Problem(file, "-", f"HCL parse error: {e}")]
    for kind, meta_blocks in (("resource", RESOURCE_META_BLOCKS), ("data", DATA_META_BLOCKS)):
        for type_name, instances in _labelled(doc.get(kind, [])):
            prefix = "" if kind == "resource" else "data."
            known = schema[kind].get(type_name)
            if known is None and kind == "resource":
                known = BUILTIN_RESOURCES.get(type_name)
            for name, body in _labelled(instances):
                address = f"{prefix}{type_name}.{name}"
                if known is None:
                    provider = type_name.split("_", 1)[0]
                    hint = "" if provider == "aws" else f" (no offline schema for provider {provider!r})"
                    checker.error(address, f"unknown {kind} type {type_name!r} in aws {AWS_PROVIDER_VERSION}{hint}")
                    continue
                checker.check_body(body, known, address, META_ATTRIBUTES, meta_blocks)
    for name, body in _labelled(doc.get("provider", [])):
        if name == "aws":
            checker.check_body(body, schema["provider"], f"provider.{name}")
    for name, body in _labelled(doc.get("module", [])):
        source = body.get("source")
        if module_dir is None or not isinstance(source, str) or not source.startswith(("./", "../")):
            continue
        variables = _module_variables((module_dir / source).resolve())
        address = f"module.{name}"
        if variables is None:
            checker.error(address, f"module source {source!r} is not a directory")
            continue
        checker.check_body(body, {"attributes": variables, "blocks": {}}, address, MODULE_META_ATTRIBUTES)
    return checker.problems


def terraform_dirs(root: Path = REPO_ROOT) -> list[Path]:
    """The root module and every module under modules/ (the directories Terraform would load)."""
    return [root, *sorted(p for p in (root / "modules").glob("*") if p.is_dir())]


def tf_files(dirs: Iterable[Path]) -> list[Path]:
    """Every .tf file directly in the given directories (Terraform does not recurse)."""
    return [path for d in dirs for path in sorted(d.glob("*.tf"))]


def validate_file(path: Path, schema: Schema) -> list[Problem]:
    """Validate one .tf file on disk."""
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    return validate_text(path.read_text(), schema, str(shown), path.parent)


def main(argv: list[str] | None = None) -> int:
    """CLI: validate .tf files and print one line per problem."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dirs", nargs="*", type=Path, help="module directories (default: root + modules/*)")
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args(argv)
    schema = load_schema(args.cache_dir)
    files = tf_files(args.dirs or terraform_dirs())
    problems = [p for path in files for p in validate_file(path, schema)]
    for problem in problems:
        print(problem)
    print(f"{len(files)} files, {len(problems)} problems (aws provider {schema['provider_version']})", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
