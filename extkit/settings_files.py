"""An app's settings files, ``local.settings.json`` and ``host.json``, as :class:`HostSettings`.

``local.settings.json``'s ``Values`` become environment variables (a variable already set in the
process wins), so the extensions gate ``PYTHON_ENABLE_WORKER_EXTENSIONS`` may live there; its
``Host.LocalHttpPort`` is the port ``extkit start`` uses without ``--port``, and ``Host.CORS`` /
``Host.CORSCredentials`` say which browser pages may call the app (:mod:`extkit.cors`).
``host.json`` sets the route prefix, the function timeout, connection limits, log levels, and
extkit's own options (``extkit.*``). A problem is reported with the file it is in; a
``host.json`` with problems leaves the defaults in place. A key that neither extkit nor the
reference host knows is a warning (a typo would otherwise be silently ignored), with the known
key it most likely misspells.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from ._app_files import read_json_object, shown
from ._spelling import did_you_mean
from .cors import CorsPolicy, parse_cors

__all__ = [
    "DEFAULT_HEADERS_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "HostSettings",
    "LocalHost",
    "apply_local_settings",
    "python_log_level",
    "read_host_json",
]

DEFAULT_MAX_BODY: Final = 100 * 1024 * 1024
#: ``extensions.http.requestHeadersTimeout`` by default, in seconds (Kestrel's, the reference's
#: server, is the same).
DEFAULT_HEADERS_TIMEOUT: Final = 30.0

_TIMEOUT: Final = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)")
#: host.json log level names (the reference's) -> Python levels. "None" switches a category off.
_LOG_LEVELS: Final[Mapping[str, int]] = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}
_EXTKIT_KEYS: Final = ("disabledExtensions", "maxRequestBodyBytes")

#: The keys a settings file may hold: the ones extkit reads and the ones of the reference's
#: schema that extkit ignores on purpose. A key maps to the keys of its section when those are
#: checked too, else to ``None``; ``_ANY`` in a section accepts names of the user's choosing.
_Keys = Mapping[str, "_Keys | None"]
_ANY: Final = "*"
_HOST_JSON_KEYS: Final[_Keys] = {
    "version": None,
    "functionTimeout": None,
    "functions": None,
    "extkit": None,  # checked strictly below: an unknown extkit.* key is an error
    "extensions": {
        "http": dict.fromkeys(
            (
                "routePrefix",
                "customHeaders",
                "requestHeadersTimeout",  # extkit's, after Kestrel's option of that name
                "maxConcurrentRequests",
                "maxOutstandingRequests",
                "dynamicThrottlesEnabled",
                "hsts",
            )
        ),
        _ANY: None,  # one section per binding extension (queues, serviceBus, ...)
    },
    "logging": dict.fromkeys(("logLevel", "applicationInsights", "fileLoggingMode", "console")),
    **dict.fromkeys(
        (
            "aggregator",
            "concurrency",
            "customHandler",
            "extensionBundle",
            "healthMonitor",
            "languageWorker",
            "managedDependency",
            "retry",
            "sendCanceledInvocationsToWorker",
            "singleton",
            "telemetryMode",
            "watchDirectories",
            "watchFiles",
        )
    ),
}
_LOCAL_SETTINGS_KEYS: Final[_Keys] = {
    "IsEncrypted": None,
    "Values": None,
    "ConnectionStrings": None,
    "Host": dict.fromkeys(("LocalHttpPort", "CORS", "CORSCredentials")),
}


def python_log_level(value: str) -> int:
    """The Python level for a host.json level name (``Information`` -> ``logging.INFO``)."""
    return _LOG_LEVELS[value.strip().lower()]


@dataclass(frozen=True)
class HostSettings:
    """What ``host.json`` (and ``local.settings.json``'s ``Host``) configure for the host."""

    route_prefix: str = "api"
    #: ``functionTimeout`` in seconds; ``None`` = no limit (absent, or ``"-1"``).
    function_timeout: float | None = None
    #: ``logging.logLevel``: category (``default``, ``Function``, ``Function.<Name>``, a Python
    #: logger name) -> level name as written (``Information``); see :meth:`log_level`.
    log_levels: dict[str, str] = field(default_factory=dict)
    #: ``extkit.maxRequestBodyBytes``: larger requests get 413.
    max_request_body_bytes: int = DEFAULT_MAX_BODY
    #: ``extensions.http.customHeaders``: added to every HTTP response.
    custom_headers: dict[str, str] = field(default_factory=dict)
    #: ``extensions.http.requestHeadersTimeout`` in seconds: how long a connection may take to
    #: send a request's headers, from when it opened or its previous response ended.
    request_headers_timeout: float = DEFAULT_HEADERS_TIMEOUT
    #: ``extensions.http.maxConcurrentRequests``: HTTP functions running at once (``None``: any).
    max_concurrent_requests: int | None = None
    #: ``extensions.http.maxOutstandingRequests``: HTTP requests running or queued to run; more
    #: are answered 429 (``None``: any).
    max_outstanding_requests: int | None = None
    #: ``functions``: when given, only these functions are loaded.
    functions: tuple[str, ...] | None = None
    #: ``extkit.disabledExtensions``: beats ``EXTKIT_DISABLED_EXTENSIONS`` when given.
    disabled_extensions: tuple[str, ...] | None = None
    #: ``local.settings.json`` ``Host.LocalHttpPort``, for ``extkit start`` without ``--port``.
    local_http_port: int | None = None
    #: ``local.settings.json`` ``Host.CORS`` and ``Host.CORSCredentials`` (``None``: no CORS).
    cors: CorsPolicy | None = None

    def log_level(self, category: str = "default") -> int | None:
        """The Python level configured for ``category``, falling back along dotted prefixes
        (``Function.HttpTrigger.User`` -> ``Function.HttpTrigger`` -> ``Function``) and then to
        ``default``; ``None`` when nothing is configured."""
        folded = {key.lower(): value for key, value in self.log_levels.items()}
        parts = category.lower().split(".")
        for end in range(len(parts), 0, -1):
            found = folded.get(".".join(parts[:end]))
            if found is not None:
                return python_log_level(found)
        found = folded.get("default")
        return None if found is None else python_log_level(found)


def _unknown_keys(
    data: Mapping[str, Any], known: _Keys, where: str, section: str = ""
) -> list[str]:
    """A warning for each key of ``data`` (and of its checked sections) that ``known`` lacks."""
    found = []
    for key, value in data.items():
        if key in known:
            inner = known[key]
            if inner is not None and isinstance(value, dict):
                found += _unknown_keys(value, inner, where, f"{section}{key}.")
        elif _ANY not in known:
            hint = did_you_mean(key, (name for name in known if name != _ANY))
            found.append(
                f"{where}: {section + key!r} is not a setting of extkit or of the reference "
                f"host{hint}; it has no effect"
            )
    return found


@dataclass(frozen=True)
class LocalHost:
    """What ``local.settings.json``'s ``Host`` section sets."""

    http_port: int | None = None
    cors: CorsPolicy | None = None


def apply_local_settings(
    root: Path, set_env: Callable[[str, str], None], problems: list[str], notes: list[str]
) -> LocalHost:
    """Export ``Values`` (the process environment wins); return the ``Host`` section."""
    path = root / "local.settings.json"
    if not path.is_file():
        return LocalHost()
    data = read_json_object(path, problems)
    if data is None:
        return LocalHost()
    notes += _unknown_keys(data, _LOCAL_SETTINGS_KEYS, shown(path))
    if data.get("IsEncrypted") is True:
        problems.append(
            f'{shown(path)}: "IsEncrypted" is true; extkit reads plain values only '
            "(decrypt the file or set IsEncrypted to false)"
        )
        return LocalHost()
    values = data.get("Values", {})
    if not isinstance(values, dict):
        problems.append(f'{shown(path)}: "Values" must be an object of names to strings')
        values = {}
    for name, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            problems.append(
                f"{shown(path)}: Values.{name} must be a string (or number), got "
                f"{type(value).__name__}"
            )
            continue
        if name not in os.environ:
            set_env(name, text)
    host = data.get("Host", {})
    if not isinstance(host, dict):
        problems.append(f'{shown(path)}: "Host" must be an object, got {type(host).__name__}')
        return LocalHost()
    port = host.get("LocalHttpPort")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
    ):
        problems.append(f"{shown(path)}: Host.LocalHttpPort must be a port number, got {port!r}")
        port = None
    return LocalHost(port, _cors(host, shown(path), problems))


