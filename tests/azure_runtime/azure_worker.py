"""Azure's Python worker (``azure-functions-runtime``), driven in-process as Azure's host drives it.

On Azure the host streams gRPC messages to a proxy worker, which wraps each one in a request
object (``name``, ``request``: the streaming message, ``properties``: the protobuf module and the
host address on init) and awaits the runtime's handler for it. :class:`AzureWorker` plays host
and proxy: the same four handlers (``worker_init_request``, ``functions_metadata_request``,
``function_load_request``, ``invocation_request``) with the messages of :mod:`host_protos`, on an
event loop of its own, with the runtime's thread pool started as the proxy starts it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure_functions_runtime as runtime
import host_protos as protos

#: Modules the fixture apps define at top level (the runtime imports ``function_app`` by name).
APP_MODULES = ("function_app",)
SCRIPT_ROOT = "AzureWebJobsScriptRoot"


@dataclass
class WorkerRequest:
    """What the proxy worker hands to each of the runtime's handlers."""

    name: str
    request: Any
    properties: dict[str, Any] | None = None


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Outcome:
    """One ``InvocationResponse``, read as the host reads it."""

    response: Any
    invocation_id: str

    @property
    def succeeded(self) -> bool:
        return bool(self.response.result.status == protos.StatusResult.Success)

    @property
    def failure(self) -> str:
        """The exception message the runtime reports, as the host logs it."""
        assert not self.succeeded, "the invocation succeeded"
        return str(self.response.result.exception.message)

    def http(self, output: str = "$return") -> HttpAnswer:
        """The HTTP answer: the return value, or the named output binding."""
        assert self.succeeded, f"the invocation failed: {self.response.result.exception.message}"
        if output == "$return":
            data = self.response.return_value
        else:
            data = next(b.data for b in self.response.output_data if b.name == output)
        kind = data.WhichOneof("data")
        if kind == "string":  # a str return value: the host answers 200 with it
            return HttpAnswer(200, {}, data.string.encode())
        assert kind == "http", f"not an HTTP answer: {data!r}"
        http = data.http
        body = http.body
        return HttpAnswer(
            int(http.status_code),
            {name.lower(): value for name, value in http.headers.items()},
            body.bytes if body.WhichOneof("data") == "bytes" else (body.string or "").encode(),
        )


@dataclass
class AzureWorker:
    """The runtime with one function app loaded; ``http()`` and ``timer()`` invoke it."""

    runner: asyncio.Runner
    app_dir: Path | None = None
    #: ``AzureWebJobsScriptRoot`` before ``start`` set it, to restore on ``stop``.
    previous_script_root: str | None = None
    init_response: Any = None
    metadata_response: Any = None
    load_responses: dict[str, Any] = field(default_factory=dict)
    #: Function name -> the function id the runtime gave it.
    function_ids: dict[str, str] = field(default_factory=dict)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.runner.run(coro)

    def start(self, app_dir: Path) -> AzureWorker:
        """Init, metadata, then a load request per function, as the host starts a worker."""
        self.app_dir = app_dir
        # Azure's host tells its workers where the app is (the library's function extensions
        # need it); the runtime itself does not set it.
        self.previous_script_root = os.environ.get(SCRIPT_ROOT)
        os.environ[SCRIPT_ROOT] = str(app_dir)
        for name in APP_MODULES:
            sys.modules.pop(name, None)
        sys.path.insert(0, str(app_dir))
        runtime.start_threadpool_executor()
        init = protos.WorkerInitRequest(
            host_version="4.1036.1.23224",
            capabilities={},
            function_app_directory=str(app_dir),
        )
        self.init_response = self.run(
            runtime.worker_init_request(
                WorkerRequest(
                    "WorkerInitRequest",
                    protos.StreamingMessage(worker_init_request=init),
                    {"protos": protos, "host": "127.0.0.1"},
                )
            )
        )
        self.metadata_response = self.run(
            runtime.functions_metadata_request(
                WorkerRequest(
                    "WorkerMetadataRequest",
                    protos.StreamingMessage(
                        functions_metadata_request=protos.FunctionsMetadataRequest(
                            function_app_directory=str(app_dir)
                        )
                    ),
                )
            )
        )
        for metadata in self.metadata_response.function_metadata_results or ():
            self.function_ids[metadata.name] = metadata.function_id
            self.load_responses[metadata.name] = self.run(
                runtime.function_load_request(
                    WorkerRequest(
                        "FunctionLoadRequest",
                        protos.StreamingMessage(
                            function_load_request=protos.FunctionLoadRequest(
                                function_id=metadata.function_id, metadata=metadata
                            )
                        ),
                    )
                )
            )
        return self

    def stop(self) -> None:
        runtime.stop_threadpool_executor()
        if self.app_dir is None:
            return
        if self.previous_script_root is None:
            os.environ.pop(SCRIPT_ROOT, None)
        else:
            os.environ[SCRIPT_ROOT] = self.previous_script_root
        root = str(self.app_dir)
        if root in sys.path:
            sys.path.remove(root)
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None) or ""
            if name in APP_MODULES or file.startswith(root):
                del sys.modules[name]

    # --- invocations ----------------------------------------------------------------------------

    def invocation(
        self,
        function: str,
        inputs: Mapping[str, Any],
        *,
        invocation_id: str | None = None,
        trace_parent: str = "",
    ) -> Coroutine[Any, Any, Outcome]:
        """One invocation request (a coroutine, so several can run at once)."""
        invocation_id = invocation_id or str(uuid.uuid4())
        request = protos.InvocationRequest(
            invocation_id=invocation_id,
            function_id=self.function_ids[function],
            input_data=[
                protos.ParameterBinding(name=name, data=data) for name, data in inputs.items()
            ],
            trace_context=protos.RpcTraceContext(trace_parent=trace_parent),
        )
        message = protos.StreamingMessage(invocation_request=request)

        async def invoke() -> Outcome:
            response = await runtime.invocation_request(
                WorkerRequest("FunctionInvocationRequest", message)
            )
            return Outcome(response, invocation_id)

        return invoke()

    def http(self, function: str, **request: Any) -> Outcome:
        return self.run(self.http_invocation(function, **request))

    def http_invocation(
        self,
        function: str,
        *,
        method: str = "GET",
        path: str | None = None,
        params: Mapping[str, str] | None = None,
        route_params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        trigger: str = "req",
        **options: Any,
    ) -> Coroutine[Any, Any, Outcome]:
        http = protos.RpcHttp(
            method=method,
            url=f"http://localhost:7071/api/{path or function}",
            headers=dict(headers or {}),
            body=protos.TypedData(bytes=body) if body else None,
            params=dict(route_params or {}),
            query=dict(params or {}),
        )
        return self.invocation(function, {trigger: protos.TypedData(http=http)}, **options)

    def timer(self, function: str, *, past_due: bool = False, trigger: str = "timer") -> Outcome:
        info = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": past_due}
        return self.run(
            self.invocation(function, {trigger: protos.TypedData(json=json.dumps(info))})
        )

    def gather(self, invocations: Iterable[Coroutine[Any, Any, Outcome]]) -> list[Outcome]:
        """Run invocations concurrently, each in a task of its own (as the proxy does)."""

        async def all_of() -> list[Outcome]:
            return list(await asyncio.gather(*invocations))

        return list(self.run(all_of()))
