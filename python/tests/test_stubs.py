"""The type stubs shipped with the package (geobatch/_native.pyi, py.typed) name every function,
class and method the native module has, and nothing it lacks."""

import ast
import pathlib

import geobatch
import geobatch._native as native

PACKAGE = pathlib.Path(geobatch.__file__).parent


def _stub_names():
    tree = ast.parse((PACKAGE / "_native.pyi").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            names |= {f"{node.name}.{f.name}" for f in node.body if isinstance(f, ast.FunctionDef)}
    return {n for n in names if not n.split(".")[-1].startswith("_")}


def _native_names():
    names = set()
    for name in dir(native):
        if name.startswith("_"):
            continue
        obj = getattr(native, name)
        if isinstance(obj, type):
            names.add(name)
            names |= {f"{name}.{m}" for m in dir(obj) if not m.startswith("_")}
        elif callable(obj):
            names.add(name)
    return names


def test_the_stubs_match_the_native_module():
    assert (PACKAGE / "py.typed").exists()
    stub, real = _stub_names(), _native_names()
    assert real - stub == set(), f"missing from _native.pyi: {sorted(real - stub)}"
    assert stub - real == set(), f"in _native.pyi but not in the module: {sorted(stub - real)}"
