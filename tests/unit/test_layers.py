"""The folder layout is the architecture: each layer imports only what it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "chalicelib"
AWS_AND_HTTP = ("boto3", "botocore", "chalice", "requests", "aws_lambda_powertools")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(layer: str) -> list[Path]:
    return sorted((LIB / layer).rglob("*.py"))


@pytest.mark.parametrize("path", modules("domain"), ids=lambda p: p.name)
def test_the_domain_is_pure_python(path: Path):
    outside = {
        name
        for name in imports(path)
        if name.split(".")[0] in AWS_AND_HTTP
        or (name.startswith("chalicelib.") and not name.startswith("chalicelib.domain"))
    }
    assert outside == set()


@pytest.mark.parametrize("path", modules("services"), ids=lambda p: p.name)
def test_services_reach_aws_and_http_only_through_ports(path: Path):
    assert {n for n in imports(path) if n.split(".")[0] in AWS_AND_HTTP} == set()
    assert not any(n.startswith(("chalicelib.bootstrap", "local", "cli")) for n in imports(path))


def imported_names(path: Path, module: str) -> set[str]:
    return {
        alias.name
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == module
        for alias in node.names
    }


@pytest.mark.parametrize("path", modules("services"), ids=lambda p: p.name)
def test_no_service_builds_answers(path: Path):
    assert "chalicelib.api.mappers" not in imports(path)
    answers = {n for n in imported_names(path, "chalicelib.api.schemas") if n.endswith("Out")}
    assert answers == set()


# A service takes commands (services/commands.py), never a request model, and reaches the table
# only through the store's repositories: neither the HTTP layer nor the key layout nor the table's
# vocabulary (its types are named through ports).
PAST_THE_SEAMS = (
    "chalicelib.api",
    "chalicelib.adapters.store.layout",
    "chalicelib.adapters.store.table",
)


def reached(path: Path) -> set[str]:
    found = imports(path) | {
        f"{package}.{name}"
        for package in ("chalicelib", "chalicelib.adapters.store")
        for name in imported_names(path, package)
    }
    return {n for n in found if any(n == p or n.startswith(f"{p}.") for p in PAST_THE_SEAMS)}


@pytest.mark.parametrize("path", modules("services"), ids=lambda p: p.name)
def test_services_take_commands_and_reach_the_table_only_through_repositories(path: Path):
    assert reached(path) == set()


def test_nothing_in_the_lambda_package_imports_the_local_stack_cli_or_bench():
    for path in LIB.rglob("*.py"):
        roots = {name.split(".")[0] for name in imports(path)}
        assert not roots & {"local", "cli", "bench", "tests"}, path


@pytest.mark.parametrize("path", modules("services"), ids=lambda p: p.name)
def test_every_service_writes_through_repositories(path: Path):
    layers = {"chalicelib.adapters.store.layout", "chalicelib.adapters.store.table"}
    assert not imports(path) & layers
    assert "layout" not in imported_names(path, "chalicelib.adapters.store")
    assert "store.table." not in path.read_text()  # no write past the repositories


def runtime_imports(path: Path) -> set[str]:
    """The modules ``path`` imports when it runs (not those named for type checkers only)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_ports_build_no_client_the_composition_root_does():
    assert {
        n for n in runtime_imports(LIB / "ports.py") if n.startswith("chalicelib.adapters")
    } == set()


def parts() -> dict[str, set[str]]:
    """The parts of services/deps.py and their fields."""
    tree = ast.parse((LIB / "services" / "deps.py").read_text())
    return {
        node.name: {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)}
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name != "OnFirstUse"
    }


def read_of(part: str) -> set[str]:
    """What the services read of ``part``: ``x.field`` where ``x`` is a parameter (or an
    attribute, ``self.core``, ``sending.core``) named for it."""
    read: set[str] = set()
    for path in modules("services"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            names = {
                a.arg
                for a in node.args.args
                if isinstance(a.annotation, ast.Name) and a.annotation.id == part
            }
            if part == "Core":
                names.add("core")  # self.core, sending.core: the core held by a part or step
            for inner in ast.walk(node):
                if isinstance(inner, ast.Attribute):
                    value = inner.value
                    held = value.id if isinstance(value, ast.Name) else getattr(value, "attr", "")
                    if held in names:
                        read.add(inner.attr)
    return read


@pytest.mark.parametrize("part", sorted(parts()))
def test_each_part_holds_only_what_its_services_use(part: str):
    """The services take the part of their area (never the composition root's whole
    ``Services``), and no part carries a dependency that none of its services reads."""
    assert parts()[part] - read_of(part) == set()


@pytest.mark.parametrize("path", modules("services"), ids=lambda p: p.name)
def test_no_service_takes_the_whole_container(path: Path):
    assert "Services" not in {
        n.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Name)
    }
    assert not any(n.startswith("chalicelib.bootstrap") for n in imports(path))
