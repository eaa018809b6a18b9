"""moto's standalone S3 server for the recording tests (a helper module, not a conftest,
so test files can import it by a name no other test directory uses)."""

from __future__ import annotations

import socket
from typing import Any

import boto3  # type: ignore[import-untyped,unused-ignore]

PART = 64 * 1024  # multipart part size used by the tests (moto's minimum lowered below)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MotoS3:
    """moto's standalone S3 server in a thread; can be stopped and started on the same port
    (its state lives in the process, so it survives a restart like a real store would)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server_class: Any = ThreadedMotoServer
        self._server: Any = None

    def start(self) -> None:
        self._server = self._server_class(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
