"""Who may call the service: an API key, required beyond loopback.

The key comes from `--api-key` or the environment variable `VLMBENCH_SERVICE_API_KEY`. With a key set, every
route except `/health` (liveness probes carry no secrets) needs `Authorization: Bearer <key>`; without it
the answer is 401 in OpenAI's error shape. A service bound beyond loopback must have a key.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import socket

API_KEY_ENV = "VLMBENCH_SERVICE_API_KEY"
OPEN_PATHS = frozenset({"/health"})


def api_key(given: str | None = None) -> str | None:
    """The service's key: `--api-key` if given, else the environment variable (None when neither is set)."""
    key = (given if given is not None else os.environ.get(API_KEY_ENV, "")).strip()
    return key or None


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or a name) only ever means this machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def bind_problem(host: str, key: str | None) -> str:
    """Why the service may not listen on `host` ('' when it may)."""
    if key or is_loopback(host):
        return ""
    return (
        f"--host {host} reaches beyond this machine, so the service needs an API key: pass --api-key or set "
        f"{API_KEY_ENV} (clients send it as 'Authorization: Bearer <key>')"
    )


def authorized(header: str | None, key: str) -> bool:
    """Whether an `Authorization` header carries `key` as a bearer token (compared in constant time)."""
    scheme, _, token = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())
