"""HTTP routes of a function app: templates such as ``items/{id:int}``, matching, 404 versus 405.

A function is served at ``/{routePrefix}/{route}`` (``route`` defaults to the function's name).
Templates follow the reference's (ASP.NET) syntax, as far as function apps use it:

- literal segments, matched case-insensitively: ``orders/recent``;
- parameters: ``{id}``, optional ``{id?}``, with a default ``{page=1}``, catch-all ``{*path}``
  (the rest of the path, possibly empty, slashes included), parameters inside a segment
  ``files/{name}.{ext}``;
- constraints, chainable: ``int``, ``long``, ``float``, ``double``, ``decimal``, ``bool``,
  ``alpha``, ``guid``, ``min(n)``, ``max(n)``, ``range(a,b)``, ``minlength(n)``, ``maxlength(n)``,
  ``length(n)`` / ``length(a,b)``. Typed constraints convert the value (``{id:int}`` gives an
  ``int`` in ``HttpRequest.route_params``; ``guid`` and ``alpha`` stay ``str``).

A value that does not fit its constraint means the route does not match, so the request gets 404,
as in the reference (another route may still match it). A path that matches a route but not its
methods gets 405 with an ``Allow`` header listing the methods of every route that matched.

Routes are tried in order of precedence, as in the reference: per segment, a literal beats a
constrained parameter, which beats a plain one, which beats an optional one and a catch-all; the
order functions were declared in never matters.
"""

from __future__ import annotations

import decimal
import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar
from urllib.parse import unquote

__all__ = [
    "CONSTRAINTS",
    "Resolution",
    "RouteError",
    "RouteTemplate",
    "Router",
    "split_path",
]

T = TypeVar("T")


class RouteError(ValueError):
    """A route template that cannot be served, or two routes that collide."""


# --- constraints ----------------------------------------------------------------------------
# A constraint maps the raw text (or the value converted so far) to a value, or raises ValueError
# when the value does not fit: the route then does not match.

_Check = Callable[[Any], Any]

_INT: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT: Final = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_ALPHA: Final = re.compile(r"[A-Za-z]+")


def _integer(bits: int) -> _Check:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(value: Any) -> int:
        if not isinstance(value, str) or not _INT.fullmatch(value):
            raise ValueError("not an integer")
        number = int(value)
        if not low <= number <= high:
            raise ValueError("out of range")
        return number

    return check


