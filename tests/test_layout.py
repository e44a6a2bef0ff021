"""The package layout: rules -> steps -> building blocks, with no import cycle.

Walks ``mist_steps`` with ``ast`` (nothing is imported) and reads the rules' shell lines.
"""

from __future__ import annotations

import ast
import re

from workflow_utils import REPO

PACKAGE = REPO / "mist_steps"
RULE_FILES = sorted((REPO / "rules").glob("*.smk"))


def _module_name(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Module -> the mist_steps modules it imports (anywhere in it, lazy imports included)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            # `from pkg import module` imports the module; `from module import name` the module
            deps.update(t for t in targets if t in modules)
        deps.discard(name)
        deps.discard("mist_steps")  # the package root only holds SNIPPET_LEN
        graph[name] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_package():
    assert _cycle(_imports()) is None


def test_a_step_never_imports_another_step_and_models_never_import_formats():
    graph = _imports()
    for module, deps in graph.items():
        if module.startswith("mist_steps.steps."):
            assert not {d for d in deps if d.startswith("mist_steps.steps.")}, module
        if module.startswith("mist_steps.models"):
            assert not {d for d in deps if d.startswith("mist_steps.formats")}, module
        if not module.startswith("mist_steps.steps"):  # building blocks stay below the steps
            assert not {d for d in deps if d.startswith("mist_steps.steps")}, module


def _rules() -> dict[str, str]:
    """Rule name -> its shell command text."""
    rules = {}
    for path in RULE_FILES:
        for block in re.split(r"^(?=rule )", path.read_text(), flags=re.M):
            head = re.match(r"rule (\w+):", block)
            if head:
                shell = block.split("    shell:", 1)
                assert len(shell) == 2, f"{path}: rule {head[1]} has no shell"
                rules[head[1]] = shell[1]
    return rules


def test_every_rule_runs_the_step_module_named_after_it():
    rules = _rules()
    assert len(rules) >= 20
    for rule, shell in rules.items():
        run = re.findall(r"python -m (mist_steps[\w.]*)", shell)
        assert run == [f"mist_steps.steps.{rule}"], (rule, run)
        assert (PACKAGE / "steps" / f"{rule}.py").is_file(), rule
    steps = {p.stem for p in (PACKAGE / "steps").glob("*.py")} - {"__init__"}
    assert steps == set(rules), "a step module without its rule, or the reverse"


MAX_FILE_LINES = 350
MAX_FUNCTION_LINES = 60  # from `def` to its last line, its docstring aside


def _function_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    lines = fn.end_lineno - fn.lineno + 1
    first = fn.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def test_function_size_counts_code_not_the_docstring():
    fn = ast.parse('def f():\n    """One.\n\n    Two."""\n    a = 1\n    return a\n').body[0]
    assert _function_lines(fn) == 3


def test_no_file_a_newcomer_must_scroll_through():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        where = path.relative_to(REPO)
        if len(text.splitlines()) > MAX_FILE_LINES:
            too_long.append(f"{where}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and _function_lines(node) > MAX_FUNCTION_LINES:
                too_long.append(f"{where}:{node.lineno} {node.name}: {_function_lines(node)}")
    assert not too_long, (f"over {MAX_FILE_LINES} lines a file or {MAX_FUNCTION_LINES} a "
                          f"function: {too_long}")
