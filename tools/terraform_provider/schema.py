"""The hashicorp/aws provider schema, with exact required/optional/computed flags, derived offline from cdktn bindings.

The prebuilt cdk-terrain bindings (`cdktn-provider-aws` on PyPI) embed an npm tarball whose generated JavaScript says,
for every attribute of every resource, data source and nested block, `// name - computed: X, optional: Y,
required: Z`, and whose `...ToHclTerraform` functions say which arguments are blocks and what type each has. The
older cdktf bindings that tools/provider_schema.py reads drop those comments for optional arguments, so they cannot
tell an optional+computed argument (planned unknown) from a plain optional one (planned null).

The result is a JSON document in the layout of `terraform providers schema -json` ({"block": {"attributes": ...,
"block_types": ...}}), cached under .cache/cdktn/.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tarfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

TOOLS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = TOOLS_DIR.parent
CACHE_DIR = REPO_ROOT / ".cache" / "cdktn"

CDKTN_DIST = "cdktn-provider-aws"
CDKTN_VERSION = "25.8.1"
CDKTN_WHEEL = f"cdktn_provider_aws-{CDKTN_VERSION}-py3-none-any.whl"
CDKTN_WHEEL_SHA256 = "2ffa579cb88b063cb3a9937e43c519391e876845768f51638a848bdf2ce9f354"
# What the wheel's package.json says it wraps; the stand-in announces this version to `terraform init`.
AWS_PROVIDER_VERSION = "6.69.1"
# Bump when the derived layout changes, so a stale cache is rebuilt instead of misread.
SCHEMA_FORMAT = 1
SCHEMA_FILE = f"aws-provider-tfplugin-schema-{AWS_PROVIDER_VERSION}.json"

_CLASS = re.compile(r"^(?:export )?class (\w+) extends ([\w.]+) \{", re.MULTILINE)
_HCL_FUNCTION = re.compile(r"^function (\w+)ToHclTerraform\(struct\)", re.MULTILINE)
_FLAGS = re.compile(
    r"// (\w+) - computed: (true|false), optional: (true|false), required: (true|false)\n([^\n]*)\n([^\n]*)\n([^\n]*)"
)
# Starts at a literal (fast); the argument's name is read back from the `name: {` line two lines above.
_HCL_ENTRY = re.compile(r'isBlock: (true|false),\n +type: "(\w+)",\n +storageClassType: "(\w+)",')
_TF_TYPE = re.compile(r'static tfResourceType = "([a-z0-9_]+)"')
_NEW = re.compile(r'_\w+ = new (\w+)\(this, "\w+"(?:, (true|false))?\)')

_PRIMITIVES: dict[str, Any] = {"string": "string", "number": "number", "boolean": "bool"}
_GETTERS: list[tuple[str, Any]] = [
    ("cdktn.Fn.tolist(this.getListAttribute(", ["set", "string"]),
    ("cdktn.Fn.tolist(this.getNumberListAttribute(", ["set", "number"]),
    ("this.getStringAttribute(", "string"),
    ("this.getNumberAttribute(", "number"),
    ("this.getBooleanAttribute(", "bool"),
    ("this.getListAttribute(", ["list", "string"]),
    ("this.getNumberListAttribute(", ["list", "number"]),
    ("this.getStringMapAttribute(", ["map", "string"]),
    ("this.getNumberMapAttribute(", ["map", "number"]),
    ("this.getBooleanMapAttribute(", ["map", "bool"]),
    ("this.getAnyMapAttribute(", ["map", "dynamic"]),
]


def _provider_schema_tool() -> ModuleType:
    """tools/provider_schema.py (its pinned-wheel cache is reused here), imported by path."""
    if "provider_schema" in sys.modules:
        return sys.modules["provider_schema"]
    spec = importlib.util.spec_from_file_location("provider_schema", TOOLS_DIR / "provider_schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["provider_schema"] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class _Flag:
    """One `// name - computed..., optional..., required...` comment and the line of code after it."""

    computed: bool
    optional: bool
    required: bool
    code: str


@dataclass
class _Module:
    """What one generated module (lib/<resource>/) says: classes, their flags, and HCL entries per owner."""

    bases: dict[str, str] = field(default_factory=dict)
    tf_types: dict[str, str] = field(default_factory=dict)
    flags: dict[str, dict[str, _Flag]] = field(default_factory=lambda: defaultdict(dict))
    hcl: dict[str, dict[str, tuple[bool, str, str]]] = field(default_factory=lambda: defaultdict(dict))


def _parse_js(module: _Module, text: str) -> None:
    """Collect classes, flag comments and `ToHclTerraform` entries of one generated .js file."""
    owners: list[tuple[int, str, str]] = []
    for m in _CLASS.finditer(text):
        owners.append((m.start(), "class", m.group(1)))
        module.bases[m.group(1)] = m.group(2)
    for m in _HCL_FUNCTION.finditer(text):
        owners.append((m.start(), "function", m.group(1)[0].upper() + m.group(1)[1:]))
    owners.sort()
    for index, (start, kind, name) in enumerate(owners):
        end = owners[index + 1][0] if index + 1 < len(owners) else len(text)
        body = text[start:end]
        if kind == "class":
            tf_type = _TF_TYPE.search(body)
            if tf_type is not None:
                module.tf_types[name] = tf_type.group(1)
            for f in _FLAGS.finditer(body):
                code = f.group(5).strip() + " " + f.group(6).strip() + " " + f.group(7).strip()
                module.flags[name][f.group(1)] = _Flag(
                    f.group(2) == "true", f.group(3) == "true", f.group(4) == "true", code
                )
        # The resource class's synthesizeHclAttributes() and a struct's function both list their arguments.
        for e in _HCL_ENTRY.finditer(body):
            header_end = body.rfind(": {\n", 0, e.start())
            argument = body[body.rfind("\n", 0, header_end) + 1 : header_end].strip()
            module.hcl[name][argument] = (e.group(1) == "true", e.group(2), e.group(3))


def _struct_of(storage: str, module: _Module) -> str | None:
    """The struct a complex storageClassType (XList, XMap, XOutputReference or X) stands for."""
    for suffix in ("OutputReference", "List", "Map", ""):
        if storage.endswith(suffix):
            name = storage[: len(storage) - len(suffix)] if suffix else storage
            if name in module.hcl or f"{name}OutputReference" in module.flags:
                return name
    return None


def _simple_type(kind: str, storage: str) -> Any:
    """cty type (JSON form) of a non-block argument from its HCL kind and storage class, or None if complex."""
    if storage in _PRIMITIVES:
        return _PRIMITIVES[storage]
    for prefix, element in (("string", "string"), ("number", "number"), ("boolean", "bool"), ("any", "dynamic")):
        if storage == f"{prefix}List":
            return ["set" if kind == "set" else "list", element]
        if storage == f"{prefix}Map":
            return ["map", element]
    if storage == "stringListMap":
        return ["map", ["list", "string"]]
    return None


def _getter_type(code: str, module: _Module, seen: tuple[str, ...]) -> Any:
    """cty type of a computed-only attribute from the code of its getter (or its complex-object field)."""
    new = _NEW.search(code)
    if new is not None:
        cls = new.group(1)
        for suffix, wrap in (("OutputReference", None), ("List", "list"), ("Map", "map")):
            if cls.endswith(suffix):
                element = cls[: len(cls) - len(suffix)] + "OutputReference"
                obj = _object_type(element, module, seen)
                if wrap is None:
                    return obj
                return ["set" if new.group(2) == "true" else wrap, obj]
    for marker, cty in _GETTERS:
        if marker in code:
            return cty
    return "dynamic"


def _object_type(output_reference: str, module: _Module, seen: tuple[str, ...]) -> Any:
    """cty object type of a computed nested object, from its OutputReference class."""
    if output_reference in seen or output_reference not in module.flags:
        return "dynamic"
    attrs = {
        name: _getter_type(flag.code, module, (*seen, output_reference))
        for name, flag in module.flags[output_reference].items()
    }
    return ["object", attrs]


def _attribute(flag: _Flag | None, cty: Any = None, nested: dict[str, Any] | None = None) -> dict[str, Any]:
    """One attribute in `providers schema -json` form."""
    out: dict[str, Any] = {}
    if nested is not None:
        out["nested_type"] = nested
    else:
        out["type"] = cty
    if flag is None or flag.required:
        out["required" if flag is not None else "optional"] = True
    else:
        if flag.optional:
            out["optional"] = True
        if flag.computed:
            out["computed"] = True
        if not flag.optional and not flag.computed:
            out["optional"] = True
    return out


def _block(owner: str, flag_class: str, module: _Module, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """Schema block of a struct (owner = its HCL function's struct name) with flags from flag_class."""
    hcl = module.hcl.get(owner, {})
    flags = module.flags.get(flag_class, {})
    attributes: dict[str, Any] = {}
    block_types: dict[str, Any] = {}
    for name in sorted(set(hcl) | set(flags)):
        flag = flags.get(name)
        entry = hcl.get(name)
        if entry is None:
            # Only in the class: a computed-only attribute.
            if flag is None:
                continue
            attributes[name] = _attribute(flag, _getter_type(flag.code, module, seen))
            continue
        is_block, kind, storage = entry
        cty = _simple_type(kind, storage)
        struct = None if cty is not None else _struct_of(storage, module)
        if struct is None or struct in seen:
            attributes[name] = _attribute(flag, cty if cty is not None else "dynamic")
            continue
        inner = _block(struct, f"{struct}OutputReference", module, (*seen, struct))
        if is_block:
            nesting = {"list": "list", "set": "set", "map": "map", "struct": "single"}.get(kind, "list")
            block: dict[str, Any] = {"nesting_mode": nesting, "block": inner}
            single = flag is not None and _NEW.search(flag.code) is not None and "OutputReference(" in flag.code
            if nesting in {"list", "set"}:
                if flag is not None and flag.required:
                    block["min_items"] = 1
                if single:
                    block["max_items"] = 1
            block_types[name] = block
        else:
            # Plugin-framework nested attribute (`x = {...}`): its members are attributes whatever they hold.
            nesting = {"list": "list", "set": "set", "map": "map", "struct": "single"}.get(kind, "single")
            members = dict(inner["attributes"])
            for sub, sub_block in inner["block_types"].items():
                members[sub] = {"nested_type": _as_nested(sub_block), "optional": True}
            attributes[name] = _attribute(flag, nested={"attributes": members, "nesting_mode": nesting})
    return {"attributes": attributes, "block_types": block_types}


def _as_nested(block_type: dict[str, Any]) -> dict[str, Any]:
    """A nested block rendered as a nested attribute type (blocks inside framework nested attributes)."""
    inner = block_type["block"]
    members = dict(inner["attributes"])
    for sub, sub_block in inner["block_types"].items():
        members[sub] = {"nested_type": _as_nested(sub_block), "optional": True}
    return {"attributes": members, "nesting_mode": block_type["nesting_mode"]}


def derive_schema(wheel: Path) -> dict[str, Any]:
    """Read every generated module of the wheel's npm tarball and build the provider schema."""
    with zipfile.ZipFile(wheel) as zf:
        tarballs = [n for n in zf.namelist() if "/_jsii/" in n and n.endswith(".tgz")]
        if len(tarballs) != 1:
            raise RuntimeError(f"{wheel.name}: expected one _jsii/*.tgz, found {tarballs}")
        modules: dict[str, _Module] = defaultdict(_Module)
        package: dict[str, Any] = {}
        # Streamed (r|gz): the tarball holds ~5000 files, and only lib/**/*.js and package.json matter here.
        with zf.open(tarballs[0]) as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if member.name == "package/package.json":
                    extracted = tar.extractfile(member)
                    package = json.loads(extracted.read()) if extracted is not None else {}
                elif len(parts) >= 4 and parts[1] == "lib" and member.name.endswith(".js"):
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        _parse_js(modules[parts[2]], extracted.read().decode())
    wrapped = package.get("cdktf", {}).get("provider", {}).get("version")
    if wrapped != AWS_PROVIDER_VERSION:
        raise RuntimeError(f"{CDKTN_DIST} {CDKTN_VERSION} wraps aws {wrapped}, expected {AWS_PROVIDER_VERSION}")
    schema: dict[str, Any] = {
        "format": SCHEMA_FORMAT,
        "source": f"{CDKTN_DIST}=={CDKTN_VERSION}",
        "provider_version": AWS_PROVIDER_VERSION,
        "provider": {},
        "resource_schemas": {},
        "data_source_schemas": {},
    }
    for module in modules.values():
        for cls, base in module.bases.items():
            if base == "cdktn.TerraformProvider":
                schema["provider"] = {"version": 0, "block": _block(cls, cls, module)}
            elif base in {"cdktn.TerraformResource", "cdktn.TerraformDataSource"} and cls in module.tf_types:
                kind = "resource_schemas" if base == "cdktn.TerraformResource" else "data_source_schemas"
                schema[kind][module.tf_types[cls]] = {"version": 0, "block": _block(cls, cls, module)}
    if not schema["provider"] or len(schema["resource_schemas"]) < 1000 or len(schema["data_source_schemas"]) < 300:
        raise RuntimeError("derived schema is implausibly small; the generated code's layout has changed")
    return schema


def load_schema(cache_dir: Path = CACHE_DIR) -> dict[str, Any]:
    """The derived schema: from the JSON cache, else from the (cached) pinned wheel, else via pip."""
    cached = cache_dir / SCHEMA_FILE
    if cached.exists():
        try:
            schema: dict[str, Any] = json.loads(cached.read_bytes())
        except json.JSONDecodeError:
            schema = {}  # a damaged cache is rebuilt below, never trusted
        if schema.get("format") == SCHEMA_FORMAT and schema.get("source") == f"{CDKTN_DIST}=={CDKTN_VERSION}":
            return schema
    tool = _provider_schema_tool()
    wheel = tool.fetch_wheel(cache_dir, CDKTN_DIST, CDKTN_VERSION, CDKTN_WHEEL, CDKTN_WHEEL_SHA256)
    schema = derive_schema(wheel)
    tool._atomic_write(cached, json.dumps(schema, sort_keys=True, separators=(",", ":")).encode())
    return schema
