"""A task that shows whether the event loop kept running while a store call waited (used by the core and adapter
tests that stall a store under an async path)."""

from __future__ import annotations

import asyncio
import threading


class Ticker:
    """An asyncio task yielding over and over, counting the turns it got while ``busy`` was set (a store call under
    way): none when that call blocks the event loop. Make it inside the running loop."""

    def __init__(self, busy: threading.Event) -> None:
        self.busy = busy
        self.ticks = 0
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            if self.busy.is_set():
                self.ticks += 1
            await asyncio.sleep(0)

    async def stop(self) -> int:
        """Stop ticking; the turns counted."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        return self.ticks