def _cors(host: dict[str, Any], where: str, problems: list[str]) -> CorsPolicy | None:
    """``Host.CORS`` and ``Host.CORSCredentials``, as the reference's local tools read them."""
    origins, credentials = host.get("CORS", ""), host.get("CORSCredentials", False)
    if not isinstance(credentials, bool):
        hint = ""
        if isinstance(credentials, str) and credentials.strip().lower() in ("true", "false"):
            hint = f" (did you mean {credentials.strip().lower()}, without quotes?)"
        problems.append(
            f"{where}: Host.CORSCredentials must be true or false, got {credentials!r}{hint}"
        )
        credentials = False
    if not isinstance(origins, str):
        hint = ""
        if isinstance(origins, list) and all(isinstance(item, str) for item in origins):
            hint = f" (did you mean {','.join(origins)!r}?)"
        problems.append(
            f"{where}: Host.CORS must be a string of origins separated by commas (or \"*\"), "
            f"got {origins!r}{hint}"
        )
        return None
    try:
        return parse_cors(origins, credentials)
    except ValueError as exc:
        problems.append(f"{where}: Host.CORS {exc}")
        return None


def _parse_duration(
    raw: Any, where: str, key: str, problems: list[str], *, unlimited: bool = True
) -> float | None:
    """A host.json duration (``"hh:mm:ss"``, ``"d.hh:mm:ss"``) in seconds; with ``unlimited``,
    absent or ``"-1"`` is ``None`` (no limit)."""
    if raw is None or (unlimited and (raw == "-1" or raw == -1)):
        return None
    if raw == "-1" or raw == -1:
        problems.append(f"{where}: {key} {raw!r} must be longer than zero; it has no off switch")
        return None
    or_none = ', or "-1" for no limit' if unlimited else ""
    found = _TIMEOUT.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if found is None:
        problems.append(
            f'{where}: {key} {raw!r} is not a duration; expected "hh:mm:ss" '
            f'(e.g. "00:05:00"), "d.hh:mm:ss"{or_none}'
        )
        return None
    days, hours, minutes, seconds = found.groups()
    if int(minutes) > 59 or float(seconds) >= 60:
        problems.append(f"{where}: {key} {raw!r}: minutes and seconds must be below 60")
        return None
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if total <= 0:
        or_none = ' (or "-1")' if unlimited else ""
        problems.append(f"{where}: {key} {raw!r} must be longer than zero{or_none}")
        return None
    return total


