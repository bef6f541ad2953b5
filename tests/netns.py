"""Two network namespaces joined by a veth pair, for tests of multicast discovery.

Multicast (SSDP, mDNS) must never leave on the machine's real interfaces: tests that need
it run their peers inside namespaces made here, and skip with the reason where they
cannot be made (not Linux, not root, no iproute2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def unavailable() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    return None


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


@contextmanager
def veth_pair(tag: str, subnet: str, *, multicast_route: bool = False) -> Iterator[tuple[str, str]]:
    """Namespaces `<tag>a` (address `<subnet>.1/24`) and `<tag>b` (`<subnet>.2/24`),
    deleted again on exit; skips the test when they cannot be made."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    a, b = f"{tag}a", f"{tag}b"
    made = ip("netns", "add", a)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        made = ip("netns", "add", b)
        if made.returncode != 0:
            pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
        x, y = f"{tag}x", f"{tag}y"
        steps = [
            ("link", "add", x, "type", "veth", "peer", "name", y),
            ("link", "set", x, "netns", a),
            ("link", "set", y, "netns", b),
            ("-n", a, "addr", "add", f"{subnet}.1/24", "dev", x),
            ("-n", b, "addr", "add", f"{subnet}.2/24", "dev", y),
            ("-n", a, "link", "set", x, "up", "multicast", "on"),
            ("-n", b, "link", "set", y, "up", "multicast", "on"),
            ("-n", a, "link", "set", "lo", "up"),
            ("-n", b, "link", "set", "lo", "up"),
        ]
        if multicast_route:
            steps += [
                ("-n", a, "route", "add", "239.0.0.0/8", "dev", x),
                ("-n", b, "route", "add", "239.0.0.0/8", "dev", y),
            ]
        for step in steps:
            done = ip(*step)
            if done.returncode != 0:
                pytest.skip(f"cannot set up the veth pair ({' '.join(step)}): {done.stderr}")
        yield a, b
    finally:
        ip("netns", "del", a)
        ip("netns", "del", b)
