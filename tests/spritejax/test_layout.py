"""The source layout: packages as pyproject declares them, the named configs, and an import graph without cycles."""

import ast
import pathlib
import shutil
import subprocess
import sys
import tomllib
import zipfile

from spritejax import config

ROOT = pathlib.Path(__file__).resolve().parents[2]
# where each package's source lives (pyproject's package-dir: configs/ is spritejax.configs)
SOURCES = {"spritejax": ROOT / "spritejax", "bmff": ROOT / "bmff", "spritejax.configs": ROOT / "configs"}


def module_files() -> dict[str, pathlib.Path]:
    files = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = [*package.split("."), *path.relative_to(folder).with_suffix("").parts]
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of both packages it imports anywhere (function-level imports included). `from p
    import name` depends on the submodule p.name when there is one, else on p itself."""
    files = module_files()
    graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + [base] * bool(base))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            deps |= {n for n in names if n in files and n != module}
        graph[module] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_in_either_package():
    graph = import_graph()
    assert len(graph) > 60 and "spritejax.evaluate" in graph and "bmff.amd1.rules" in graph
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_evaluating_imports_no_drawing_code():
    code = "import sys, spritejax.evaluate; print(sorted(m for m in sys.modules if m.startswith('spritejax')))"
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "spritejax.evaluate" in loaded and "spritejax.viz" not in loaded and "spritejax.train'" not in loaded


def test_pyproject_lists_every_package_of_the_source_tree():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert declared["package-dir"] == {"spritejax.configs": "configs"}
    found = {m for m, p in module_files().items() if p.name == "__init__.py"}
    assert set(declared["packages"]) == found


def test_named_configs_are_the_files_of_configs():
    assert set(config.NAMES) == {p.stem for p in (ROOT / "configs").glob("*.py")} - {"__init__"}
    assert config.named_config_dir().resolve() == (ROOT / "configs").resolve()


def test_a_source_tree_loads_its_own_named_configs(tmp_path):
    """A copy of the tree run from its folder (an A/B snapshot, a checkout on a machine without pip install)
    reads the configs/ beside its spritejax/, not those of the tree installed in the environment."""
    for folder in ("spritejax", "configs"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "configs" / "demo.py").write_text((ROOT / "configs" / "demo.py").read_text().replace(
        "cfg.model.num_sprites = 16", "cfg.model.num_sprites = 17"))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import spritejax.config as c; "
            "assert c.__file__.startswith(sys.argv[1]); print(c.named_config_dir(), c.load('demo').model.num_sprites)")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(tmp_path / "configs"), "17"]


def test_the_wheel_carries_the_named_configs(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("spritejax-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"spritejax/configs/{n}.py" for n in config.NAMES} | {"spritejax/configs/__init__.py"} <= names
