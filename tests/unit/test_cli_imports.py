"""The command line imports no use case before a command runs: Powertools' loggers take their level at import, and
`debouncer serve` sets it (quiet on the console) only once it runs."""

from __future__ import annotations

import json
import subprocess
import sys


def test_building_the_command_line_imports_no_use_case_or_handler() -> None:
    probe = (
        "import contextlib, json, sys\n"
        "from debouncer import cli\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(None):\n"
        "    cli.main(['--help'])\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    probed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(probed.stdout)

    assert "debouncer.cli" in loaded and "debouncer.ops.tune" in loaded  # the probe did build every command
    assert [m for m in loaded if m.startswith(("debouncer.usecases", "debouncer.api", "aws_lambda_powertools"))] == []
