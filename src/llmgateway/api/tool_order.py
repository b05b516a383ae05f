"""Tool calls in the order a surface with one open block at a time can stream them.

OpenAI streams parallel tool calls with their fragments interleaved (index 0, 1, 0, 1, ...);
Anthropic's Messages stream and OpenAI's Responses stream each hold one content block or
output item open at a time. The first call streams as it comes; the fragments of the others
are held, and released whole, in index order, once the first is done.
"""

from __future__ import annotations

from typing import Any, Callable

from llmgateway.vocabulary.events import ToolCallDelta

# How a surface streams one fragment: it appends its chunks to the list it is given.
StreamFragment = Callable[[list[dict[str, Any]], ToolCallDelta], None]


class OneToolAtATime:
    def __init__(self, stream_fragment: StreamFragment) -> None:
        self._stream_fragment = stream_fragment
        self._current: int | None = None
        self._held: dict[int, ToolCallDelta] = {}

    def take(self, chunks: list[dict[str, Any]], fragment: ToolCallDelta) -> None:
        """Stream the fragment if it belongs to the call being streamed (or starts the first); else hold it."""
        if self._current is None:
            self._current = fragment.index
        if fragment.index == self._current:
            self._stream_fragment(chunks, fragment)
            return
        held = self._held.get(fragment.index)
        if held is None:
            self._held[fragment.index] = ToolCallDelta(fragment.index, fragment.id, fragment.name, fragment.arguments)
        else:
            held.id = held.id or fragment.id
            held.name = held.name or fragment.name
            held.arguments += fragment.arguments

    def release(self, chunks: list[dict[str, Any]]) -> None:
        """The streamed call is done: stream the held calls, whole, in index order."""
        for index in sorted(self._held):
            self._stream_fragment(chunks, self._held[index])
        self._held.clear()
        self._current = None
