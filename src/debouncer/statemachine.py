"""Renders statemachines/debounce.asl.json.tftpl the way Terraform's templatefile() does, for the local runtime."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

PLACEHOLDER = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> set[str]:
    """Every ${name} the template needs."""
    return set(PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, str]) -> str:
    """Substitute every placeholder; a missing or unused value is an error, as with templatefile()."""
    needed = placeholders(template)
    missing, extra = needed - values.keys(), values.keys() - needed
    if missing or extra:
        raise ValueError(f"state machine template: missing {sorted(missing)}, unused {sorted(extra)}")
    rendered = PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    json.loads(rendered)  # the result must still be a valid definition
    return rendered


def render_file(path: Path, values: Mapping[str, str]) -> str:
    """Render the definition file at `path`."""
    return render(path.read_text(), values)
