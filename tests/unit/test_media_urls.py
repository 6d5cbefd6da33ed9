"""The guard of media URLs from payloads: https only, every resolved address public (loopback when allowed)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from debouncer.adapters.media_sources.urls import (
    UnresolvedHostError,
    UnsafeURLError,
    address_problem,
    check,
    resolve,
)

REFUSED = [
    ("10.0.0.7", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.20", "private"),
    ("100.64.0.1", "private"),  # carrier-grade NAT: shared, not global
    ("192.0.2.10", "private"),  # documentation range
    ("fd00::1", "private"),  # unique local
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("fe80::1", "link-local"),
    ("224.0.0.251", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("0.0.0.0", "reserved"),  # noqa: S104 - an address under test, not a bind
    ("::", "reserved"),
    ("::ffff:10.0.0.7", "private"),  # IPv4-mapped: connects to 10.0.0.7
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("2002:a00:7::", "private"),  # 6to4 of 10.0.0.7
    ("64:ff9b::a00:7", "reserved"),  # NAT64 of 10.0.0.7
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "157.240.22.35", "2606:4700:4700::1111", "2a03:2880:f12f:83:face:b00c:0:25de"]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    assert address_problem(ipaddress.ip_address(address), allow_loopback=False) == f"a {why} address"


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), allow_loopback=False) is None
    assert address_problem(ipaddress.ip_address(address), allow_loopback=True) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_loopback_passes_only_when_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), allow_loopback=True) is None
    assert address_problem(ipaddress.ip_address(address), allow_loopback=False) == "a loopback address"


@pytest.mark.parametrize(("address", "why"), [(a, w) for a, w in REFUSED if w != "loopback"])
def test_allowing_loopback_allows_nothing_else(address: str, why: str) -> None:
    assert address_problem(ipaddress.ip_address(address), allow_loopback=True) == f"a {why} address"


# --- host names: every address they resolve to is checked -------------------------------------------------------


def answers(table: dict[str, list[str]]) -> Callable[..., list[Any]]:
    """A getaddrinfo that answers from `table` (as the system's would, one entry per address)."""

    def getaddrinfo(host: str, port: int | None, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out: list[Any] = []
        for address in table[host]:
            if ":" in address:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return out

    return getaddrinfo


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[str]]], None]:
    """Point socket.getaddrinfo at a table of host -> addresses."""

    def install(table: dict[str, list[str]]) -> None:
        monkeypatch.setattr(socket, "getaddrinfo", answers(table))

    return install


def test_a_host_resolving_to_public_addresses_passes(dns: Callable[[dict[str, list[str]]], None]) -> None:
    dns({"cdn.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]})
    assert resolve("cdn.example.com", 443, allow_loopback=False) == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]


@pytest.mark.parametrize(
    ("addresses", "why"),
    [
        (["10.0.0.7"], "private"),
        (["169.254.169.254"], "link-local"),
        (["127.0.0.1"], "loopback"),
        (["93.184.215.14", "10.0.0.7"], "private"),  # one bad address among good ones is enough
        (["2606:4700:4700::1111", "fe80::1"], "link-local"),
        (["93.184.215.14", "::ffff:192.168.0.1"], "private"),
    ],
)
def test_a_host_with_any_non_public_address_is_refused(
    dns: Callable[[dict[str, list[str]]], None], addresses: list[str], why: str
) -> None:
    dns({"media.attacker.example": addresses})
    with pytest.raises(UnsafeURLError, match=f"^its host resolves to a {why} address$"):
        resolve("media.attacker.example", 443, allow_loopback=False)


def test_an_unknown_host_is_refused(dns: Callable[[dict[str, list[str]]], None]) -> None:
    dns({})
    with pytest.raises(UnsafeURLError, match="does not resolve"):
        resolve("nowhere.example", 443, allow_loopback=False)


def test_a_dns_timeout_is_worth_a_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    with pytest.raises(UnresolvedHostError):
        resolve("cdn.example.com", 443, allow_loopback=False)


# --- whole URLs ---------------------------------------------------------------------------------------------------


@pytest.fixture
def hosts(dns: Callable[[dict[str, list[str]]], None]) -> None:
    dns(
        {
            "cdn.example.com": ["93.184.215.14"],
            "internal.example.com": ["10.0.0.7"],
            "metadata.example.com": ["169.254.169.254"],
            "localhost": ["127.0.0.1", "::1"],
            "127.0.0.1": ["127.0.0.1"],
            "10.1.2.3": ["10.1.2.3"],
            "xn--bcher-kva.example": ["93.184.215.14"],
        }
    )


@pytest.mark.usefixtures("hosts")
@pytest.mark.parametrize("allow_loopback", [False, True])
def test_https_to_a_public_host_passes(allow_loopback: bool) -> None:
    assert check(httpx.URL("https://cdn.example.com/a.jpg?sig=x"), allow_loopback=allow_loopback) == ["93.184.215.14"]


@pytest.mark.usefixtures("hosts")
def test_the_idna_name_is_what_is_resolved() -> None:
    assert check(httpx.URL("https://bücher.example/a.pdf"), allow_loopback=False) == ["93.184.215.14"]


@pytest.mark.usefixtures("hosts")
@pytest.mark.parametrize(
    ("url", "allow_loopback", "why"),
    [
        ("http://cdn.example.com/a.jpg", False, "only https URLs are fetched"),
        ("http://cdn.example.com/a.jpg", True, "only https URLs are fetched"),  # loopback allowed, not plain http
        ("https://internal.example.com/a.jpg", False, "resolves to a private address"),
        ("https://internal.example.com/a.jpg", True, "resolves to a private address"),
        ("https://metadata.example.com/latest/meta-data/", True, "resolves to a link-local address"),
        ("https://10.1.2.3/a.jpg", False, "resolves to a private address"),
        ("https://localhost/a.jpg", False, "resolves to a loopback address"),
        ("http://127.0.0.1:8000/a.jpg", False, "resolves to a loopback address"),
        ("ftp://cdn.example.com/a.jpg", True, "only https URLs are fetched"),
    ],
)
def test_refused_urls_say_why_without_the_url(url: str, allow_loopback: bool, why: str) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check(httpx.URL(url), allow_loopback=allow_loopback)
    assert why in str(caught.value)
    assert "example" not in str(caught.value)
    assert "127.0.0.1" not in str(caught.value)


@pytest.mark.usefixtures("hosts")
@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/a.jpg", "https://localhost/a.jpg", "http://localhost:9/x"])
def test_loopback_http_and_https_pass_when_allowed(url: str) -> None:
    assert check(httpx.URL(url), allow_loopback=True)