def _request_cap(http: dict[str, Any], key: str, where: str, problems: list[str]) -> int | None:
    """``extensions.http.<key>``: a whole number above 0, or -1 (the default) for no limit."""
    value = http.get(key, -1)
    if value == -1:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(
            f"{where}: extensions.http.{key} must be a whole number above 0 (or -1 for no "
            f"limit), got {value!r}"
        )
        return None
    return value


def _string_list(value: Any, where: str, problems: list[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(f"{where} must be a list of strings, got {value!r}")
        return None
    return tuple(value)


def read_host_json(
    root: Path, local: LocalHost, problems: list[str], notes: list[str]
) -> HostSettings:
    path = root / "host.json"
    defaults = HostSettings(local_http_port=local.http_port, cors=local.cors)
    if not path.is_file():
        notes.append(f"{shown(path)} not found: using the default host settings")
        return defaults
    before = len(problems)
    data = read_json_object(path, problems) or {}
    where = shown(path)
    notes += _unknown_keys(data, _HOST_JSON_KEYS, where)
    version = data.get("version", "2.0")
    if version != "2.0":
        problems.append(f'{where}: "version" is {version!r}; expected "2.0"')
    http = _object(data, "extensions", where, problems).get("http", {})
    if not isinstance(http, dict):
        problems.append(f"{where}: extensions.http must be an object")
        http = {}
    prefix = http.get("routePrefix", "api")
    if not isinstance(prefix, str):
        problems.append(f"{where}: extensions.http.routePrefix must be a string, got {prefix!r}")
        prefix = "api"
    headers = http.get("customHeaders", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        problems.append(f"{where}: extensions.http.customHeaders must be an object of strings")
        headers = {}
    levels = _object(_object(data, "logging", where, problems), "logLevel", where, problems)
    for category, level in levels.items():
        if not isinstance(level, str) or level.strip().lower() not in _LOG_LEVELS:
            problems.append(
                f"{where}: logging.logLevel.{category} is {level!r}; expected one of "
                "Trace, Debug, Information, Warning, Error, Critical, None"
            )
    own = _object(data, "extkit", where, problems)
    for key in own:
        if key not in _EXTKIT_KEYS:
            problems.append(
                f"{where}: extkit.{key} is not an extkit setting{did_you_mean(key, _EXTKIT_KEYS)}; "
                f"known: {', '.join(_EXTKIT_KEYS)}"
            )
    max_body = own.get("maxRequestBodyBytes", DEFAULT_MAX_BODY)
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
        problems.append(
            f"{where}: extkit.maxRequestBodyBytes must be a positive whole number, got {max_body!r}"
        )
        max_body = DEFAULT_MAX_BODY
    headers_timeout = _parse_duration(
        http.get("requestHeadersTimeout", "00:00:30"),
        where,
        "extensions.http.requestHeadersTimeout",
        problems,
        unlimited=False,
    )
    settings = replace(
        defaults,
        route_prefix=prefix.strip().strip("/"),
        function_timeout=_parse_duration(
            data.get("functionTimeout"), where, "functionTimeout", problems
        ),
        log_levels={str(k): str(v) for k, v in levels.items()},
        max_request_body_bytes=max_body,
        custom_headers=dict(headers),
        request_headers_timeout=headers_timeout or DEFAULT_HEADERS_TIMEOUT,
        max_concurrent_requests=_request_cap(http, "maxConcurrentRequests", where, problems),
        max_outstanding_requests=_request_cap(http, "maxOutstandingRequests", where, problems),
        functions=_string_list(data.get("functions"), f"{where}: functions", problems),
        disabled_extensions=_string_list(
            own.get("disabledExtensions"), f"{where}: extkit.disabledExtensions", problems
        ),
    )
    return settings if len(problems) == before else defaults


def _object(data: dict[str, Any], key: str, where: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"{where}: {key!r} must be an object, got {type(value).__name__}")
        return {}
    return value
