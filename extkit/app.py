"""The function-app model: what a function is (:class:`FunctionSpec`) and the decorator API.

Both layouts of an app end up as a list of ``FunctionSpec``: the loader builds them from
``function.json`` files (folder per function) or asks a :class:`FunctionApp` in
``function_app.py`` for them (decorator model). The host, ``extkit invoke`` and the engine only
ever see specs, so they do not care how an app was declared.

Decorators record what they were told and return the function unchanged, so a decorated function
stays a plain callable that unit tests call directly, and the decorators stack in any order::

    app = FunctionApp(http_auth_level="anonymous")

    @app.function_name("Greet")
    @app.route(route="greet/{name}", methods=["GET"])
    def greet(req: HttpRequest) -> str:
        return f"Hello, {req.route_params['name']}"
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal, TypeVar

from ._types import FunctionInfo, Lifespan

__all__ = [
    "HTTP_METHODS",
    "AuthLevel",
    "Blueprint",
    "FunctionApp",
    "FunctionAppError",
    "FunctionSpec",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Methods an HTTP trigger may name (upper case, as ``FunctionSpec.methods`` holds them); QUERY
#: is the safe method with a body that newer azure-functions versions list among theirs.
HTTP_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "QUERY"}
)


class AuthLevel(str, Enum):
    """Who may call an HTTP function: anyone, holders of a function key, or of the admin key."""

    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: AuthLevel | str, *, where: str = "authLevel") -> AuthLevel:
        """Accept any spelling case (``"Anonymous"`` as function.json files often have it)."""
        if isinstance(value, AuthLevel):
            return value
        if isinstance(value, str):
            for level in cls:
                if level.value == value.strip().lower():
                    return level
        raise FunctionAppError(
            f"{where}: {value!r} is not an auth level; expected one of "
            f"{', '.join(level.value for level in cls)}"
        )

    def __str__(self) -> str:
        return self.value


class FunctionAppError(ValueError):
    """A function is declared in a way that cannot work (raised by the decorators and loader)."""


@dataclass(frozen=True, eq=False)
class FunctionSpec:
    """One function of an app, however it was declared.

    ``bindings`` holds the function.json-style dicts (also generated for the decorator model), so
    extensions and tools can read one shape; the other fields are the parts extkit itself uses.
    Compared and hashed by identity: a spec can key a dict even though its bindings are dicts.
    """

    name: str
    func: Callable[..., Any]
    trigger: str  # "http", "timer", or another binding type
    trigger_arg: str  # the parameter that receives the HttpRequest / TimerRequest
    route: str | None = None  # HTTP: template without the route prefix, e.g. "items/{id:int}"
    methods: tuple[str, ...] | None = None  # HTTP: upper case; None = every method
    auth_level: AuthLevel | None = None  # HTTP only
    schedule: str | None = None  # timer: NCRONTAB expression, six fields
    run_on_startup: bool = False
    http_output: str | None = None  # "$return", the name of an Out parameter, or None
    outputs: tuple[str, ...] = ()  # names of Out parameters
    bindings: tuple[dict[str, Any], ...] = ()
    source_file: str | None = None
    directory: str = ""
    layout: Literal["folder", "decorator"] = "decorator"
    #: Turns the host's trigger value into what the function expects (code written against
    #: ``azure.functions`` gets that library's types: see ``extkit.azure``); ``None``: as is.
    convert_trigger: Callable[[Any], Any] | None = None
    #: HTTP: builds the request the host hands the function, from what it read, with
    #: ``HttpRequest``'s arguments (an azure-typed function's is built as that library's
    #: request, not converted from extkit's); ``None``: an ``HttpRequest``.
    make_request: Callable[..., Any] | None = None
    #: HTTP: ``(result, func_args) -> result``, run as the function returns, before post hooks:
    #: turns what it answered with into extkit's types (``azure.functions``' response, returned
    #: or set on an ``Out``); ``None``: as is.
    convert_result: Callable[[Any, dict[str, Any]], Any] | None = None
    #: Started by the host before it serves and stopped when it stops (``AsgiFunctionApp``).
    lifespan: Lifespan | None = None
    #: HTTP: the host does not read the body before the call; ``req.stream()`` reads it.
    stream_request: bool = False

    def __repr__(self) -> str:
        where = f" {self.methods or 'ANY'} {self.route!r}" if self.trigger == "http" else ""
        return f"FunctionSpec({self.name!r}, trigger={self.trigger!r}{where})"

    def info(self, route_prefix: str) -> FunctionInfo:
        """What the engine and extensions are told of this function (``context.function_info``),
        the one place a declaration becomes that record; an HTTP route gets the host's prefix."""
        route = None
        if self.trigger == "http":
            route = "/" + "/".join(part for part in (route_prefix, self.route or self.name) if part)
        return FunctionInfo(
            name=self.name,
            directory=self.directory,
            source_file=self.source_file or source_file_of(self.func),
            trigger=self.trigger,
            layout=self.layout,
            is_async=inspect.iscoroutinefunction(inspect.unwrap(self.func)),
            bindings=self.bindings,
            route=route,
        )


