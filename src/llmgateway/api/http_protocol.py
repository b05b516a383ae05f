"""The HTTP/1.1 protocol the server runs: uvicorn's httptools protocol, with the request
head bounded (`LLMGATEWAY_MAX_HEADER_BYTES`).

httptools buffers a header until it is complete, so the bound is counted on the bytes that
arrive before the head ends: past it the client gets a 431 and the connection closes.
"""

from __future__ import annotations

from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llmgateway.errors import error_body
from llmgateway.settings import get_settings


class BoundedHeadHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_head_bytes = get_settings().max_header_bytes
        self._head_bytes = 0
        self._head_done = False

    def data_received(self, data: bytes) -> None:
        if self._head_done:
            super().data_received(data)
            return
        self._head_bytes += len(data)
        super().data_received(data)  # the head may end in this chunk
        if not self._head_done and self._head_bytes > self._max_head_bytes and not self.transport.is_closing():
            self._refuse()

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_done, self._head_bytes = False, 0  # the next request on this connection

    def _refuse(self) -> None:
        message = f"the request head is larger than the limit of {self._max_head_bytes} bytes (LLMGATEWAY_MAX_HEADER_BYTES)"
        body = orjson.dumps(error_body("request_header_fields_too_large", message))
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        self.transport.write(head + body)
        self.transport.close()
