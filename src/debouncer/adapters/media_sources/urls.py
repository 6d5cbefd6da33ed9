"""Media URLs taken from a payload (Instagram, generic): https only, and only to public addresses.

Such a URL is chosen by whoever sent the payload, so fetching it must not reach our own network (cloud metadata at
169.254.169.254, a VPC service, localhost). Every address the host resolves to is checked, and the connection is then
made to a checked address, so a second DNS answer (DNS rebinding) cannot send it elsewhere. The check runs again for
every redirect, inside the transport.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURLError(Exception):
    """A URL we refuse to fetch; the message names the rule, never the URL (it may be signed)."""


class UnresolvedHostError(Exception):
    """The host did not resolve for now (a DNS failure a retry may not meet)."""


def _judged(ip: IPAddress) -> list[IPAddress]:
    # An IPv6 address can carry an IPv4 one the network routes to: an IPv4-mapped one (::ffff:10.0.0.1) is that
    # IPv4 address; 6to4 and Teredo ones are judged by both.
    if not isinstance(ip, ipaddress.IPv6Address):
        return [ip]
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    embedded: list[IPAddress] = [ip.sixtofour] if ip.sixtofour is not None else []
    if ip.teredo is not None:
        embedded.extend(ip.teredo)
    return [*embedded, ip]


def address_problem(ip: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why a connection to `ip` is refused, or None when it is a public address (or an allowed loopback one)."""
    for address in _judged(ip):
        if address.is_loopback:
            if allow_loopback:
                continue
            return "a loopback address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_multicast:
            return "a multicast address"
        if address.is_reserved or address.is_unspecified:
            return "a reserved address"
        # is_global is False for private ranges and for the special-purpose ones (CGNAT, documentation, benchmarks).
        if address.is_private or not address.is_global:
            return "a private address"
    return None


def resolve(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """Every address `host` resolves to, refused (UnsafeURLError) unless all of them are allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        # EAI_AGAIN is a resolver that did not answer in time; the others are a name that does not resolve.
        if e.errno == socket.EAI_AGAIN:
            raise UnresolvedHostError("its host did not resolve (DNS timeout)") from None
        raise UnsafeURLError("its host does not resolve") from None
    except UnicodeError:
        raise UnsafeURLError("its host is not a valid name") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeURLError("its host does not resolve")
    for address in addresses:
        problem = address_problem(ipaddress.ip_address(address), allow_loopback=allow_loopback)
        if problem:
            raise UnsafeURLError(f"its host resolves to {problem}")
    return addresses


def check(url: httpx.URL, *, allow_loopback: bool) -> list[str]:
    """The checked addresses to connect to for `url`; UnsafeURLError when the scheme or any address is refused."""
    if url.scheme not in ("https", "http"):
        raise UnsafeURLError("only https URLs are fetched")
    host = url.raw_host.decode("ascii")  # IDNA-encoded: what DNS and TLS see
    if not host:
        raise UnsafeURLError("the URL has no host")
    addresses = resolve(host, url.port or (443 if url.scheme == "https" else 80), allow_loopback=allow_loopback)
    # Plain http is for the local runtime's fakes only: every address on loopback, and loopback allowed.
    if url.scheme == "http" and not (
        allow_loopback and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)
    ):
        raise UnsafeURLError("only https URLs are fetched")
    return addresses


class PublicOnlyTransport(httpx.HTTPTransport):
    """An httpx transport that checks each request's URL and connects to the address it checked.

    The request is sent to that IP address with the original Host header and TLS server name (so the certificate
    is still verified against the host name). Connections are not kept alive: a pooled connection is keyed on the
    IP address, and must not be reused for another host name served from the same address.
    """

    def __init__(self, *, allow_loopback: bool, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify, limits=httpx.Limits(max_keepalive_connections=0))
        self._allow_loopback = allow_loopback

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Check, then send to the checked addresses in turn until one connects (as socket.create_connection does)."""
        *others, last = check(request.url, allow_loopback=self._allow_loopback)
        for address in others:
            try:
                return self._send(request, address)
            except httpx.ConnectError:  # nothing was sent: the next address may answer
                continue
        return self._send(request, last)

    def _send(self, request: httpx.Request, address: str) -> httpx.Response:
        url = request.url
        pinned = httpx.Request(
            request.method,
            url.copy_with(host=address.split("%")[0]),
            headers=request.headers,  # Host was set from the original URL when the request was built
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": url.raw_host.decode("ascii")},
        )
        return super().handle_request(pinned)
