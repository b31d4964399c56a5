"""Extensions written against ``azure.functions`` run on extkit's engine, unchanged.

Such an extension registers itself with the library's ``ExtensionMeta`` when its class is
defined (``AppExtensionBase``) or instantiated (``FuncExtensionBase(__file__)``).
:func:`adopt_azure_extensions` reads that registry through its public classmethods
(``get_application_hooks()``, ``get_registered_extensions_json()``, ``get_function_hooks(name)``)
and registers each extension into an extkit :class:`~extkit.Registry` as an ordinary extension,
so extkit's semantics apply to it: post hooks also run when the function raised, hook errors are
logged on ``extkit.extensions.<Name>``, its layers nest with those of extkit extensions,
``async def`` hooks are awaited.

What an Azure-written hook sees is what the reference worker gives it:

- positional arguments ``(function_name, function_directory)``, ``(logger, context, func_args)``
  and ``(logger, context, func_args, func_ret)``, whatever the hook calls its parameters;
- ``func_ret`` as a ``func.HttpResponse`` when the function answered HTTP: a copy of the
  invocation's response, whose changes (also the tutorial's ``func_ret._HttpResponse__body +=``)
  are copied back before the next hook runs;
- only the hooks the extension overrides are called (the library's base classes define no-op
  ones for all of them).

A ``FuncExtensionBase`` instance is bound to the functions of the file it was created in: the
function whose folder holds it (folder per function) or the functions ``function_app.py`` (or a
blueprint module) defines. The library's own key, the first folder under
``AzureWebJobsScriptRoot``, only narrows the search for that file.

The library's registry is process-wide and never forgets. Extensions whose class no longer is
what its module defines (the module was reloaded, or forgotten when an app was unloaded) are
left out, so a second app loaded in the same process does not inherit the first one's.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from logging import Logger
from pathlib import Path
from typing import Any, Final

import azure.functions as func

from .._hookcall import analyse_hook
from .._types import FunctionInfo
from ..context import Context
from ..errors import ExtensionDefinitionError
from ..http import HttpResponse
from ..registry import Registry, current_registry
from ._convert import azure_response, copy_back

__all__ = ["adopt_azure_extensions"]

#: The library's hook names (the fields of its hook containers), in the order it calls them.
APP_HOOKS: Final = (
    "post_function_load_app_level",
    "pre_invocation_app_level",
    "post_invocation_app_level",
)
FUNC_HOOKS: Final = ("post_function_load", "pre_invocation", "post_invocation")
#: Registration keys of adopted extensions start with this, apart from extkit's own.
KEY_PREFIX: Final = "azure.functions:"
SCRIPT_ROOT_ENV: Final = "AzureWebJobsScriptRoot"

Hook = Callable[..., Any]


def adopt_azure_extensions(registry: Registry | None = None) -> None:
    """Register into ``registry`` (default: the current one) every extension defined through
    ``azure.functions.AppExtensionBase`` / ``FuncExtensionBase`` that is not registered there yet.

    Idempotent: an extension already adopted is left as it is; one whose module was imported
    again since replaces its old self in place. Call it after the app's code was imported (the
    loader does); extensions registered with the library later are adopted by the next call.
    Registration order is the library's (import order for app extensions, creation order for
    function extensions), after the extensions already in ``registry``.
    """
    registry = registry if registry is not None else current_registry()
    adopted = {
        entry.key: getattr(entry.extension, "azure_extension", None)
        for entry in registry.entries(include_superseded=True)
        if entry.key.startswith(KEY_PREFIX)
    }
    meta = func.ExtensionMeta
    for cls, hooks in _app_extensions(meta):
        key = f"{KEY_PREFIX}{cls.__module__}.{cls.__qualname__}"
        if adopted.get(key) is not cls:
            registry.register(
                _app_adapter(cls, hooks), scope="app", key=key, name=cls.__name__, run_init=False
            )
            adopted[key] = cls
    script_root = os.environ.get(SCRIPT_ROOT_ENV)
    if script_root is None:
        return  # the library refuses to create function extensions without it: there are none
    root = Path(os.path.abspath(script_root))  # resolved against the working folder, as it does
    files = _app_modules(root)
    for trigger, instance, hooks in _function_extensions(meta):
        binding = _FileBinding.find(instance, root, trigger, files)
        if binding is None:
            continue
        cls = type(instance)
        key = f"{KEY_PREFIX}{cls.__module__}.{cls.__qualname__}|{binding.describe()}"
        if adopted.get(key) is not instance:
            registry.register(
                _function_adapter(instance, hooks, binding),
                scope="function",
                key=key,
                name=cls.__name__,
                applies_to=binding.binds_to,
            )
            adopted[key] = instance


# --- reading the library's registry -------------------------------------------------------------


def _is_current(cls: type) -> bool:
    """Whether ``cls`` is still what its module defines under its name (not a leftover of a
    module that was reloaded or forgotten). Classes defined inside functions count as current."""
    module = sys.modules.get(cls.__module__)
    if module is None:
        return False
    if "<locals>" in cls.__qualname__:
        return True
    found: Any = module
    for part in cls.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is cls


def _owner(impl: Hook) -> Any:
    """The class (app extensions) or instance (function extensions) a hook belongs to: the
    object a bound method is bound to, else the class its qualified name names."""
    bound = getattr(impl, "__self__", None)
    if bound is not None:
        return bound
    raw = inspect.unwrap(impl)
    module = sys.modules.get(getattr(raw, "__module__", "") or "")
    found: Any = module
    for part in getattr(raw, "__qualname__", "").split(".")[:-1]:
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None


def _overridden(impl: Hook, base: type, hook_name: str) -> bool:
    """Whether ``impl`` is the extension's own, not the library base class's no-op."""
    default = getattr(base, hook_name)
    return getattr(impl, "__func__", impl) is not getattr(default, "__func__", default)


def _grouped(
    hooks: Any, names: tuple[str, ...], base: type
) -> Iterator[tuple[Any, dict[str, Hook]]]:
    """(owner, {hook name: implementation}) for each extension in a hook container, in the
    order the library registered them; no-op hooks left out.

    The library appends one entry per hook name for each extension it registers, so the lists
    line up: the i-th entries belong to one extension (also when a hook is a staticmethod and so
    names no owner itself). Lists that do not line up are grouped by each hook's owner.
    """
    lists = [[(name, meta) for meta in getattr(hooks, name, None) or ()] for name in names]
    rows: list[tuple[tuple[str, Any], ...]] = list(zip(*lists, strict=False))
    aligned = len({len(found) for found in lists}) == 1 and all(
        len({meta.ext_name for _, meta in row}) == 1 for row in rows
    )
    if not aligned:
        rows = [(item,) for found in lists for item in found]
    groups: dict[int, tuple[Any, dict[str, Hook]]] = {}
    for row in rows:
        owners = [owner for _, meta in row if (owner := _owner(meta.ext_impl)) is not None]
        if not owners:
            continue
        # A function extension's instance, rather than the class a staticmethod hook names.
        owner = next((found for found in owners if not isinstance(found, type)), owners[0])
        _, implemented = groups.setdefault(id(owner), (owner, {}))
        for hook_name, meta in row:
            if _overridden(meta.ext_impl, base, hook_name):
                implemented[hook_name] = meta.ext_impl
    yield from groups.values()


def _app_extensions(meta: Any) -> Iterator[tuple[type, dict[str, Hook]]]:
    for cls, hooks in _grouped(meta.get_application_hooks(), APP_HOOKS, func.AppExtensionBase):
        if isinstance(cls, type) and _is_current(cls):
            yield cls, hooks


def _function_extensions(meta: Any) -> Iterator[tuple[str, Any, dict[str, Hook]]]:
    info = json.loads(meta.get_registered_extensions_json())
    seen: set[str] = set()
    for trigger in info.get("FuncExtension", {}):
        if trigger.lower() in seen:
            continue  # the library keys its hooks by the lower-cased name
        seen.add(trigger.lower())
        hooks = meta.get_function_hooks(trigger)
        for instance, found in _grouped(hooks, FUNC_HOOKS, func.FuncExtensionBase):
            if not isinstance(instance, type) and _is_current(type(instance)):
                yield trigger, instance, found


# --- which functions a function extension serves ------------------------------------------------


def _app_modules(root: Path) -> list[tuple[Path, Any]]:
    """The imported modules whose file lies in the app folder."""
    found = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            resolved = Path(os.path.abspath(path))
            if resolved.is_relative_to(root):
                found.append((resolved, module))
    return found


#: Function extensions once found in an app module (ids: the library's registry keeps each
#: instance alive for good, so an id is never reused).
_located: set[int] = set()


class _FileBinding:
    """The functions of one file (or, when the file cannot be told, of one folder)."""

    __slots__ = ("path", "trigger")

    def __init__(self, path: Path, trigger: str) -> None:
        self.path = path
        self.trigger = trigger

    @classmethod
    def find(
        cls, instance: Any, root: Path, trigger: str, modules: list[tuple[Path, Any]]
    ) -> _FileBinding | None:
        """Where ``instance`` was created: the app module under ``root/trigger`` that holds it
        (``ext = MyExtension(__file__)`` at module level, as the reference's docs show), else
        ``root/trigger`` itself. ``None`` for a leftover: an instance once found in a module
        that has since been forgotten (an unloaded app), or whose folder is not in this app."""
        target = Path(os.path.abspath(root / trigger))
        for path, module in modules:
            if (path == target or path.is_relative_to(target)) and any(
                value is instance for value in list(vars(module).values())
            ):
                _located.add(id(instance))
                return cls(path, trigger)
        if id(instance) in _located or not target.exists():
            return None
        return cls(target, trigger)

    def binds_to(self, info: FunctionInfo) -> bool:
        path = self.path
        if info.layout == "plain":  # Engine.load without a loader: the library's key, a name
            return info.name.lower() == self.trigger.lower()
        if info.layout == "folder" and info.directory:
            folder = Path(os.path.abspath(info.directory))
            return path == folder or path.is_relative_to(folder)
        if info.source_file is None:
            return False
        source = Path(os.path.abspath(info.source_file))
        return source == path or (path.is_dir() and source.is_relative_to(path))

    def describe(self) -> str:
        return str(self.path)


# --- adapters: the reference's calls, on extkit's engine ----------------------------------------


def _load_hook(impl: Hook) -> Hook:
    if inspect.iscoroutinefunction(impl):

        async def load_async(function_name: str, function_directory: str) -> None:
            await impl(function_name, function_directory)

        return load_async

    def load(function_name: str, function_directory: str) -> None:
        impl(function_name, function_directory)

    return load


def _pre_hook(owner: str, hook_name: str, impl: Hook) -> Hook:
    try:
        shape = analyse_hook(owner, hook_name, impl)
    except ExtensionDefinitionError:
        shape = None
    if shape is not None and shape.positional == 3:
        return impl  # takes the three arguments in order already: called directly
    if inspect.iscoroutinefunction(impl):

        async def pre_async(logger: Logger, context: Context, func_args: dict[str, Any]) -> None:
            await impl(logger, context, func_args)

        return pre_async

    def pre(logger: Logger, context: Context, func_args: dict[str, Any]) -> None:
        impl(logger, context, func_args)

    return pre


def _post_hook(impl: Hook) -> Hook:
    # The post hook gets a func.HttpResponse view of the invocation's response (exactly an
    # extkit.HttpResponse: a streaming subclass cannot be rebuilt and is passed as it is).
    if inspect.iscoroutinefunction(impl):

        async def post_async(
            logger: Logger,
            context: Context,
            func_args: dict[str, Any],
            func_ret: Any,
            func_exc: BaseException | None,
        ) -> None:
            if type(func_ret) is not HttpResponse:
                await impl(logger, context, func_args, func_ret)
                return
            view = azure_response(func_ret)
            try:
                await impl(logger, context, func_args, view)
            finally:
                copy_back(view, func_ret)

        return post_async

    def post(
        logger: Logger,
        context: Context,
        func_args: dict[str, Any],
        func_ret: Any,
        func_exc: BaseException | None,
    ) -> None:
        if type(func_ret) is not HttpResponse:
            impl(logger, context, func_args, func_ret)
            return
        view = azure_response(func_ret)
        try:
            impl(logger, context, func_args, view)
        finally:
            copy_back(view, func_ret)

    return post


def _adapted(owner: str, hooks: dict[str, Hook]) -> dict[str, Hook]:
    adapted: dict[str, Hook] = {}
    for hook_name, impl in hooks.items():
        if hook_name.startswith("post_function_load"):
            adapted[hook_name] = _load_hook(impl)
        elif hook_name.startswith("pre_invocation"):
            adapted[hook_name] = _pre_hook(owner, hook_name, impl)
        else:
            adapted[hook_name] = _post_hook(impl)
    return adapted


#: Adapter class per Azure-written app extension class: a subclass's adapter derives from its
#: parent's, so extkit's registry lets the subclass supersede the parent (inherited hooks run
#: once, not once per class as in the reference).
_app_adapters: dict[type, type] = {}


def _app_adapter(cls: type, hooks: dict[str, Hook]) -> type:
    found = _app_adapters.get(cls)
    if found is not None:
        return found
    bases = tuple(
        _app_adapters[parent]
        for parent in cls.__mro__[1:]
        if parent in _app_adapters and parent is not func.AppExtensionBase
    )
    namespace: dict[str, Any] = {
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        #: The Azure-written class this stands for.
        "azure_extension": cls,
        # The library ran ``init`` when the class was defined; the registry does not run it again.
        "init": getattr(cls, "init", None),
    }
    for hook_name, adapted in _adapted(cls.__qualname__, hooks).items():
        namespace[hook_name] = staticmethod(adapted)
    adapter = type(cls.__name__, bases[:1], namespace)
    _app_adapters[cls] = adapter
    return adapter


class AzureFunctionExtension:
    """An Azure-written function extension instance as extkit's registry sees it."""

    azure_extension: Any
    binding: _FileBinding

    @property
    def bound_to(self) -> str:
        return f"file {self.binding.describe()}"


def _function_adapter(
    instance: Any, hooks: dict[str, Hook], binding: _FileBinding
) -> AzureFunctionExtension:
    cls = type(instance)
    adapter_cls: type[AzureFunctionExtension] = type(
        cls.__name__,
        (AzureFunctionExtension,),
        {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__},
    )
    adapter = adapter_cls()
    adapter.azure_extension = instance
    adapter.binding = binding
    for hook_name, adapted in _adapted(cls.__qualname__, hooks).items():
        setattr(adapter, hook_name, adapted)
    return adapter