def normalize_route(route: str) -> str:
    """A route template as specs keep it: no leading or trailing slash."""
    return route.strip().strip("/")


def normalize_methods(methods: Iterable[str] | str | None, *, where: str) -> tuple[str, ...] | None:
    """Upper-case, de-duplicated methods in the given order; ``None`` (or empty) means all."""
    if methods is None:
        return None
    if isinstance(methods, str):
        methods = [methods]
    found: list[str] = []
    for method in methods:
        name = getattr(method, "value", method)  # an Enum of methods works too
        if not isinstance(name, str) or name.strip().upper() not in HTTP_METHODS:
            raise FunctionAppError(
                f"{where}: {method!r} is not an HTTP method; expected some of "
                f"{', '.join(sorted(HTTP_METHODS))}"
            )
        if name.strip().upper() not in found:
            found.append(name.strip().upper())
    return tuple(found) or None


@dataclass
class _Pending:
    """What the decorators have said about one function so far."""

    func: Callable[..., Any]
    name: str | None = None
    trigger: str | None = None
    trigger_arg: str = ""
    trigger_fields: dict[str, Any] = field(default_factory=dict)
    route: str | None = None
    methods: tuple[str, ...] | None = None
    auth_level: AuthLevel | None = None
    schedule: str | None = None
    run_on_startup: bool = False
    http_output: str | None = None  # from route(binding_arg_name=...)
    http_output_binding: str | None = None  # from generic_output_binding(type="http")
    outputs: list[dict[str, Any]] = field(default_factory=list)
    stream_request: bool = False

    def label(self) -> str:
        return self.name or str(getattr(self.func, "__qualname__", repr(self.func)))


