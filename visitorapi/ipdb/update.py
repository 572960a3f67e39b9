"""Updating the IP database: download, check, compile, verify, swap in.

``visitorapi update`` runs :func:`update`. Every step that can fail runs
before the only step that changes anything, ``os.replace`` of a verified
file onto the configured database path, so a failure at any point leaves
the current database in place and serving. Running servers notice the new
file (a new inode at the same path) and load it without a restart.

Download safety: HTTPS certificates and host names are verified (the
default ``ssl`` context); plain ``http://`` is accepted for loopback mirrors
and logged as a warning elsewhere. The body is streamed to a temporary file
with a size limit, checked against ``Content-Length`` (a short body is a
truncated download), and a gzip body must decompress to its end (its
trailer holds a CRC-32 and the length, RFC 1952 section 2.3.1), which also
catches truncation when the server sent no length. The content must look
like CSV text: an HTML error page served with status 200 is refused before
the compiler sees it.
"""
import gzip
import logging
import os
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

from visitorapi import __version__
from visitorapi.atomic import remove_quietly, replace
from visitorapi.errors import OperatorError
from visitorapi.ipdb.compiler import compile_files as compile_csv
from visitorapi.ipdb.licenses import notice_for
from visitorapi.ipdb.reader import verify as verify_structure
from visitorapi.ipdb.sources import SourceError, open_source

log = logging.getLogger(__name__)

CHUNK = 1 << 16
SNIFF_BYTES = 4096


class UpdateError(OperatorError):
    """The update failed; the database in place was not touched."""


def is_url(source: str) -> bool:
    """True for ``http://`` and ``https://`` sources; anything else is a local file."""
    return urllib.parse.urlsplit(source).scheme.lower() in ("http", "https")


