"""A small stand-in for the protobuf messages Azure's host and Python worker exchange.

Azure's proxy worker hands its generated protobuf module to the Python runtime as
``request.properties["protos"]``; the runtime builds its responses from it and reads the host's
requests field by field. This module is passed in its place. Like a protobuf message, each class
takes its fields as keywords (an unknown one is a ``ValueError``, so a field the runtime builds
that this stand-in lacks fails the test instead of passing silently), gives unset fields their
proto3 defaults and answers ``WhichOneof``. Field names follow ``FunctionRpc.proto``; only the
messages and fields the runtime touches are here.
"""

from __future__ import annotations

from typing import Any, ClassVar


class _Message:
    #: Field name -> default (a callable default is a factory: ``list``, ``dict``, a message).
    fields: ClassVar[dict[str, Any]] = {}
    #: Oneof group -> its member fields, in declaration order.
    oneofs: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, **values: Any) -> None:
        for name in values:
            if name not in self.fields:
                raise ValueError(f'Protocol message {type(self).__name__} has no "{name}" field.')
        for name, default in self.fields.items():
            value = values.get(name)
            if value is None:
                value = default() if callable(default) else default
            setattr(self, name, value)
        self._given = frozenset(name for name, value in values.items() if value is not None)

    def WhichOneof(self, group: str) -> str | None:  # noqa: N802 - protobuf's spelling
        return next((name for name in self.oneofs[group] if name in self._given), None)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in sorted(self._given))
        return f"{type(self).__name__}({shown})"


# --- what the host sends ------------------------------------------------------------------------


class RpcTraceContext(_Message):
    fields: ClassVar = {"trace_parent": "", "trace_state": "", "attributes": dict}


class RetryContext(_Message):
    fields: ClassVar = {"retry_count": 0, "max_retry_count": 0, "exception": None}


class TypedData(_Message):
    fields: ClassVar = dict.fromkeys(
        ("string", "json", "bytes", "stream", "http", "int", "double"), None
    )
    oneofs: ClassVar = {"data": tuple(fields)}


class RpcHttp(_Message):
    fields: ClassVar = {
        "method": "",
        "url": "",
        "headers": dict,
        "body": TypedData,
        "params": dict,
        "status_code": "",
        "query": dict,
        "enable_content_negotiation": False,
        "cookies": list,
    }


class ParameterBinding(_Message):
    fields: ClassVar = {"name": "", "data": None}
    oneofs: ClassVar = {"rpc_data": ("data",)}


class WorkerInitRequest(_Message):
    fields: ClassVar = {
        "host_version": "",
        "capabilities": dict,
        "log_categories": dict,
        "worker_directory": "",
        "function_app_directory": "",
    }


class FunctionsMetadataRequest(_Message):
    fields: ClassVar = {"function_app_directory": ""}


class FunctionLoadRequest(_Message):
    fields: ClassVar = {"function_id": "", "metadata": None}


class InvocationRequest(_Message):
    fields: ClassVar = {
        "invocation_id": "",
        "function_id": "",
        "input_data": list,
        "trigger_metadata": dict,
        "trace_context": RpcTraceContext,
        "retry_context": RetryContext,
    }


class StreamingMessage(_Message):
    fields: ClassVar = {
        "request_id": "",
        "worker_init_request": None,
        "functions_metadata_request": None,
        "function_load_request": None,
        "invocation_request": None,
    }


# --- what the runtime builds --------------------------------------------------------------------


class RpcException(_Message):
    fields: ClassVar = {"source": "", "stack_trace": "", "message": ""}


class StatusResult(_Message):
    Failure: ClassVar = 0
    Success: ClassVar = 1
    Cancelled: ClassVar = 2
    fields: ClassVar = {"status": 0, "result": "", "exception": RpcException, "logs": list}


class WorkerMetadata(_Message):
    fields: ClassVar = {
        "runtime_name": "",
        "runtime_version": "",
        "worker_version": "",
        "worker_bitness": "",
        "custom_properties": dict,
    }


class WorkerInitResponse(_Message):
    fields: ClassVar = {
        "worker_version": "",
        "capabilities": dict,
        "result": None,
        "worker_metadata": None,
    }


class BindingInfo(_Message):
    # Direction: in = 0 (a keyword in Python; the runtime only reads out and inout), out, inout.
    out: ClassVar = 1
    inout: ClassVar = 2
    # DataType
    undefined: ClassVar = 0
    string: ClassVar = 1
    binary: ClassVar = 2
    stream: ClassVar = 3
    fields: ClassVar = {"type": "", "direction": 0, "data_type": 0, "properties": dict}


class RpcRetryOptions(_Message):
    fields: ClassVar = {
        "max_retry_count": 0,
        "delay_interval": None,
        "minimum_interval": None,
        "maximum_interval": None,
        "retry_strategy": 0,
    }


class RpcFunctionMetadata(_Message):
    fields: ClassVar = {
        "name": "",
        "directory": "",
        "script_file": "",
        "entry_point": "",
        "bindings": dict,
        "is_proxy": False,
        "language": "",
        "raw_bindings": list,
        "function_id": "",
        "managed_dependency_enabled": False,
        "retry_options": None,
        "properties": dict,
    }


class FunctionMetadataResponse(_Message):
    fields: ClassVar = {
        "function_metadata_results": list,
        "result": None,
        "use_default_metadata_indexing": False,
    }


class FunctionLoadResponse(_Message):
    fields: ClassVar = {"function_id": "", "result": None, "is_dependency_downloaded": False}


class InvocationResponse(_Message):
    fields: ClassVar = {
        "invocation_id": "",
        "output_data": list,
        "return_value": None,
        "result": None,
    }
