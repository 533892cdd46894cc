"""Packages whose re-exports are loaded on first use, rather than all at once when the package is imported.

Powertools' `event_handler` package imports every resolver it offers (AppSync, which imports asyncio, Bedrock
agents, VPC Lattice...), and its `utilities.data_classes` package a class for every kind of Lambda event (dozens
of dataclasses). The function uses one resolver and one event class: the rest was about 30 ms of a cold start
(`make bench`). `defer` imports such a package without running its `__init__`: each name it re-exports is loaded
from the submodule it comes from when something first asks for it (PEP 562's module `__getattr__`), a submodule is
imported as usual, and anything else runs the package's own `__init__` in full first, so every name the package
offers is still there. The objects are the package's own: only when each is loaded changes.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

# Powertools' packages the function imports from, whose `__init__` loads much that the function never uses.
POWERTOOLS_PACKAGES = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")


def defer(*names: str) -> None:
    """Put each package in `sys.modules` with its re-exports loaded on first use. One already imported stays as it
    is, and so does one that cannot be read as expected: it is then imported as usual, all at once."""
    for name in names:
        if name in sys.modules:
            continue
        try:
            _defer(name)
        except Exception:  # the package as it is: slower to import, the same to use
            sys.modules.pop(name, None)


def _defer(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not an ordinary package
    if spec.origin is None or not spec.origin.endswith(".py"):
        return  # no source to read its re-exports from
    with open(spec.origin, encoding="utf-8") as source:
        exports = _reexports(name, source.read())
    package = importlib.util.module_from_spec(spec)
    package.__getattr__ = _Loader(package, exports)  # type: ignore[method-assign]
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, package)
    for exported, (submodule, _) in exports.items():
        if submodule.rpartition(".")[2] == exported:
            # A name that is also its submodule's (data_classes' `event_source`): importing the submodule would
            # bind the module to it, where the package's `__init__` binds the name it re-exports. Bound now.
            getattr(package, exported)


def _reexports(package: str, source: str) -> dict[str, tuple[str, str]]:
    """What `__init__` imports from the package's own submodules: {exported name: (submodule, its name there)}."""
    found = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ImportFrom) or node.module is None:
            continue
        if node.level == 1:
            submodule = f"{package}.{node.module}"
        elif node.level == 0 and node.module.startswith(package + "."):
            submodule = node.module
        else:
            continue
        for alias in node.names:
            found[alias.asname or alias.name] = (submodule, alias.name)
    return found


class _Loader:
    """The deferred package's `__getattr__`: called only for a name the package does not hold yet."""

    def __init__(self, package: ModuleType, exports: dict[str, tuple[str, str]]):
        self._package = package
        self._exports = exports

    def __call__(self, name: str) -> Any:
        package = self._package
        if name in self._exports:
            submodule, attribute = self._exports[name]
            value = getattr(importlib.import_module(submodule), attribute)
            setattr(package, name, value)
            return value
        if name.startswith("__") and name != "__all__":
            raise AttributeError(name)  # probes of special names (copy, inspect...) load nothing
        if importlib.util.find_spec(f"{package.__name__}.{name}") is not None:
            return importlib.import_module(f"{package.__name__}.{name}")  # which binds it on the package
        return self._complete(name)

    def _complete(self, name: str) -> Any:
        """Run the package's own `__init__`, once: the package then holds all it offers, and needs no loader."""
        package = self._package
        del package.__getattr__
        assert package.__spec__ is not None and package.__spec__.loader is not None
        package.__spec__.loader.exec_module(package)
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {package.__name__!r} has no attribute {name!r}") from None
