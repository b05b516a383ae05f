"""Tool calls in the order a surface with one open block at a time can stream them.

OpenAI streams parallel tool calls with their fragments interleaved (index 0, 1, 0, 1, ...);
Anthropic's Messages stream and OpenAI's Responses stream each hold one content block or
output item open at a time. The first call streams as it comes; the fragments of the others
are held, and released whole, in index order, once the first is done.
"""

from __future__ import annotations

from llmgateway.vocabulary.events import ToolCallDelta


class OneToolAtATime:
    def __init__(self) -> None:
        self._current: int | None = None
        self._held: dict[int, ToolCallDelta] = {}

    def accept(self, fragment: ToolCallDelta) -> ToolCallDelta | None:
        """The fragment, if it belongs to the call being streamed (or starts the first); None if held."""
        if self._current is None:
            self._current = fragment.index
        if fragment.index == self._current:
            return fragment
        held = self._held.get(fragment.index)
        if held is None:
            self._held[fragment.index] = ToolCallDelta(fragment.index, fragment.id, fragment.name, fragment.arguments)
        else:
            held.id = held.id or fragment.id
            held.name = held.name or fragment.name
            held.arguments += fragment.arguments
        return None

    def release(self) -> list[ToolCallDelta]:
        """The streamed call is done: the held calls, whole, in index order."""
        held = [self._held[index] for index in sorted(self._held)]
        self._held.clear()
        self._current = None
        return held
