"""Who is the client: REMOTE_ADDR, or what trusted proxies reported, read from the right.

A proxy appends the address it received a connection from to
``X-Forwarded-For`` (or adds a ``for=`` element to RFC 7239 ``Forwarded``).
Everything to the left of what our own proxies wrote was written by the
client and can say anything, so the list is read from the right: skip the
hops we trust, and the first hop we do not trust is the client (the lesson of
echoip's left-most ``X-Forwarded-For`` bug). Proxies are trusted only by
configuration (``VISITORAPI_TRUSTED_PROXIES``), and only the one header the
operator's proxy writes is read (``VISITORAPI_PROXY_HEADER``): reading a header
the proxy merely passes through would let the client pick its own address.

Every candidate is validated strictly; a bad one is a 400 whose message never
repeats what was sent.
"""
import ipaddress
import re
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import NamedTuple

from visitorapi.http.errors import HTTPError

# RFC 7239 section 4: forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
# forwarded-pair = token "=" value; value = token / quoted-string.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PAIR = re.compile(rf'\s*({_TOKEN})=({_TOKEN}|"(?:[^"\\]|\\.)*")\s*')
# RFC 7239 section 6: node = nodename [ ":" node-port ]; IPv6 in brackets.
_NODE_V6 = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::(?:[0-9]{1,5}|_[A-Za-z0-9._-]+))?")
_NODE_V4 = re.compile(r"([0-9.]+)(?::(?:[0-9]{1,5}|_[A-Za-z0-9._-]+))?")
_V6_TEXT = re.compile(r"[0-9A-Fa-f:.]{2,45}")

HEADERS = {"x-forwarded-for": "HTTP_X_FORWARDED_FOR", "forwarded": "HTTP_FORWARDED"}
MAX_REMEMBERED_PEERS = 256


class Address(NamedTuple):
    """A validated IP address: its family, its value as an integer, its canonical text."""

    version: int
    value: int
    text: str


class TrustedProxies:
    """The configured set of trusted proxy networks.

    Args:
        networks: ``ipaddress`` networks whose peers may report the client.
        unix: trust a peer with no IP address (gunicorn on a Unix socket,
            where REMOTE_ADDR is empty); written ``unix`` in the setting.
        header: ``"x-forwarded-for"`` or ``"forwarded"``, the one header the
            proxy writes.
    """

    def __init__(self, networks=(), *, unix=False, header="x-forwarded-for"):
        if header not in HEADERS:
            raise ValueError(f"unknown proxy header {header!r}")
        self.networks = tuple(networks)
        self.unix = unix
        self.header = header
        self.environ_key = HEADERS[header]
        # PERF: a plain attribute; __bool__ would be a Python call per request.
        self.enabled = bool(self.networks) or unix
        # PERF: networks as integer ranges; membership is two comparisons.
        self._ranges = tuple((network.version, int(network.network_address),
                              int(network.broadcast_address))
                             for network in map(ipv4_equivalent, self.networks))
        # PERF: behind a proxy every request comes from the same few REMOTE_ADDRs;
        # each is parsed and matched once. Only trusted peers (the operator's
        # proxies, never visitors) are remembered, and at most MAX_REMEMBERED_PEERS.
        self.trusted_peers = {}  # REMOTE_ADDR text -> Address

    def __bool__(self):
        return self.enabled

    def contains(self, address: Address) -> bool:
        """True if ``address`` is in a trusted network."""
        version, value = address.version, address.value
        for network_version, first, last in self._ranges:
            if network_version == version and first <= value <= last:
                return True
        return False

    def classify_peer(self, remote: str):
        """Is the connection's peer (REMOTE_ADDR ``remote``) one of our proxies?

        A trusted peer is remembered (see :attr:`trusted_peers`).

        Returns:
            ``(trusted, address)``: ``address`` is the parsed peer, or None for
            an empty REMOTE_ADDR (a Unix-socket peer, trusted only with
            ``unix``) or a malformed one (never trusted).
        """
        address = parse_ip(remote) if remote else None
        if address is None:
            return not remote and self.unix, None
        if not self.contains(address):
            return False, address
        if len(self.trusted_peers) < MAX_REMEMBERED_PEERS:
            self.trusted_peers[remote] = address
        return True, address


def ipv4_equivalent(network):
    """``network``, or the IPv4 network it maps when it lies in ::ffff:0:0/96.

    :func:`parse_ip` reads IPv4-mapped addresses as IPv4, so networks
    written in mapped form must be compared as IPv4 too.
    """
    if network.version == 6 and network.prefixlen >= 96 and \
            network.network_address.ipv4_mapped is not None:
        return ipaddress.ip_network(f"{network.network_address.ipv4_mapped}/"
                                    f"{network.prefixlen - 96}")
    return network


def parse_ip(text: str):
    """Return the :class:`Address` that ``text`` spells exactly, or None.

    Strict: dotted-quad IPv4 without leading zeros (they are octal to some
    parsers), IPv6 per RFC 4291 section 2.2 without a zone (``%eth0``), no
    whitespace anywhere. IPv6 text is returned in RFC 5952 canonical form
    (``inet_ntop``), IPv4 text is already canonical when it parses. An
    IPv4-mapped IPv6 address (``::ffff:8.8.8.8``, RFC 4291 section 2.5.5.2)
    is the IPv4 client it maps, as a dual-stack socket's REMOTE_ADDR is.

    PERF: ``inet_pton`` validates in C; ``ipaddress`` costs several µs per call.
    """
    if ":" in text:
        if not _V6_TEXT.fullmatch(text):
            return None
        try:
            packed = inet_pton(AF_INET6, text)
        except (OSError, ValueError):  # ValueError: an embedded NUL
            return None
        value = int.from_bytes(packed, "big")
        if value >> 32 == 0xFFFF:
            return Address(4, value & 0xFFFFFFFF, inet_ntop(AF_INET, packed[12:]))
        return Address(6, value, inet_ntop(AF_INET6, packed))
    try:
        packed = inet_pton(AF_INET, text)
    except (OSError, ValueError):
        return None
    return Address(4, int.from_bytes(packed, "big"), text)