class _Decorators:
    """The decorators shared by :class:`FunctionApp` and :class:`Blueprint`."""

    def __init__(self) -> None:
        # Insertion order is declaration order: get_functions() lists functions as written.
        self._pending: dict[Callable[..., Any], _Pending] = {}

    def _entry(self, func: Any, decorator: str) -> _Pending:
        if not callable(func):
            raise FunctionAppError(
                f"@{decorator} must decorate a function, not {type(func).__name__}"
            )
        entry = self._pending.get(func)
        if entry is None:
            entry = self._pending[func] = _Pending(func)
        return entry

    def _set_trigger(self, entry: _Pending, trigger: str, decorator: str) -> None:
        if entry.trigger is not None:
            raise FunctionAppError(
                f"function {entry.label()!r} already has a trigger ({entry.trigger}); "
                f"@{decorator} would add a second one (a function has exactly one trigger)"
            )
        entry.trigger = trigger

    def function_name(self, name: str) -> Callable[[F], F]:
        """Name the function (default: the Python function's name). Stacks above or below."""
        if not isinstance(name, str) or not name.strip():
            raise FunctionAppError(f"function_name: expected a non-empty name, got {name!r}")

        def decorate(func: F) -> F:
            entry = self._entry(func, "function_name")
            if entry.name is not None and entry.name != name:
                raise FunctionAppError(f"function {entry.name!r} is named twice (also {name!r})")
            entry.name = name.strip()
            return func

        return decorate

    def route(
        self,
        route: str | None = None,
        methods: Iterable[str] | str | None = None,
        auth_level: AuthLevel | str | None = None,
        trigger_arg_name: str = "req",
        binding_arg_name: str | None = "$return",
        stream_request: bool = False,
    ) -> Callable[[F], F]:
        """An HTTP trigger at ``/{routePrefix}/{route}`` (default route: the function's name).

        ``binding_arg_name`` is where the response comes from: the return value (``"$return"``)
        or an ``Out[HttpResponse]`` parameter of that name. ``stream_request=True`` (an async
        function only): the host calls the function without reading the body first, and
        ``req.stream()`` yields it as it arrives.
        """

        def decorate(func: F) -> F:
            entry = self._entry(func, "route")
            where = f"route of {entry.label()!r}"
            if not isinstance(stream_request, bool):
                raise FunctionAppError(
                    f"{where}: stream_request must be True or False, got {stream_request!r}"
                )
            self._set_trigger(entry, "http", "route")
            entry.trigger_arg = trigger_arg_name
            entry.route = None if route is None else normalize_route(route)
            entry.methods = normalize_methods(methods, where=where)
            entry.auth_level = (
                None if auth_level is None else AuthLevel.parse(auth_level, where=where)
            )
            entry.http_output = binding_arg_name
            entry.stream_request = stream_request
            return func

        return decorate

    def schedule(
        self,
        schedule: str,
        arg_name: str = "timer",
        run_on_startup: bool = False,
        use_monitor: bool | None = None,
    ) -> Callable[[F], F]:
        """A timer trigger on an NCRONTAB schedule (six fields: second minute hour day month
        day-of-week)."""

        def decorate(func: F) -> F:
            entry = self._entry(func, "schedule")
            if not isinstance(schedule, str) or not schedule.strip():
                raise FunctionAppError(
                    f"schedule of {entry.label()!r}: expected an NCRONTAB expression such as "
                    f"'0 */5 * * * *', got {schedule!r}"
                )
            self._set_trigger(entry, "timer", "schedule")
            entry.trigger_arg = arg_name
            entry.schedule = schedule.strip()
            entry.run_on_startup = bool(run_on_startup)
            if use_monitor is not None:
                entry.trigger_fields["useMonitor"] = bool(use_monitor)
            return func

        return decorate

    #: The reference library's other name for :meth:`schedule`.
    timer_trigger = schedule

    def generic_output_binding(self, arg_name: str, type: str, **kwargs: Any) -> Callable[[F], F]:
        """An output binding the function sets through an ``Out`` parameter named ``arg_name``.

        ``type="http"`` makes that parameter the HTTP response; other types are passed to the
        host as function.json-style bindings (the loader checks it knows them).
        """

        def decorate(func: F) -> F:
            entry = self._entry(func, "generic_output_binding")
            if type == "http":
                if entry.http_output_binding not in (None, arg_name):
                    raise FunctionAppError(
                        f"function {entry.label()!r} already has the http output "
                        f"{entry.http_output_binding!r}; a function has at most one"
                    )
                entry.http_output_binding = arg_name
            else:
                entry.outputs.append({"type": type, "direction": "out", "name": arg_name, **kwargs})
            return func

        return decorate

    def _specs(self, default_auth: AuthLevel) -> list[FunctionSpec]:
        return [_build_spec(entry, default_auth) for entry in self._pending.values()]


