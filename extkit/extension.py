"""The two base classes extension authors subclass, with the reference system's interface.

- :class:`AppExtensionBase`: a static class (never instantiated) whose classmethod hooks run for
  every function. Defining the class registers it and runs ``init`` once.
- :class:`FuncExtensionBase`: instantiated in function code; its method hooks run for the
  functions it is bound to: the function whose folder holds ``file_path`` (folder-per-function
  apps), the functions defined in ``file_path`` (decorator model), or the ``functions`` it names.

The hooks themselves are specified once, in :mod:`extkit.hookspecs`. Mistakes that the reference
only reported as a swallowed ``TypeError`` at every invocation (a misspelled hook, a signature
that cannot fit, a hook that is not a classmethod) raise :class:`ExtensionDefinitionError` here,
when the class is defined.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from ._hookcall import analyse_hook, check_hook_names
from ._types import FunctionInfo
from .errors import ExtensionDefinitionError, FunctionExtensionException
from .registry import current_registry

__all__ = ["AppExtensionBase", "FuncExtensionBase", "is_concrete_app_extension"]


def _checked_configure(cls: type, raw: Any) -> classmethod[Any, ..., Any]:
    """Wrap ``configure`` so a wrong option names the accepted ones instead of a bare TypeError."""
    func: Callable[..., Any] = raw.__func__ if isinstance(raw, classmethod) else raw
    signature = inspect.signature(func)
    options = [
        name
        for name, param in list(signature.parameters.items())[1:]
        if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
    ]

    @functools.wraps(func)
    def configure(owner: type, *args: Any, **kwargs: Any) -> Any:
        try:
            signature.bind(owner, *args, **kwargs)
        except TypeError as exc:
            accepted = ", ".join(options) or "no options"
            raise TypeError(f"{owner.__name__}.configure(): {exc}; accepted: {accepted}") from None
        return func(owner, *args, **kwargs)

    return classmethod(configure)


class AppExtensionBase:
    """Base of app-level extensions. Subclass it; never instantiate it.

    Pass ``abstract=True`` in the class statement for an intermediate base that should not be
    registered itself: ``class MyBase(AppExtensionBase, abstract=True): ...``.
    """

    _extkit_abstract: ClassVar[bool] = True

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = check_hook_names(cls.__qualname__, dict(vars(cls)), app_scope=True)
        for hook_name in own:
            raw = inspect.getattr_static(cls, hook_name)
            if not isinstance(raw, (classmethod, staticmethod)):
                raise ExtensionDefinitionError(
                    f"{cls.__qualname__}.{hook_name} must be a @classmethod: app extensions are "
                    f"never instantiated"
                )
            analyse_hook(cls.__qualname__, hook_name, getattr(cls, hook_name))
        if "configure" in vars(cls):
            setattr(cls, "configure", _checked_configure(cls, vars(cls)["configure"]))  # noqa: B010
        cls._extkit_abstract = abstract
        if not abstract:
            current_registry().register(
                cls, scope="app", key=f"{cls.__module__}.{cls.__qualname__}", name=cls.__name__
            )

    def __new__(cls, *args: Any, **kwargs: Any) -> AppExtensionBase:
        raise FunctionExtensionException(
            f"{cls.__name__} is an app-level extension and is not instantiated; call its "
            f"classmethods directly, e.g. {cls.__name__}.configure(...)"
        )

    @classmethod
    def init(cls) -> None:
        """Runs once, when the class is defined (import time). Set up class-level resources."""

    @classmethod
    def configure(cls, *args: Any, **kwargs: Any) -> None:
        """Called by the app owner in function code. Document your options; unknown ones raise.

        An extension that defines no ``configure`` has no options, so any option is a mistake.
        """
        if args or kwargs:
            given = ", ".join([repr(arg) for arg in args] + list(kwargs))
            raise TypeError(
                f"{cls.__name__}.configure(): {cls.__name__} has no options, got {given}; "
                f"accepted: no options"
            )


class FuncExtensionBase:
    """Base of function-level extensions. Instantiate a subclass in function code.

    ``MyExtension(__file__)`` binds it to the function whose folder holds this file, or, in a
    decorator-model module, to the functions defined in this file. ``functions=`` names the
    target functions explicitly (case-insensitive), for any layout.
    """

    _extkit_file: str | None
    _extkit_functions: frozenset[str] | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for hook_name in check_hook_names(cls.__qualname__, dict(vars(cls)), app_scope=False):
            fn = getattr(cls, hook_name)
            raw = inspect.getattr_static(cls, hook_name)
            if not isinstance(raw, (classmethod, staticmethod)):
                fn = functools.partial(fn, None)  # read it as bound, without an instance
            analyse_hook(cls.__qualname__, hook_name, fn)
        if "__init__" in vars(cls):
            setattr(cls, "__init__", _registered_after(vars(cls)["__init__"]))  # noqa: B010

    def __init__(
        self,
        file_path: str | os.PathLike[str] | None = None,
        *,
        functions: str | Iterable[str] | None = None,
    ) -> None:
        if file_path is None and functions is None:
            raise FunctionExtensionException(
                f"{type(self).__name__}() needs the file it is created in "
                f"({type(self).__name__}(__file__)) or the functions it applies to "
                f"({type(self).__name__}(functions=['name']))"
            )
        if isinstance(functions, str):
            functions = [functions]
        self._extkit_file = os.path.abspath(os.fspath(file_path)) if file_path else None
        self._extkit_functions = (
            frozenset(name.lower() for name in functions) if functions is not None else None
        )
        if type(self) is FuncExtensionBase:
            raise FunctionExtensionException("FuncExtensionBase itself cannot be instantiated")
        if type(self).__init__ is FuncExtensionBase.__init__:
            _register_function_extension(self)

    def _extkit_binds_to(self, info: FunctionInfo) -> bool:
        if self._extkit_functions is not None:
            return info.name.lower() in self._extkit_functions
        path = self._extkit_file
        if path is None:
            return False
        if info.defined_in(path):
            return True
        if info.layout == "folder" and info.directory:
            folder = os.path.abspath(info.directory)
            return os.path.commonpath([folder, path]) == folder
        return False

    @property
    def bound_to(self) -> str:
        """A readable description of the binding, for listings and error messages."""
        if self._extkit_functions is not None:
            return "functions " + ", ".join(sorted(self._extkit_functions))
        return f"file {self._extkit_file}"


def _register_function_extension(instance: FuncExtensionBase) -> None:
    if not hasattr(instance, "_extkit_file"):
        cls = type(instance)
        raise FunctionExtensionException(
            f"{cls.__name__}.__init__ must call super().__init__(file_path) "
            f"(or super().__init__(functions=[...])) so extkit knows which functions it serves"
        )
    cls = type(instance)
    functions = ",".join(sorted(instance._extkit_functions or ()))
    current_registry().register(
        instance,
        scope="function",
        key=f"{cls.__module__}.{cls.__qualname__}|{instance._extkit_file}|{functions}",
        name=cls.__name__,
        applies_to=instance._extkit_binds_to,
    )


def _registered_after(init: Callable[..., None]) -> Callable[..., None]:
    """Register the instance once the subclass's own ``__init__`` has finished."""

    @functools.wraps(init)
    def init_then_register(self: FuncExtensionBase, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self).__init__ is init_then_register:  # only the most derived __init__ registers
            _register_function_extension(self)

    return init_then_register


def is_concrete_app_extension(obj: Any) -> bool:
    """Whether ``obj`` is an app extension class that registers itself (not ``AppExtensionBase``
    nor a base declared with ``abstract=True``)."""
    return (
        isinstance(obj, type)
        and issubclass(obj, AppExtensionBase)
        and obj is not AppExtensionBase
        and not vars(obj).get("_extkit_abstract", False)
    )
