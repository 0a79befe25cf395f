"""The library's imports run one way: core <- models <- runs <- inference <- training <- jobs <- analysis <- CLI.

Every import of a saltlab module, at the top of a file or inside a function, is read from the
source (ast); an import into a higher layer, or a cycle between modules, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
LAYERS = ["core", "models", "runs", "inference", "training", "jobs", "analysis", "cli"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return 0  # the package itself: __version__ only
    name = parts[1]
    return LAYERS.index("cli") if name in ("cli", "__main__") else LAYERS.index(name)


def imports_of(source: str, modules: set[str]) -> set[str]:
    """The saltlab modules a file imports ('from saltlab.core import rle' is saltlab.core.rle)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "saltlab":
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "saltlab"}
    return found


def library() -> dict[str, str]:
    return {module_name(p): p.read_text() for p in sorted((PROJECT / "saltlab").rglob("*.py"))}


def upward_imports(sources: dict[str, str]) -> list[str]:
    modules = set(sources)
    return [
        f"{m} (layer {LAYERS[layer_of(m)]}) imports {t} (layer {LAYERS[layer_of(t)]})"
        for m, src in sources.items()
        for t in sorted(imports_of(src, modules))
        if layer_of(t) > layer_of(m)
    ]


def cycles(sources: dict[str, str]) -> list[list[str]]:
    modules = set(sources)
    graph = {m: {t for t in imports_of(src, modules) if t in modules and t != m} for m, src in sources.items()}
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_every_package_is_a_known_layer():
    for module in library():
        layer_of(module)  # ValueError for a package outside LAYERS


def test_no_import_runs_upward():
    assert upward_imports(library()) == []


def test_no_import_cycles():
    assert cycles(library()) == []


def test_the_library_never_imports_streamlit_or_the_pages():
    for module, source in library().items():
        tree = ast.parse(source)
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {n for n in names if n.split(".")[0] in ("streamlit", "pages")}, module


def test_the_checks_catch_what_they_name():
    sources = {
        "saltlab.core.a": "from saltlab.training.engine import train\n",
        "saltlab.training.engine": "def train():\n    from saltlab.core import a\n",
        "saltlab.core": '"""package"""\n',
    }
    assert upward_imports(sources) == ["saltlab.core.a (layer core) imports saltlab.training.engine (layer training)"]
    assert cycles(sources) == [["saltlab.core.a", "saltlab.training.engine", "saltlab.core.a"]]


MAX_FUNCTION_LINES = 60


def app_sources() -> dict[str, str]:
    """The pages and the entry point, keyed by module name (pages.train, app)."""
    files = sorted((PROJECT / "pages").glob("*.py")) + [PROJECT / "app.py"]
    return {module_name(p): p.read_text() for p in files}


SHARED_PAGE_MODULES = ("pages._ui", "pages._state")


def private_page_imports(sources: dict[str, str]) -> list[str]:
    """Private names a page takes from another page module, and any page importing another page (the shared
    helpers pages._ui and pages._state are not pages)."""
    found = []
    for module, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pages"):
                continue
            if node.module == "pages":  # from pages import _state
                found += [f"{module} imports the page pages.{a.name}" for a in node.names
                          if f"pages.{a.name}" not in SHARED_PAGE_MODULES]  # fmt: skip
                continue
            if node.module not in SHARED_PAGE_MODULES:
                found.append(f"{module} imports the page {node.module}")
            found += [f"{module} imports {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return found


def long_functions(sources: dict[str, str]) -> list[str]:
    return [
        f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for module, source in sources.items()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def test_pages_and_the_cli_import_only_down_the_layers():
    """The pages sit above every layer: they import the library and the shared pages._ui, never another page
    or its private names; the CLI (a library layer, checked above) never imports a page."""
    sources = app_sources()
    assert private_page_imports(sources) == []
    for module, source in sources.items():
        for target in imports_of(source, set(library())):
            assert target.split(".")[0] == "saltlab", (module, target)


def test_no_function_over_sixty_lines_in_the_library_the_cli_or_the_pages():
    assert long_functions({**library(), **app_sources()}) == []


def test_the_app_checks_catch_what_they_name():
    sources = {
        "pages.a": "from pages.b import helper\nfrom pages._ui import _hidden, shown\n",
        "pages.b": "def f():\n" + "    x = 1\n" * 60,
    }
    assert private_page_imports(sources) == ["pages.a imports the page pages.b", "pages.a imports pages._ui._hidden"]
    assert long_functions(sources) == ["pages.b.f: 61 lines"]


def literal_state_keys(source: str) -> list[str]:
    """The string keys a page names: `key="..."` of widgets, `st.session_state["..."]` and its get/pop/setdefault,
    and the leading literal part of an f-string key."""
    found = []
    for node in ast.walk(ast.parse(source)):
        values = []
        if isinstance(node, ast.keyword) and node.arg == "key":
            values.append(node.value)
        elif isinstance(node, ast.Subscript) and "session_state" in ast.unparse(node.value):
            values.append(node.slice)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if node.func.attr in ("get", "pop", "setdefault") and "session_state" in ast.unparse(node.func.value):
                values.append(node.args[0])
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.append(value.value)
            elif isinstance(value, ast.JoinedStr) and value.values and isinstance(value.values[0], ast.Constant):
                found.append(value.values[0].value)
    return found


def foreign_state_keys(sources: dict[str, str], prefixes: dict[str, tuple[str, ...]]) -> list[str]:
    return [
        f"{module}: {key!r}"
        for module, source in sources.items()
        if module.startswith("pages.") and module != "pages._state"
        for key in literal_state_keys(source)
        if not key.startswith(prefixes.get(module.split(".")[1], ()))
    ]


def test_each_page_names_only_its_own_session_keys():
    """Keys that cross pages are names in pages._state; a page's own keys start with its prefix, so no page
    writes another page's state by a string."""
    import sys

    sys.path.insert(0, str(PROJECT))
    from pages._state import PAGE_PREFIXES

    assert foreign_state_keys(app_sources(), PAGE_PREFIXES) == []
    caught = foreign_state_keys(
        {"pages.train": 'st.session_state["explorer_focus"] = 1\nst.selectbox("x", key=f"train_{a}")\n'},
        PAGE_PREFIXES,
    )
    assert caught == ["pages.train: 'explorer_focus'"]
