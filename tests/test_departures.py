"""The departure watch: a client's disconnect cancels the work it guards, and only that; told
by the gateway's own server (its departure notice) or, under any other ASGI server, read from
`receive`."""

from __future__ import annotations

import asyncio

import pytest

from llmgateway.api.departures import DEPARTURE_EXTENSION, DepartureNotice, cancelled_when_the_client_leaves


class Client:
    """A request's scope and `receive`; the test has the client leave when it wants."""

    def __init__(self, told_by_the_server: bool) -> None:
        self._gone = asyncio.Event()
        self._notice = DepartureNotice() if told_by_the_server else None
        self.scope = {"extensions": {DEPARTURE_EXTENSION: self._notice}} if told_by_the_server else {}

    def leave(self) -> None:
        if self._notice is not None:
            self._notice.client_left()  # as the server's protocol does when the connection is lost
        else:
            self._gone.set()

    async def receive(self) -> dict:
        await self._gone.wait()
        return {"type": "http.disconnect"}


@pytest.fixture(params=[True, False], ids=["the gateway's server", "another ASGI server"])
def client(request: pytest.FixtureRequest) -> Client:
    return Client(told_by_the_server=request.param)


async def test_a_client_that_stays_changes_nothing(client: Client) -> None:
    async with cancelled_when_the_client_leaves(client.scope, client.receive) as departure:
        await asyncio.sleep(0.01)
    assert not departure.left
    assert asyncio.current_task().cancelling() == 0


async def test_a_client_that_leaves_cancels_the_work_and_the_watch_ends_quietly(client: Client) -> None:
    reached_the_end = False
    asyncio.get_running_loop().call_later(0.01, client.leave)
    async with cancelled_when_the_client_leaves(client.scope, client.receive) as departure:
        await asyncio.sleep(10)
        reached_the_end = True
    assert departure.left and not reached_the_end
    assert asyncio.current_task().cancelling() == 0  # the task goes on, not left cancelled
    await asyncio.sleep(0)  # and a later wait is not cut


@pytest.mark.parametrize("client_leaves_too", [False, True], ids=["client stays", "client leaves as well"])
async def test_a_cancel_from_elsewhere_goes_on_while_the_client_stays(client: Client, client_leaves_too: bool) -> None:
    """A shutdown cancels the request, whether or not its client also leaves at that moment."""

    async def request() -> None:
        async with cancelled_when_the_client_leaves(client.scope, client.receive):
            await asyncio.sleep(10)

    task = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    task.cancel()  # the server shuts down
    if client_leaves_too:
        client.leave()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_work_that_catches_the_departure_leaves_the_task_uncancelled(client: Client) -> None:

    async def request() -> str:
        async with cancelled_when_the_client_leaves(client.scope, client.receive) as departure:
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


async def test_a_client_that_leaves_after_the_watch_cancels_nothing(client: Client) -> None:
    async with cancelled_when_the_client_leaves(client.scope, client.receive) as departure:
        pass
    client.leave()  # the answer was complete; the connection closes afterwards
    await asyncio.sleep(0.01)  # not cut
    assert not departure.left and asyncio.current_task().cancelling() == 0
