"""Logging in to the chat: a rate limit per user name and per client address with growing back-off, and the
password check (scrypt, about 50 ms of CPU) in a worker thread so the server keeps serving other users.

Gradio awaits `auth=` when it is a coroutine function; `PasswordLogin.authenticate` is one. A refused
attempt during a lock-out is answered 429 with Retry-After, whatever the password.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_TRACKED = 10_000  # user names and addresses with failures kept before expired ones are dropped
CLIENT_ADDRESS: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="unknown")


class ClientAddress:
    """ASGI middleware: the connecting address of the request, for the login rate limit (the socket's
    peer; behind a reverse proxy that is the proxy)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            CLIENT_ADDRESS.set(scope["client"][0])
        await self.app(scope, receive, send)


@dataclass
class Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class LoginLimiter:
    """After `max_failures` failed logins for a user from one address (`anywhere_factor` times as many for the
    user from all addresses together, `address_factor` times as many from one address) within `window_s`,
    that key is locked for `base_delay_s`, doubling with each further failure up to `max_delay_s`. A success
    clears the user's failures; an address's failures expire with the window."""

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 900.0,
        base_delay_s: float = 30.0,
        max_delay_s: float = 3600.0,
        address_factor: int = 4,
        anywhere_factor: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.address_factor = address_factor
        self.anywhere_factor = anywhere_factor
        self.clock = clock
        self.failures: dict[tuple[str, str], Failures] = {}

    def _limit(self, key: tuple[str, str]) -> int:
        factor = {"address": self.address_factor, "user anywhere": self.anywhere_factor}.get(key[0], 1)
        return self.max_failures * factor

    def _current(self, key: tuple[str, str], now: float) -> Failures | None:
        entry = self.failures.get(key)
        if entry is not None and now >= entry.locked_until and now - entry.last > self.window_s:
            del self.failures[key]
            return None
        return entry

    def retry_after(self, keys: list[tuple[str, str]]) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = self.clock()
        waits = [entry.locked_until - now for key in keys if (entry := self._current(key, now))]
        return max([0.0, *waits])

    def failed(self, keys: list[tuple[str, str]]) -> None:
        now = self.clock()
        if len(self.failures) > MAX_TRACKED:  # many names tried: forget the expired ones
            for key in list(self.failures):
                self._current(key, now)
        for key in keys:
            entry = self._current(key, now) or self.failures.setdefault(key, Failures())
            entry.count, entry.last = entry.count + 1, now
            over = entry.count - self._limit(key)
            if over >= 0:
                entry.locked_until = now + min(self.max_delay_s, self.base_delay_s * 2 ** min(over, 32))

    def succeeded(self, key: tuple[str, str]) -> None:
        self.failures.pop(key, None)

    def clear(self) -> None:
        self.failures.clear()


class LoginRefused(Exception):
    """Too many failed logins; `retry_after_s` until the next try."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = math.ceil(retry_after_s)
        super().__init__(f"too many failed logins; try again in {self.retry_after_s} s")


class PasswordLogin:
    """Gradio's `auth=`: `check(username, password)` (the store's, scrypt for known and unknown users
    alike) runs in worker threads, at most `hash_threads` at a time, behind the rate limit."""

    def __init__(
        self, check: Callable[[str, str], bool], limiter: LoginLimiter | None = None, hash_threads: int = 2
    ) -> None:
        self.check = check
        self.limiter = limiter or LoginLimiter()
        self.hash_threads = hash_threads
        self._threads = None

    def _keys(self, username: str) -> list[tuple[str, str]]:
        """A user from one address (locked after `max_failures`), the user from anywhere (after ten times as
        many: others cannot lock a user out with a few wrong passwords), and the address."""
        address = CLIENT_ADDRESS.get()
        return [("user", f"{username} from {address}"), ("user anywhere", username), ("address", address)]

    def _refuse_if_locked(self, keys: list[tuple[str, str]]) -> None:
        wait = self.limiter.retry_after(keys)
        if wait > 0:
            raise LoginRefused(wait)

    async def verify(self, username: str, password: str) -> bool:
        """True for the right password; False for a wrong one; `LoginRefused` during a lock-out."""
        import anyio

        keys = self._keys(username)
        self._refuse_if_locked(keys)
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(self.hash_threads)
        async with self._threads:
            self._refuse_if_locked(keys)  # attempts queued behind a flood are refused, not hashed
            ok = await anyio.to_thread.run_sync(self.check, username, password)
        if ok:
            self.limiter.succeeded(keys[0])
            self.limiter.succeeded(keys[1])
        else:
            self.limiter.failed(keys)
        return ok

    async def authenticate(self, username: str, password: str) -> bool:
        """`verify` for Gradio's /login route: a lock-out is answered 429 with Retry-After."""
        from fastapi import HTTPException

        try:
            return await self.verify(username, password)
        except LoginRefused as refused:
            raise HTTPException(
                status_code=429, detail=str(refused), headers={"Retry-After": str(refused.retry_after_s)}
            ) from None
