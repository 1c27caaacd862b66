"""The packages depend on each other in one direction only: model and specs, then components, then the
command line and the service; benchmarks and tests share ``harness`` and never each other."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package → top-level packages it must never import
FORBIDDEN = {
    "tenants": {"pulumi", "pulumi_docker", "pulumi_kubernetes", "pulumi_random", "pulumi_cloudflare", "typer", "rich"}
    | {"components", "signup", "tenantctl", "harness", "bench", "tests", "docker", "fastapi"},
    "components": {"signup", "tenantctl", "harness", "bench", "tests", "typer", "rich"},
    "signup": {"components", "tenantctl", "harness", "bench", "tests", "typer", "rich"},
    "tenantctl": {"components", "harness", "bench", "tests"},
    "harness": {"bench", "tests"},
    # The gateway runs alone in its image: it carries nothing of the program, the CLI or the service.
    "model_gateway": {"tenants", "components", "signup", "tenantctl", "harness", "bench", "tests", "pulumi"},
    # The data agent runs in its image too; of tenants/ it carries only data_names (tests/unit/test_backup_schedule.py).
    "data_agent": {"components", "signup", "tenantctl", "harness", "bench", "tests", "pulumi", "pydantic"},
    "bench": {"tests"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_against_the_direction(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    wrong = {
        str(f.relative_to(ROOT)): sorted(imported_packages(f) & FORBIDDEN[package])
        for f in files
        if imported_packages(f) & FORBIDDEN[package]
    }
    assert wrong == {}


def test_loading_every_model_module_loads_no_pulumi_typer_or_rich() -> None:
    modules = sorted(f"tenants.{f.stem}" for f in (ROOT / "tenants").glob("*.py") if f.stem != "__init__")
    code = (
        f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pulumi', 'typer', 'rich', 'click'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


DOCUMENTED = (
    "tenants",
    "components",
    "tenantctl",
    "signup",
    "model_gateway",
    "data_agent",
    "policy",
    "harness",
    "bench",
)


def layout_blocks() -> dict[str, str]:
    """The README's Layout section, one block of text per top-level bullet, keyed by its path."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, str] = {}
    for bullet in section.split("\n- `")[1:]:
        path, _, rest = bullet.partition("`")
        blocks[path.rstrip("/")] = rest
    return blocks


@pytest.mark.parametrize("package", DOCUMENTED)
def test_the_readme_layout_lists_every_module_of_each_package(package: str) -> None:
    listed = set(re.findall(r"`([\w]+\.py)`", layout_blocks()[package]))
    present = {f.name for f in (ROOT / package).glob("*.py") if f.name != "__init__.py"}
    assert listed == present
