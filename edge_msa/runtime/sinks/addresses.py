"""Addresses for the dashboard server: which names are the loopback, the host of a Host header,
and what `--http-host` / `--http` may bind (checked by the CLI before any model loads)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from edge_msa.errors import UserError


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (a name other than localhost counts as not loopback)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str | None:
    """The host name of a Host header ("" when empty); None when it is malformed (`[::1`, `[evil.com]`,
    a port that is not a number)."""
    try:
        parts = urlsplit("//" + header)
        parts.port  # noqa: B018 - raises ValueError for a bad port
        return parts.hostname or ""
    except ValueError:
        return None


def bind_address(host: str, port: int) -> tuple[socket.AddressFamily, tuple]:
    """(family, address) to bind for --http-host / --http; UserError when it cannot be bound here.
    Called by the CLI before any model loads, and by HttpSink."""
    if not 0 <= port <= 65535:
        raise UserError(f"--http port must be 0..65535, got {port}")
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise UserError(f"--http-host {host!r} is not an address: {getattr(e, 'strerror', e)}") from None
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            raise UserError(f"cannot serve the dashboard on {host}:{port}: {e.strerror}") from None
    return family, address