def _build_spec(entry: _Pending, default_auth: AuthLevel) -> FunctionSpec:
    func = entry.func
    name = entry.name or str(getattr(func, "__name__", ""))
    if entry.trigger is None:
        raise FunctionAppError(
            f"function {name!r} has no trigger: add @app.route(...) or @app.schedule(...)"
        )
    source_file = source_file_of(func)
    bindings: list[dict[str, Any]] = []
    outputs: list[str] = []
    http_output = entry.http_output
    if entry.http_output_binding is not None:
        if http_output not in (None, "$return", entry.http_output_binding):
            raise FunctionAppError(
                f"function {name!r} has two http outputs, {http_output!r} (route) and "
                f"{entry.http_output_binding!r} (generic_output_binding); keep one"
            )
        http_output = entry.http_output_binding
    if entry.trigger == "http":
        auth = entry.auth_level or default_auth
        route = entry.route if entry.route is not None else name
        trigger: dict[str, Any] = {
            "type": "httpTrigger",
            "direction": "in",
            "name": entry.trigger_arg,
            "authLevel": auth.value,
            "route": route,
        }
        if entry.methods is not None:
            trigger["methods"] = [method.lower() for method in entry.methods]
        if entry.stream_request:
            trigger["streamRequest"] = True
        bindings.append(trigger)
        if http_output is not None:
            bindings.append({"type": "http", "direction": "out", "name": http_output})
            if http_output != "$return":
                outputs.append(http_output)
    else:
        auth = None
        route = None
        bindings.append(
            {
                "type": "timerTrigger",
                "direction": "in",
                "name": entry.trigger_arg,
                "schedule": entry.schedule,
                "runOnStartup": entry.run_on_startup,
                **entry.trigger_fields,
            }
        )
    for output in entry.outputs:
        bindings.append(dict(output))
        outputs.append(output["name"])
    return FunctionSpec(
        name=name,
        func=func,
        trigger=entry.trigger,
        trigger_arg=entry.trigger_arg,
        route=route,
        methods=entry.methods if entry.trigger == "http" else None,
        auth_level=auth,
        schedule=entry.schedule,
        run_on_startup=entry.run_on_startup,
        http_output=http_output if entry.trigger == "http" else None,
        outputs=tuple(outputs),
        bindings=tuple(bindings),
        source_file=source_file,
        directory=os.path.dirname(source_file) if source_file else "",
        layout="decorator",
        stream_request=entry.stream_request,
    )


def source_file_of(func: Callable[..., Any]) -> str | None:
    try:
        found = inspect.getsourcefile(inspect.unwrap(func))
    except TypeError:
        return None
    return os.path.abspath(found) if found else None


class Blueprint(_Decorators):
    """A group of functions declared in another module and added with ``app.register_functions``.

    HTTP functions without their own ``auth_level`` take the level of the app they join.
    """


class FunctionApp(_Decorators):
    """The app object of the decorator model: ``app = FunctionApp()`` in ``function_app.py``."""

    def __init__(self, http_auth_level: AuthLevel | str = AuthLevel.FUNCTION) -> None:
        super().__init__()
        self.http_auth_level = AuthLevel.parse(http_auth_level, where="http_auth_level")
        self._blueprints: list[Blueprint] = []

    def register_functions(self, blueprint: Blueprint) -> None:
        """Add a blueprint's functions (also those it declares after this call)."""
        if not isinstance(blueprint, Blueprint):
            raise FunctionAppError(
                f"register_functions expects a Blueprint, got {type(blueprint).__name__}"
            )
        if blueprint not in self._blueprints:
            self._blueprints.append(blueprint)

    #: The reference library's other name for :meth:`register_functions`.
    register_blueprint = register_functions

    def get_functions(self) -> list[FunctionSpec]:
        """Every function of the app and its blueprints, in declaration order.

        Raises :class:`FunctionAppError` for a declaration that cannot work (no trigger); the
        loader reports it with the file it came from.
        """
        specs = self._specs(self.http_auth_level)
        for blueprint in self._blueprints:
            specs.extend(blueprint._specs(self.http_auth_level))
        return specs
