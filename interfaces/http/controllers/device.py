"""Device login for the CLI: code, token polling, browser confirmation."""

from __future__ import annotations

from urllib.parse import quote

from litestar import Controller, post
from litestar.params import JSONBody

from interfaces.http.deps import ContainerDep, PrincipalDep, settled
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.identity import (
    DeviceCodeResponse,
    DeviceConfirmRequest,
    DeviceTokenRequest,
    DeviceTokenResponse,
    Status,
)


class DeviceController(Controller):
    """`/auth/device/*` (RFC 8628 shapes, as the official CLI expects)."""

    path = "/auth/device"
    tags = ["auth"]

    @post(
        "/code",
        opt={"action": "RequestDeviceCode"},
        operation_id="deviceRequestCode",
        status_code=200,
        sync_to_thread=True,
    )
    def code(self, container: ContainerDep) -> DeviceCodeResponse:
        code = settled(container, container.identity.request_device_code())
        base = container.settings.base_url
        return DeviceCodeResponse(
            device_code=code.device_code,
            user_code=code.user_code,
            verification_uri=f"{base}/console/device",
            verification_uri_complete=f"{base}/console/device?code={quote(code.user_code)}",
            expires_in=code.expires_in,
            interval=code.interval,
        )

    @post(
        "/token",
        opt={"action": "PollDeviceToken"},
        operation_id="deviceToken",
        status_code=200,
        sync_to_thread=True,
    )
    def token(
        self, data: JSONBody[DeviceTokenRequest], container: ContainerDep
    ) -> DeviceTokenResponse:
        answer = settled(container, container.identity.poll_device_token(data.device_code))
        return DeviceTokenResponse(**answer)

    @post(
        "/confirm",
        opt={"action": "ConfirmDevice"},
        operation_id="deviceConfirm",
        responses=errors(404, 409, 410),
        status_code=200,
        sync_to_thread=True,
    )
    def confirm(
        self, data: JSONBody[DeviceConfirmRequest], principal: PrincipalDep, container: ContainerDep
    ) -> Status:
        settled(container, container.identity.confirm_device(data.user_code, principal.id))
        return Status(status="confirmed")