def download(url: str, folder: Path, *, max_bytes: int, timeout: float) -> Path:
    """Stream ``url`` into a new temporary file in ``folder`` and return its path.

    Raises:
        UpdateError: HTTP error status, unreachable host, certificate
            failure, timeout, body larger than ``max_bytes``, or shorter
            than its ``Content-Length``. The message names the URL.
    """
    parts = urllib.parse.urlsplit(url)
    shown = _safe_source(url)
    if parts.scheme.lower() == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        log.warning("downloading over plain HTTP: the file is not authenticated; prefer https://",
                    extra={"event": "update.insecure_url"})
    request = urllib.request.Request(url, headers={"User-Agent": f"visitorapi/{__version__} (update)"})
    context = ssl.create_default_context()
    fd, temp = tempfile.mkstemp(prefix=".download-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                    expected = response.headers.get("Content-Length")
                    expected = int(expected) if expected and expected.isdigit() else None
                    if expected is not None and expected > max_bytes:
                        raise UpdateError(f"{shown}: the file is {expected} bytes, over the "
                                          f"{max_bytes}-byte limit (VISITORAPI_UPDATE_MAX_BYTES)")
                    received = _copy(response, out, max_bytes, shown)
            except urllib.error.HTTPError as exc:
                raise UpdateError(f"{shown}: the server answered HTTP {exc.code} {exc.reason}; "
                                  "check the URL (DB-IP names each month's file by its date)") from None
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise UpdateError(f"{shown}: the server's TLS certificate failed "
                                      f"verification ({reason.verify_message})") from None
                if isinstance(reason, (socket.timeout, TimeoutError)):
                    raise UpdateError(f"{shown}: no answer within {timeout:g} s") from None
                raise UpdateError(f"{shown}: cannot connect: {reason}") from None
            except (socket.timeout, TimeoutError):
                raise UpdateError(f"{shown}: the download stalled for {timeout:g} s") from None
            except OSError as exc:
                raise UpdateError(f"{shown}: the connection broke during the download ({exc})") from None
        if expected is not None and received != expected:
            raise UpdateError(f"{shown}: truncated download: received {received} of {expected} bytes")
        return Path(temp)
    except BaseException:
        remove_quietly(temp)
        raise


def _copy(response, out, max_bytes, shown) -> int:
    received = 0
    while True:
        try:
            chunk = response.read(CHUNK)
        except Exception as exc:  # http.client.IncompleteRead and friends
            if isinstance(exc, (socket.timeout, TimeoutError)):
                raise
            raise UpdateError(f"{shown}: truncated download after {received} bytes ({exc!r})") from None
        if not chunk:
            return received
        received += len(chunk)
        if received > max_bytes:
            raise UpdateError(f"{shown}: the download passed the {max_bytes}-byte limit "
                              "(VISITORAPI_UPDATE_MAX_BYTES); is this the right file?")
        out.write(chunk)


def check_content(path: Path, name: str) -> None:
    """Refuse what is not CSV text, plain or gzip, before the compiler sees it.

    A gzip file is decompressed to its end, so a truncated or corrupt one is
    refused here with a clear message.

    Raises:
        UpdateError: empty, truncated or corrupt gzip, binary, or HTML.
    """
    try:
        with open_source(path, name) as stream:
            head = stream.read(SNIFF_BYTES)
            if isinstance(stream, gzip.GzipFile):
                while stream.read(CHUNK):
                    pass
    except SourceError as exc:
        raise UpdateError(str(exc)) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise UpdateError(f"{name}: the gzip data is truncated or corrupt ({exc}); "
                          "download it again") from None
    if not head.strip():
        raise UpdateError(f"{name}: the file is empty")
    if b"\0" in head:
        raise UpdateError(f"{name}: binary data, not CSV text")
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        raise UpdateError(f"{name}: the server sent an HTML or XML page, not CSV "
                          "(a login page or an error page served as 200?)")
    first_line = head.splitlines()[0]
    try:
        first_line.decode("utf-8")
    except UnicodeDecodeError:
        if len(first_line) < SNIFF_BYTES:  # NOTE: a cut multi-byte char at the sniff edge is fine
            raise UpdateError(f"{name}: the first line is not UTF-8 text") from None
    if b"," not in first_line:
        raise UpdateError(f"{name}: the first line has no comma; this is not a CSV file")


def update(source: str, target, *, format=None, attribution=None,
           max_bytes: int, timeout: float,
           compile_files=compile_csv, verify=verify_structure) -> dict:
    """Download (or take) ``source``, compile it, verify it, and swap it in at ``target``.

    Args:
        source: an ``http(s)://`` URL or a local CSV file (plain or gzip).
        target: the database path servers read (``VISITORAPI_DB``).
        format: force a CSV dialect (see ``visitorapi compile --format``).
        attribution: license/attribution text stored in the database.
        max_bytes: the download size limit (``VISITORAPI_UPDATE_MAX_BYTES``).
        timeout: seconds without progress before the download is given up.
        compile_files, verify: the compiler and the full structural check
            (tests may pass their own).

    Returns:
        Facts for the summary line: ``source``, ``target``, ``bytes``, ``seconds``.

    Raises:
        UpdateError: any step failed; ``target`` is unchanged.
    """
    started = time.monotonic()
    target = Path(target)
    folder = target.parent
    if not folder.is_dir():
        raise UpdateError(f"{folder} does not exist; create it or point VISITORAPI_DB elsewhere")
    downloaded = None
    compiled = None
    try:
        if is_url(source):
            downloaded = download(source, folder, max_bytes=max_bytes, timeout=timeout)
            local, name = downloaded, source
        else:
            local, name = Path(source), source
            if not local.is_file():
                raise UpdateError(f"{source}: no such file")
        check_content(local, name)
        # NOTE: compiled in the target's folder so that os.replace is a rename
        # on one filesystem, which is atomic (POSIX rename(2)).
        fd, compiled = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".new", dir=folder)
        os.close(fd)
        compiled = Path(compiled)
        if attribution is None and downloaded is not None:
            # NOTE: the download's temporary name says nothing; the URL's
            # file name (dbip-city-lite-2026-06.csv.gz) tells the source.
            attribution = notice_for([(urllib.parse.urlsplit(source).path,
                                       format or "")])
        kwargs = {"format": format}
        if attribution is not None:
            kwargs["attribution"] = attribution
        try:
            compile_files([str(local)], str(compiled), **kwargs)
        except OperatorError as exc:
            raise UpdateError(f"compiling {name} failed: {exc}") from None
        try:
            verify(str(compiled))
        except OperatorError as exc:
            raise UpdateError(f"the compiled database failed verification: {exc}") from None
        size = compiled.stat().st_size
        replace(compiled, target)
        compiled = None
    finally:
        for leftover in (downloaded, compiled):
            if leftover is not None:
                remove_quietly(leftover)
    facts = {"source": source, "target": str(target), "bytes": size,
             "seconds": round(time.monotonic() - started, 3)}
    log.info("database replaced: %s bytes from %s", size, _safe_source(source),
             extra={"event": "update.done", "db": str(target)})
    return facts


def _safe_source(source: str) -> str:
    """The source without userinfo or query (which may hold a download key)."""
    if not is_url(source):
        return source
    parts = urllib.parse.urlsplit(source)
    return urllib.parse.urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", ""))