def _float(value: Any) -> float:
    if not isinstance(value, str) or not _FLOAT.fullmatch(value):
        raise ValueError("not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _decimal(value: Any) -> decimal.Decimal:
    if not isinstance(value, str) or not _FLOAT.fullmatch(value):
        raise ValueError("not a number")
    return decimal.Decimal(value)


def _bool(value: Any) -> bool:
    folded = str(value).lower()
    if folded == "true":
        return True
    if folded == "false":
        return False
    raise ValueError("not true or false")


def _alpha(value: Any) -> str:
    if not isinstance(value, str) or not _ALPHA.fullmatch(value):
        raise ValueError("not letters only")
    return value


def _guid(value: Any) -> str:
    uuid.UUID(str(value))  # raises ValueError: accepts the usual forms, with or without braces
    return str(value)


def _numeric(value: Any) -> Any:
    """A value to compare with ``min``/``max``/``range``: the converted one, else an integer."""
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return value
    return _integer(64)(value)


def _bounded(low: float | None, high: float | None) -> _Check:
    def check(value: Any) -> Any:
        number = _numeric(value)
        if (low is not None and number < low) or (high is not None and number > high):
            raise ValueError("out of range")
        return value

    return check


def _length(low: int | None, high: int | None) -> _Check:
    def check(value: Any) -> Any:
        size = len(str(value))
        if (low is not None and size < low) or (high is not None and size > high):
            raise ValueError("wrong length")
        return value

    return check


#: Constraints without arguments: name -> check (converting typed values).
CONSTRAINTS: Final[dict[str, _Check]] = {
    "int": _integer(32),
    "long": _integer(64),
    "float": _float,
    "double": _float,
    "decimal": _decimal,
    "bool": _bool,
    "alpha": _alpha,
    "guid": _guid,
}
#: Constraints with arguments: name -> number of arguments accepted.
_WITH_ARGS: Final[dict[str, tuple[int, ...]]] = {
    "min": (1,),
    "max": (1,),
    "range": (2,),
    "minlength": (1,),
    "maxlength": (1,),
    "length": (1, 2),
}
_CONSTRAINT_SYNTAX: Final = re.compile(r"(?P<name>[A-Za-z]+)(?:\((?P<args>[^()]*)\))?")


def _constraint(template: str, text: str) -> _Check:
    found = _CONSTRAINT_SYNTAX.fullmatch(text)
    known = ", ".join([*CONSTRAINTS, *(f"{name}(...)" for name in _WITH_ARGS)])
    if found is None:
        raise RouteError(f"route {template!r}: constraint {text!r} is not valid (known: {known})")
    name, raw_args = found["name"].lower(), found["args"]
    if raw_args is None and name in CONSTRAINTS:
        return CONSTRAINTS[name]
    if name not in _WITH_ARGS or raw_args is None:
        raise RouteError(f"route {template!r}: unknown constraint {text!r} (known: {known})")
    try:
        args = [int(part) for part in raw_args.split(",")]
    except ValueError:
        args = []
    if len(args) not in _WITH_ARGS[name]:
        counts = " or ".join(str(count) for count in _WITH_ARGS[name])
        raise RouteError(
            f"route {template!r}: constraint {text!r} takes {counts} whole-number argument(s)"
        )
    if name == "min":
        return _bounded(args[0], None)
    if name == "max":
        return _bounded(None, args[0])
    if name == "range":
        return _bounded(args[0], args[1])
    if name == "minlength":
        return _length(args[0], None)
    if name == "maxlength":
        return _length(None, args[0])
    return _length(args[0], args[0]) if len(args) == 1 else _length(args[0], args[1])


# --- templates ------------------------------------------------------------------------------

_PARAMETER: Final = re.compile(
    r"\{(?P<star>\*{0,2})(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?P<constraints>(?::[^:{}=?]+)*)(?P<optional>\?)?(?:=(?P<default>[^{}]*))?\}"
)


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    checks: tuple[_Check, ...]
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constrained: bool = False

    def convert(self, raw: str) -> Any:
        value: Any = raw
        for check in self.checks:
            value = check(value)
        return value


@dataclass(frozen=True, slots=True)
class _Segment:
    """One path segment: a literal (``pattern`` is None) or a pattern with parameters."""

    literal: str | None
    shape: str  # the segment without parameter names: two routes with equal shapes collide
    pattern: re.Pattern[str] | None = None
    parameters: tuple[_Parameter, ...] = ()
    whole: bool = False  # one parameter and nothing else: no regex needed to match it

    @property
    def rank(self) -> int:
        """Precedence of this segment: lower wins (literal, constrained, plain, optional, rest)."""
        if self.literal is not None:
            return 0
        if not self.whole:
            return 1  # a complex segment such as {name}.{ext} has literal parts: quite specific
        parameter = self.parameters[0]
        if parameter.catch_all:
            return 4
        if parameter.optional:
            return 3
        return 1 if parameter.constrained else 2


def _parse_segment(template: str, text: str) -> _Segment:
    if "{" not in text and "}" not in text:
        if not text:
            raise RouteError(f"route {template!r}: empty segment (two slashes in a row)")
        return _Segment(literal=text.lower(), shape=text.lower())
    parameters: list[_Parameter] = []
    pattern: list[str] = []
    shape: list[str] = []
    position = 0
    for found in _PARAMETER.finditer(text):
        literal = text[position : found.start()]
        if "{" in literal or "}" in literal:
            break
        pattern.append(re.escape(literal))
        shape.append(literal.lower())
        star, name = found["star"], found["name"]
        checks = tuple(_constraint(template, part) for part in found["constraints"].split(":")[1:])
        default = found["default"]
        parameter = _Parameter(
            name=name,
            checks=checks,
            optional=bool(found["optional"]) or default is not None or bool(star),
            catch_all=bool(star),
            default=default,
            constrained=bool(checks),
        )
        if default is not None:
            try:
                parameter.convert(default)
            except (ValueError, decimal.InvalidOperation):
                raise RouteError(
                    f"route {template!r}: default {default!r} of {{{name}}} does not fit its "
                    "constraints"
                ) from None
        parameters.append(parameter)
        # Greedy groups: in ``{name}.{ext}`` the earlier parameter takes the most, as in the
        # reference (``a.b.c`` gives name ``a.b`` and ext ``c``).
        pattern.append(f"(?P<p{len(parameters) - 1}>.+)")
        shape.append(
            "{" + star + found["constraints"].lower() + ("?" if parameter.optional else "") + "}"
        )
        position = found.end()
    rest = text[position:]
    if "{" in rest or "}" in rest or not parameters:
        raise RouteError(
            f"route {template!r}: segment {text!r} is not valid; a parameter is written "
            "{name}, {name:constraint}, {name?}, {name=default} or {*name}"
        )
    pattern.append(re.escape(rest))
    shape.append(rest.lower())
    whole = len(parameters) == 1 and not pattern[0] and not rest
    if not whole and any(p.optional for p in parameters):
        raise RouteError(
            f"route {template!r}: segment {text!r}: optional and catch-all parameters must be "
            "a whole segment"
        )
    return _Segment(
        literal=None,
        shape="".join(shape),
        pattern=re.compile("".join(pattern), re.IGNORECASE | re.DOTALL),
        parameters=tuple(parameters),
        whole=whole,
    )


class RouteTemplate:
    """A parsed route template; :meth:`match` takes the decoded path segments after the prefix."""

    __slots__ = (
        "_catch_all",
        "_required",
        "_rest_only",
        "names",
        "precedence",
        "segments",
        "shape",
        "template",
    )

    def __init__(self, template: str) -> None:
        self.template = template
        stripped = template.strip().strip("/")
        if stripped.startswith("~"):
            raise RouteError(f"route {template!r}: '~' (ignore the route prefix) is not supported")
        if "?" in re.sub(r"\?(?=[}=])", "", stripped):
            raise RouteError(f"route {template!r}: a route must not contain a query string")
        texts = stripped.split("/") if stripped else []
        self.segments = tuple(_parse_segment(template, text) for text in texts)
        names: list[str] = []
        for index, segment in enumerate(self.segments):
            for parameter in segment.parameters:
                if parameter.name.lower() in (name.lower() for name in names):
                    raise RouteError(f"route {template!r}: parameter {parameter.name!r} repeats")
                names.append(parameter.name)
                if parameter.catch_all and index != len(self.segments) - 1:
                    raise RouteError(
                        f"route {template!r}: the catch-all {{*{parameter.name}}} must be last"
                    )
        self.names = tuple(names)
        optional = [segment.rank >= 3 for segment in self.segments]
        first_optional = optional.index(True) if True in optional else len(optional)
        if not all(optional[first_optional:]):
            raise RouteError(
                f"route {template!r}: only the last segments may be optional parameters"
            )
        self._required = first_optional
        self._catch_all = bool(optional) and self.segments[-1].rank == 4
        # The name of the one parameter of ``{*route}`` (no constraint, no default), the route of
        # a whole web framework: it matches every path, as the rest of it.
        self._rest_only: str | None = None
        if len(self.segments) == 1 and self._catch_all:
            (parameter,) = self.segments[0].parameters
            if not parameter.checks and parameter.default is None:
                self._rest_only = parameter.name
        self.precedence = tuple(segment.rank for segment in self.segments)
        self.shape = "/".join(segment.shape for segment in self.segments)

    @property
    def is_literal(self) -> bool:
        return all(segment.literal is not None for segment in self.segments)

    def match(self, parts: Sequence[str]) -> dict[str, Any] | None:
        """The route parameters when ``parts`` fit this template, else ``None``."""
        if self._rest_only is not None:
            return {self._rest_only: "/".join(parts)} if parts else {}
        segments = self.segments
        if len(parts) < self._required or (len(parts) > len(segments) and not self._catch_all):
            return None
        params: dict[str, Any] = {}
        last = len(segments) - 1
        for index, segment in enumerate(segments):
            if index >= len(parts):  # an optional parameter that is absent
                parameter = segment.parameters[0]
                if parameter.default is not None:
                    params[parameter.name] = parameter.convert(parameter.default)
                continue
            part = parts[index]
            if segment.literal is not None:
                if part.lower() != segment.literal:
                    return None
                continue
            try:
                if segment.whole:
                    parameter = segment.parameters[0]
                    raw = "/".join(parts[index:]) if index == last and self._catch_all else part
                    params[parameter.name] = parameter.convert(raw)
                    continue
                assert segment.pattern is not None
                found = segment.pattern.fullmatch(part)
                if found is None:
                    return None
                for number, parameter in enumerate(segment.parameters):
                    params[parameter.name] = parameter.convert(found[f"p{number}"])
            except (ValueError, decimal.InvalidOperation):
                return None  # the value does not fit a constraint: this route does not match
        return params

    def __repr__(self) -> str:
        return f"RouteTemplate({self.template!r})"


# --- the router -----------------------------------------------------------------------------


def split_path(path: str) -> list[str] | None:
    """Split a raw (still percent-encoded) path into decoded segments.

    Decoding each segment after splitting keeps an encoded ``%2F`` inside its segment. A trailing
    slash is ignored; ``None`` for a path with an empty segment in the middle (no route has one).
    """
    stripped = path.strip("/")
    if not stripped:
        return []
    parts = stripped.split("/")
    if "" in parts:
        return None
    if "%" not in stripped:  # nothing to decode (most paths)
        return parts
    return [unquote(part, errors="strict") for part in parts]


@dataclass(slots=True)
class Resolution(Generic[T]):
    """What a request path and method resolve to: a target (200), 404, or 405 with ``allowed``.

    Not frozen: one is made for every request, and a frozen dataclass's ``__init__`` costs three
    times as much."""

    status: int
    target: T | None = None
    params: dict[str, Any] = field(default_factory=dict)
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Route(Generic[T]):
    template: RouteTemplate
    methods: frozenset[str] | None
    target: T
    seq: int


class Router(Generic[T]):
    """The routes of one app under one prefix; ``resolve`` maps a request to its target."""

    def __init__(self, prefix: str = "api") -> None:
        self.prefix = tuple(part.lower() for part in prefix.strip("/").split("/") if part)
        self._prefix_text = "".join(part + "/" for part in self.prefix)
        # Invariant: ``_routes`` stays sorted by (precedence, declaration order) so the first
        # match is the most specific route; fully literal routes are also indexed by path.
        self._routes: list[_Route[T]] = []
        self._literal: dict[str, list[_Route[T]]] = {}
        # (parameter name, target) when every route but one is literal and that one is a bare
        # catch-all for every method (an AsgiFunctionApp's): it takes whatever no literal route
        # does, worked out without splitting the path.
        self._rest: tuple[str, T] | None = None

    def add(
        self, template: str | RouteTemplate, target: T, methods: Iterable[str] | None = None
    ) -> RouteTemplate:
        """Add a route; ``RouteError`` when the template is invalid or collides with another."""
        parsed = template if isinstance(template, RouteTemplate) else RouteTemplate(template)
        wanted = None if methods is None else frozenset(method.upper() for method in methods)
        for other in self._routes:
            overlap = wanted is None or other.methods is None or bool(wanted & other.methods)
            if other.template.shape == parsed.shape and overlap:
                raise RouteError(
                    f"route {parsed.template!r} collides with route {other.template.template!r} "
                    "(same path and overlapping methods)"
                )
        route = _Route(parsed, wanted, target, len(self._routes))
        self._routes.append(route)
        self._routes.sort(key=lambda r: (r.template.precedence, r.seq))
        if parsed.is_literal:
            key = "/".join(segment.literal or "" for segment in parsed.segments)
            self._literal.setdefault(key, []).append(route)
        patterns = [other for other in self._routes if not other.template.is_literal]
        rest = patterns[0] if len(patterns) == 1 and patterns[0].methods is None else None
        name = None if rest is None else rest.template._rest_only
        self._rest = None if rest is None or name is None else (name, rest.target)
        return parsed

    def resolve(self, method: str, path: str) -> Resolution[T]:
        """Resolve a raw request path (``/api/items/5``) and method."""
        method = method.upper()
        if "%" not in path and "//" not in path:
            # Fast paths, most apps' common case: nothing to decode, and a literal route or the
            # catch-all of a whole web framework.
            given = path.strip("/")
            key = given.lower()
            prefix = self._prefix_text
            if self._literal and key.startswith(prefix):
                for route in self._literal.get(key[len(prefix) :], ()):
                    if route.methods is None or method in route.methods:
                        return Resolution(200, route.target, {})
            if self._rest is not None:
                if not (key.startswith(prefix) or key + "/" == prefix):
                    return Resolution(404)
                name, target = self._rest
                rest = given[len(prefix) :]
                return Resolution(200, target, {name: rest} if rest else {})
        try:
            parts = split_path(path)
        except UnicodeDecodeError:
            return Resolution(404)
        if parts is None or len(parts) < len(self.prefix):
            return Resolution(404)
        if [part.lower() for part in parts[: len(self.prefix)]] != list(self.prefix):
            return Resolution(404)
        parts = parts[len(self.prefix) :]
        allowed: set[str] = set()
        for route in self._routes:
            params = route.template.match(parts)
            if params is None:
                continue
            if route.methods is None or method in route.methods:
                return Resolution(200, route.target, params)
            allowed |= route.methods
        if allowed:
            return Resolution(405, allowed=tuple(sorted(allowed)))
        return Resolution(404)

    def __len__(self) -> int:
        return len(self._routes)
