"""Every selector of every app takes the acting post; every API operation requires auth."""

import importlib
import inspect
import pkgutil

import wangge


def _selector_modules():
    for mod in pkgutil.walk_packages(wangge.__path__, "wangge."):
        if mod.name.endswith(".selectors"):
            yield importlib.import_module(mod.name)


def test_every_selector_takes_the_actor():
    seen = 0
    for module in _selector_modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module.__name__:
                continue
            params = inspect.signature(fn).parameters
            assert "actor" in params, f"{module.__name__}.{name} has no actor"
            assert params["actor"].kind is inspect.Parameter.KEYWORD_ONLY, name
            assert params["actor"].default is inspect.Parameter.empty, (
                f"{module.__name__}.{name}: actor must be passed explicitly"
            )
            seen += 1
    assert seen >= 10


def test_every_api_operation_requires_authentication(db):
    from wangge.core.api import api

    schema = api.get_openapi_schema()
    ops = 0
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            assert op.get("security"), f"{method.upper()} {path} is open to anonymous callers"
            ops += 1
    assert ops >= 10
