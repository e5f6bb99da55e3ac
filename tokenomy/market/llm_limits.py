"""A global cap on model calls at once per backend, across every task of an experiment.

An experiment's tasks run in parallel (worker processes, Ray workers on several machines), and
each LLM-agent task talks to the same backends. ``llm_concurrency`` in the spec caps how many
calls to a backend are in flight at once over *all* of them. The cap is a semaphore shared by
every worker, and :class:`LimitedChat` — a :class:`~tokenomy.llm.ChatModel` wrapper — holds one
permit for the length of each call, so the agents' policies are untouched.

Where the semaphore lives depends on the executor:

* ``local`` — a :class:`threading.BoundedSemaphore` (:class:`ThreadSlot`);
* ``process`` — a :class:`multiprocessing.managers.SyncManager`'s ``BoundedSemaphore`` proxy
  handed to every pool worker (:class:`ManagerSlot`); the driver makes fresh ones whenever it
  restarts a broken pool (every worker of a broken pool is dead, so nobody holds a permit);
* ``ray`` — a named async actor per backend (:class:`ConcurrencyLimit`, wrapped by
  :func:`ray_limit_actor`) that hands out permits; each permit is held under the name of the
  task attempt that took it, so when a worker dies the driver returns that attempt's permits
  (:meth:`ConcurrencyLimit.release_all`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from tokenomy.ray_support import require_ray

if TYPE_CHECKING:  # tokenomy.llm imports the openai SDK: only load it where models are built
    from tokenomy.llm.protocol import ChatModel, ChatRequest, ChatResponse


class Slot(Protocol):
    """One backend's semaphore, as a task sees it."""

    def acquire(self, holder: str) -> None:
        """Block until a permit is free and take it for ``holder``."""
        ...

    def release(self, holder: str) -> None:
        """Give back a permit ``holder`` took."""
        ...


class ThreadSlot:
    """A permit pool for threads of one process (the ``local`` executor)."""

    def __init__(self, permits: int) -> None:
        self.permits = permits
        self._semaphore = threading.BoundedSemaphore(permits)

    def acquire(self, holder: str) -> None:
        """Take a permit (``holder`` is not needed within one process)."""
        self._semaphore.acquire()

    def release(self, holder: str) -> None:
        """Give a permit back."""
        self._semaphore.release()


class ManagerSlot:
    """A permit pool shared by the processes of a pool (a manager's semaphore proxy)."""

    def __init__(self, proxy: Any) -> None:
        self._proxy = proxy

    def acquire(self, holder: str) -> None:
        """Take a permit from the manager's semaphore."""
        self._proxy.acquire()

    def release(self, holder: str) -> None:
        """Give a permit back to the manager's semaphore."""
        self._proxy.release()


class RaySlot:
    """A permit pool served by a :class:`ConcurrencyLimit` actor (any node of a cluster)."""

    def __init__(self, actor: Any) -> None:
        self._actor = actor

    def acquire(self, holder: str) -> None:
        """Wait for the actor to grant a permit to ``holder``."""
        require_ray("a Ray concurrency limit").get(self._actor.acquire.remote(holder))

    def release(self, holder: str) -> None:
        """Return one of ``holder``'s permits to the actor."""
        require_ray("a Ray concurrency limit").get(self._actor.release.remote(holder))


class ConcurrencyLimit:
    """A semaphore as an async Ray actor: permits are granted and returned by holder name.

    Used through :func:`ray_limit_actor`; the class itself does not import Ray.
    """

    def __init__(self, permits: int) -> None:
        self.permits = permits
        self._semaphore: asyncio.Semaphore | None = None
        self._held: Counter[str] = Counter()
        self.max_held = 0

    def _sem(self) -> asyncio.Semaphore:
        if self._semaphore is None:  # created on the actor's event loop
            self._semaphore = asyncio.Semaphore(self.permits)
        return self._semaphore

    async def acquire(self, holder: str) -> None:
        """Wait for a permit and record it under ``holder``."""
        await self._sem().acquire()
        self._held[holder] += 1
        self.max_held = max(self.max_held, sum(self._held.values()))

    async def release(self, holder: str) -> None:
        """Return one permit of ``holder`` (nothing if it holds none)."""
        if self._held[holder] > 0:
            self._held[holder] -= 1
            self._sem().release()
        if self._held[holder] == 0:
            del self._held[holder]

    async def release_all(self, holder: str) -> int:
        """Return every permit ``holder`` still holds (its worker died); how many there were."""
        count = self._held.pop(holder, 0)
        for _ in range(count):
            self._sem().release()
        return count

    async def stats(self) -> dict[str, int]:
        """Permits, permits held now, and the most ever held at once."""
        return {
            "permits": self.permits,
            "held": sum(self._held.values()),
            "max_held": self.max_held,
        }


def ray_limit_actor(ray: Any, backend: str, permits: int, run_id: str) -> Any:
    """Start the named :class:`ConcurrencyLimit` actor of ``backend`` for one experiment run.

    The actor needs no CPU, is named ``tokenomy-llm-limit/<run_id>/<backend>`` and lives as long
    as the driver (or until :func:`stop_ray_limits`).
    """
    actor_class = ray.remote(num_cpus=0, max_restarts=0)(ConcurrencyLimit)
    name = f"tokenomy-llm-limit/{run_id}/{backend}"
    return actor_class.options(name=name, max_concurrency=1000).remote(permits)


def stop_ray_limits(ray: Any, actors: Mapping[str, Any]) -> None:
    """Stop the limit actors of a run."""
    for actor in actors.values():
        ray.kill(actor)


class LimitedChat:
    """A chat model that holds a permit of ``slot`` for the length of every call.

    Args:
        inner: the backend.
        slot: the backend's semaphore.
        holder: the name permits are held under (the task attempt).
    """

    def __init__(self, inner: ChatModel, slot: Slot, holder: str) -> None:
        self.inner = inner
        self.slot = slot
        self.holder = holder
        self.name = inner.name

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request`` through the inner model while holding a permit."""
        self.slot.acquire(self.holder)
        try:
            return self.inner.complete(request)
        finally:
            self.slot.release(self.holder)

    def close(self) -> None:
        """Close the inner model."""
        from tokenomy.llm.protocol import close_model

        close_model(self.inner)


def limited(
    models: Mapping[str, ChatModel], slots: Mapping[str, Slot], holder: str
) -> dict[str, ChatModel]:
    """``models`` with every backend that has a slot wrapped in :class:`LimitedChat`."""
    return {
        name: LimitedChat(model, slots[name], holder) if name in slots else model
        for name, model in models.items()
    }
