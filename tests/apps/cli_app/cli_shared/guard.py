from typing import Any

from extkit import AppExtensionBase, HttpRequest, RejectInvocation


class Guard(AppExtensionBase):
    """Rejects any HTTP request that asks for it with ``deny``."""

    @classmethod
    def pre_invocation_app_level(cls, func_args: dict[str, Any]) -> None:
        request = func_args.get("req")
        if isinstance(request, HttpRequest) and "deny" in request.params:
            raise RejectInvocation("denied by Guard", status_code=403)
