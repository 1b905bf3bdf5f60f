"""python/rnnpy/_core.pyi describes the built extension: the same classes,
functions, members and parameter names (a drift guard in the spirit of
mypy.stubtest, without the dependency)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import rnnpy._core as core

STUB = Path(__file__).resolve().parents[1] / "python" / "rnnpy" / "_core.pyi"


def _params(fn: ast.FunctionDef) -> list[str]:
    args = [a.arg for a in fn.args.args + fn.args.kwonlyargs]
    return [a for a in args if a not in ("self", "cls")]


def _stub() -> tuple[dict[str, dict[str, ast.AST]], dict[str, ast.FunctionDef], set[str]]:
    tree = ast.parse(STUB.read_text())
    classes, functions, variables = {}, {}, set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            members = {}
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    members[item.name] = item
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members[item.target.id] = item
            classes[node.name] = members
        elif isinstance(node, ast.FunctionDef):
            functions[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            variables.add(node.target.id)
    return classes, functions, variables


def _runtime_params(obj: object) -> list[str] | None:
    sig = getattr(obj, "__text_signature__", None)
    if not sig:
        return None
    return [p for p in inspect.signature(obj).parameters if p not in ("self", "cls", "$self", "$cls")]


def test_every_runtime_name_is_in_the_stub_and_back():
    classes, functions, variables = _stub()
    public = {n for n in dir(core) if not n.startswith("_")}
    assert public == set(classes) | set(functions) | (variables - {"__version__"})


def test_members_and_signatures_agree():
    classes, functions, _ = _stub()
    for name, fn in functions.items():
        assert _runtime_params(getattr(core, name)) in (None, _params(fn)), name
    for cname, members in classes.items():
        cls = getattr(core, cname)
        if issubclass(cls, BaseException):
            continue
        runtime = {m for m in dir(cls) if not m.startswith("_")}
        stubbed = {m for m in members if not m.startswith("_")}
        assert runtime == stubbed, f"{cname}: only at runtime {runtime - stubbed}, only in the stub {stubbed - runtime}"
        for mname, node in members.items():
            if isinstance(node, ast.FunctionDef) and mname != "__init__":
                if any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list):
                    continue
                assert _runtime_params(getattr(cls, mname)) in (None, _params(node)), f"{cname}.{mname}"
        init = members.get("__init__")
        if init is not None:
            assert _runtime_params(cls) in (None, _params(init)), f"{cname}.__init__"
