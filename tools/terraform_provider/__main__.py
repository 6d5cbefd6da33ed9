"""Entry point of the plugin executable: `python -m terraform_provider` (with tools/ on PYTHONPATH)."""

import sys

from terraform_provider.server import serve

sys.exit(serve())
