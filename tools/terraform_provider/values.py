"""cty values on the wire (msgpack, unknown = extension type 0) and the stand-in's planning rule."""

from __future__ import annotations

from typing import Any

import msgpack

# cty's msgpack encoding of an unknown value; refined unknowns use other extension codes, also unknown here.
UNKNOWN = msgpack.ExtType(0, b"")


def decode(raw: bytes) -> Any:
    """Decode a DynamicValue's msgpack bytes (an object becomes a dict; unknowns stay ExtType)."""
    if not raw:
        return None
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def encode(value: Any) -> bytes:
    """Encode a value for a DynamicValue's msgpack field."""
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def is_unknown(value: Any) -> bool:
    """True for any cty unknown (plain or refined)."""
    return isinstance(value, msgpack.ExtType)


def is_known(value: Any) -> bool:
    """True if the value holds no unknown anywhere (what a data source needs to be read during plan)."""
    if is_unknown(value):
        return False
    if isinstance(value, dict):
        return all(is_known(v) for v in value.values())
    if isinstance(value, list):
        return all(is_known(v) for v in value)
    return True


def _elements(value: Any, nesting: str) -> list[Any]:
    """The objects inside a nested block or nested attribute value, whatever its nesting mode."""
    if value is None or is_unknown(value):
        return []
    if nesting == "single":
        return [value] if isinstance(value, dict) else []
    if nesting == "map":
        return [v for v in value.values() if isinstance(v, dict)] if isinstance(value, dict) else []
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def mark_computed_unknown(block: dict[str, Any], value: Any) -> Any:
    """Planned state on create: every computed attribute the configuration leaves null becomes unknown, recursively."""
    if not isinstance(value, dict):
        return value
    for name, attr in block.get("attributes", {}).items():
        current = value.get(name)
        if attr.get("computed") and current is None:
            value[name] = UNKNOWN
        elif "nested_type" in attr:
            nested = attr["nested_type"]
            for element in _elements(current, nested["nesting_mode"]):
                mark_computed_unknown(nested, element)
    for name, block_type in block.get("block_types", {}).items():
        for element in _elements(value.get(name), block_type["nesting_mode"]):
            mark_computed_unknown(block_type["block"], element)
    return value
