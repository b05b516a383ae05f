"""The departure watch: a client's disconnect cancels the work it guards, and only that."""

from __future__ import annotations

import asyncio

import pytest

from llmgateway.api.departures import cancelled_when_the_client_leaves


class Client:
    """An ASGI `receive` whose disconnect the test sends when it wants."""

    def __init__(self) -> None:
        self._gone = asyncio.Event()

    def leave(self) -> None:
        self._gone.set()

    async def receive(self) -> dict:
        await self._gone.wait()
        return {"type": "http.disconnect"}


async def test_a_client_that_stays_changes_nothing() -> None:
    client = Client()
    async with cancelled_when_the_client_leaves(client.receive) as departure:
        await asyncio.sleep(0.01)
    assert not departure.left
    assert asyncio.current_task().cancelling() == 0


async def test_a_client_that_leaves_cancels_the_work_and_the_watch_ends_quietly() -> None:
    client = Client()
    reached_the_end = False
    asyncio.get_running_loop().call_later(0.01, client.leave)
    async with cancelled_when_the_client_leaves(client.receive) as departure:
        await asyncio.sleep(10)
        reached_the_end = True
    assert departure.left and not reached_the_end
    assert asyncio.current_task().cancelling() == 0  # the task goes on, not left cancelled
    await asyncio.sleep(0)  # and a later wait is not cut


@pytest.mark.parametrize("client_leaves_too", [False, True], ids=["client stays", "client leaves as well"])
async def test_a_cancel_from_elsewhere_goes_on_while_the_client_stays(client_leaves_too: bool) -> None:
    """A shutdown cancels the request, whether or not its client also leaves at that moment."""
    client = Client()

    async def request() -> None:
        async with cancelled_when_the_client_leaves(client.receive):
            await asyncio.sleep(10)

    task = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    task.cancel()  # the server shuts down
    if client_leaves_too:
        client.leave()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_work_that_catches_the_departure_leaves_the_task_uncancelled() -> None:
    client = Client()

    async def request() -> str:
        async with cancelled_when_the_client_leaves(client.receive) as departure:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass  # as a shielded clean-up would: the work ends normally
        assert departure.left
        await asyncio.sleep(0.01)  # not cut by a cancel still counted against the task
        return "went on"

    task = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    client.leave()
    assert await task == "went on"
    assert task.cancelling() == 0