def _forwarded_for_nodes(value: str):
    """Yield the ``for=`` node of every element of an RFC 7239 ``Forwarded`` value.

    An element without ``for=`` yields None. Raises HTTPError 400 on a
    malformed value.
    """
    for element in _split_outside_quotes(value, ","):
        node = None
        for pair in _split_outside_quotes(element, ";"):
            if not pair.strip():
                continue
            match = _PAIR.fullmatch(pair)
            if match is None:
                raise HTTPError(400, "the Forwarded header is malformed (RFC 7239)")
            name, token = match.groups()
            if name.lower() == "for":
                if token.startswith('"'):
                    token = re.sub(r"\\(.)", r"\1", token[1:-1])
                node = token
        yield node


def _split_outside_quotes(value: str, separator: str):
    """Split on ``separator`` except inside quoted strings (RFC 9110 section 5.6.4)."""
    if '"' not in value:
        return value.split(separator)
    parts, current, quoted, escaped = [], [], False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted:
        raise HTTPError(400, "the Forwarded header has an unterminated quoted string")
    parts.append("".join(current))
    return parts


def _node_address(node):
    """Return the address in an RFC 7239 node (``1.2.3.4:80``, ``[::1]``) or None."""
    if node is None:
        return None
    match = _NODE_V6.fullmatch(node)
    if match is not None:
        address = parse_ip(match.group(1))
        return address if address is not None and address.version == 6 else None
    match = _NODE_V4.fullmatch(node)
    if match is not None:
        address = parse_ip(match.group(1))
        return address if address is not None and address.version == 4 else None
    return None


def _candidates(header: str, value: str) -> list:
    """Return the reported hops, left to right, as (address or None, header name)."""
    if header == "x-forwarded-for":
        return [(parse_ip(entry.strip(" \t")), "an X-Forwarded-For entry")
                for entry in value.split(",")]
    # NOTE: "unknown" and obfuscated identifiers (RFC 7239 sections 6.2, 6.3)
    # name no address; if such a hop is the client, there is nothing to locate.
    return [(_node_address(node), "a Forwarded for= node")
            for node in _forwarded_for_nodes(value)]


def client_ip(environ, trusted: TrustedProxies) -> str:
    """Return the client's IP address as normalized text.

    Args:
        environ: the WSGI environ (reads REMOTE_ADDR and the proxy header).
        trusted: the configured trusted proxies.

    Returns:
        REMOTE_ADDR when the peer is not a trusted proxy; otherwise the
        right-most untrusted hop of the proxy header (the left-most hop when
        every hop is trusted, the peer itself when the header is absent).

    Raises:
        HTTPError: 400 when REMOTE_ADDR or a header entry is not an IP address.
    """
    remote = environ.get("REMOTE_ADDR") or ""
    if not trusted.enabled:
        # PERF: the server wrote REMOTE_ADDR; the database lookup validates it
        # (ValueError -> 400), so the common no-proxy case parses it only once.
        if not remote:
            raise HTTPError(400, "the connection has no client address")
        return remote
    peer = trusted.trusted_peers.get(remote)
    if peer is None:
        is_proxy, peer = trusted.classify_peer(remote)
        if not is_proxy:
            if peer is None:
                raise HTTPError(400, "the connection has no valid client address")
            return peer.text
    value = environ.get(trusted.environ_key)
    if value is None or not value.strip(" \t,"):
        if peer is None:
            raise HTTPError(400, "the trusted proxy did not report the client address")
        return peer.text
    # Entries left of the client were written by the client; they are never
    # read, so they are not validated either (their content cannot matter).
    candidates = _candidates(trusted.header, value)
    for address, what in reversed(candidates):
        if address is None:
            raise HTTPError(400, f"{what} is not an IP address")
        if not trusted.contains(address):
            return address.text
    return candidates[0][0].text


def forwarded_https(environ, trusted: TrustedProxies) -> bool:
    """True if a trusted proxy reported that the client connected over https.

    Reads ``X-Forwarded-Proto`` (with ``x-forwarded-for``) or the right-most
    ``proto=`` of ``Forwarded``, only when the peer is a trusted proxy.
    """
    if not trusted.enabled:
        return False
    x_forwarded = trusted.header == "x-forwarded-for"
    value = environ.get("HTTP_X_FORWARDED_PROTO" if x_forwarded else "HTTP_FORWARDED")
    if not value:
        return False  # PERF: no report to trust, so the peer need not be checked
    remote = environ.get("REMOTE_ADDR") or ""
    if remote not in trusted.trusted_peers and not trusted.classify_peer(remote)[0]:
        return False
    if x_forwarded:
        return value.rsplit(",", 1)[-1].strip().lower() == "https"
    try:
        elements = _split_outside_quotes(value, ",")
    except HTTPError:
        return False
    for pair in _split_outside_quotes(elements[-1], ";") if elements else ():
        match = _PAIR.fullmatch(pair) if pair.strip() else None
        if match and match.group(1).lower() == "proto":
            return match.group(2).strip('"').lower() == "https"
    return False
