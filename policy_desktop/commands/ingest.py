"""``policy-desktop ingest``: receive decisions over HTTP (the OPA decision-log service shape).

Systems that cannot call Python ``POST /logs`` a JSON array of decisions, gzip-compressed
(``Content-Encoding: gzip``, as OPA's decision-log plugin sends) or plain, one decision
per element in the ``policy-desktop import`` line format or as OPA's own event (``input``,
``result``, ``path``…; see :mod:`policy_desktop.commands.opa_events`). Each element is validated and
stored exactly like a line of ``import`` (the same function does it; an element is
reported as line ``index + 1``), and the response lists the problems per event::

    {"received": 3, "stored": 2, "duplicates": 0, "invalid": 1, "conflicts": 0,
     "errors": [{"index": 1, "reason": "missing required field 'decision'"}]}

Status codes: 200 when the body was read (even with per-event errors, which a resend
would not fix; re-sent valid events count as duplicates); 400 for a body that is not a
JSON array (or not gzip/UTF-8); 413 for a body over the limit; 503 with ``Retry-After``
when the database cannot be written (a retry stores what is missing). A 200 is sent
only after the events are committed. ``GET /health`` answers ``{"status": "ok"}``.

Listens on the loopback interface unless ``--allow-remote`` (there is no
authentication). SIGINT/SIGTERM stop accepting, finish the requests in progress and
exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import signal
import socket
import sys
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from policy_desktop.commands.opa_events import EventError, as_import_line
from policy_desktop.store import PolicyDecisionLog, StoreError
from policy_desktop.store.jsonl import ImportResult, import_jsonl

HELP = "receive decisions over HTTP: POST /logs with a (gzip) JSON array, as OPA sends them"

DEFAULT_LISTEN = "127.0.0.1:8282"
DEFAULT_MAX_MB = 64
LOGS_PATH = "/logs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help=f"address to listen on (default {DEFAULT_LISTEN}; port 0 picks a "
                             "free one and prints it)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback address (there is no authentication)")
    parser.add_argument("--max-body-mb", type=int, default=DEFAULT_MAX_MB, metavar="N",
                        help=f"largest request body, compressed and uncompressed "
                             f"(default {DEFAULT_MAX_MB})")


class BodyError(ValueError):
    """A request body that cannot be read as a JSON array of events."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body of at most ``limit`` bytes (a gzip bomb stops at the limit)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise BodyError(HTTPStatus.BAD_REQUEST, f"not gzip data ({error})") from None
    if len(out) > limit:
        raise BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"the decompressed body is larger than {limit} bytes")
    if not inflater.eof:
        raise BodyError(HTTPStatus.BAD_REQUEST, "truncated gzip data")
    return out


def split_events(text: str) -> Iterator[str]:
    """The JSON text of each element of a top-level array, as written (so each one is
    validated exactly as an import line: duplicate keys, NaN and escapes included)."""
    decoder = json.JSONDecoder()
    whitespace = " \t\n\r"
    position = len(text) - len(text.lstrip(whitespace))
    if not text.startswith("[", position):
        raise BodyError(HTTPStatus.BAD_REQUEST, "expected a JSON array of decision events")
    position += 1
    expect_value = True
    first = True
    while True:
        while position < len(text) and text[position] in whitespace:
            position += 1
        if position >= len(text):
            raise BodyError(HTTPStatus.BAD_REQUEST, "not JSON (the array is not closed)")
        if text[position] == "]" and (first or not expect_value):
            if text[position + 1:].strip(whitespace):
                raise BodyError(HTTPStatus.BAD_REQUEST, "not JSON (text after the array)")
            return
        if not expect_value:
            if text[position] != ",":
                raise BodyError(HTTPStatus.BAD_REQUEST,
                                f"not JSON (expected ',' or ']' at character {position + 1})")
            position += 1
            expect_value = True
            continue
        try:
            _, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise BodyError(HTTPStatus.BAD_REQUEST,
                            f"not JSON ({error.msg} at character {error.pos + 1})") from None
        except RecursionError:
            raise BodyError(HTTPStatus.BAD_REQUEST, "not JSON (nested too deeply)") from None
        yield text[position:end]
        position = end
        expect_value = False
        first = False


def ingest_body(log: PolicyDecisionLog, body: bytes, *, gzipped: bool, limit: int,
                write_lock: threading.Lock | None = None) -> dict[str, Any]:
    """Store the events of one request body; the JSON response (raises :class:`BodyError`,
    :class:`StoreError`).

    ``write_lock`` is held while storing: the server's own requests then queue here
    instead of competing for SQLite's lock (whose timeout would turn them into 503s).
    """
    if gzipped or body[:2] == b"\x1f\x8b":
        body = gunzip(body, limit)
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise BodyError(HTTPStatus.BAD_REQUEST,
                        f"not UTF-8 text ({error.reason} at byte {error.start + 1})") from None
    events = list(split_events(text))  # the whole body is checked before anything is stored
    lines, refused = _import_lines(events)
    with write_lock or contextlib.nullcontext():
        result = import_jsonl(log, lines, "event", ImportResult())
    errors = [{"index": problem.line - 1, "reason": problem.reason,
               **({"conflict": True} if problem.conflict else {})}
              for problem in result.problems]
    errors.extend({"index": index, "reason": reason} for index, reason in refused)
    return {
        "received": len(events),
        "stored": result.imported,
        "duplicates": result.duplicates,
        "invalid": result.invalid + len(refused),
        "conflicts": result.conflicts,
        "errors": sorted(errors, key=lambda error: error["index"]),
    }


def _import_lines(events: list[str]) -> tuple[list[str], list[tuple[int, str]]]:
    """Each event as an import line (OPA's own events translated) and the refused ones.

    A refused event becomes a blank line, which the import skips, so every other
    event keeps its index in the import's problem report.
    """
    lines: list[str] = []
    refused: list[tuple[int, str]] = []
    for index, event in enumerate(events):
        try:
            lines.append(as_import_line(event))
        except EventError as error:
            lines.append("")
            refused.append((index, str(error)))
    return lines, refused


@dataclass
class IngestTotals:
    """What a server stored over its lifetime."""

    requests: int = 0
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    invalid: int = 0
    conflicts: int = 0
    failed_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, response: dict[str, Any]) -> None:
        with self.lock:
            self.requests += 1
            for name in ("received", "stored", "duplicates", "invalid", "conflicts"):
                setattr(self, name, getattr(self, name) + response[name])

    def summary(self) -> str:
        return (f"{self.requests} requests, {self.received} events: stored {self.stored}, "
                f"duplicates {self.duplicates}, invalid {self.invalid}, conflicts "
                f"{self.conflicts}; {self.failed_requests} requests refused")


class IngestServer(ThreadingHTTPServer):
    """A threading HTTP server that stores ``POST /logs`` bodies into ``log``."""

    daemon_threads = False  # server_close() joins the requests in progress

    def __init__(self, log: PolicyDecisionLog, host: str, port: int, *,
                 max_body: int = DEFAULT_MAX_MB << 20) -> None:
        self.log = log
        self.max_body = max_body
        self.totals = IngestTotals()
        self.write_lock = threading.Lock()
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = str(self.server_address[0])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}{LOGS_PATH}"


class _Handler(BaseHTTPRequestHandler):
    server: IngestServer
    timeout = 60  # a client that stops sending mid-body does not hold a thread forever
    server_version = "policy-desktop-ingest"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] in ("/health", "/"):
            self._reply(HTTPStatus.OK, {"status": "ok", "post_to": LOGS_PATH,
                                        "database": self.server.log.display_name})
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such path; POST to {LOGS_PATH}"})

    def do_POST(self) -> None:
        server = self.server
        try:
            if self.path.split("?", 1)[0].rstrip("/") != LOGS_PATH:
                raise BodyError(HTTPStatus.NOT_FOUND, f"no such path; POST to {LOGS_PATH}")
            body = self._read_body(server.max_body)
            encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
            if encoding not in ("", "identity", "gzip", "x-gzip"):
                raise BodyError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                                f"Content-Encoding {encoding!r} is not supported (use gzip)")
            try:
                response = ingest_body(server.log, body, gzipped=encoding in ("gzip", "x-gzip"),
                                       limit=server.max_body, write_lock=server.write_lock)
            finally:
                # This request thread's connection only: log.close() would also end the
                # store's guard of the file for the threads still using it.
                server.log.database.close()
        except BodyError as error:
            self._refuse(error.status, str(error))
            return
        except StoreError as error:
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, str(error), {"Retry-After": "1"})
            return
        server.totals.add(response)
        if response["errors"]:
            print(f"policy-desktop ingest: {response['received']} events from "
                  f"{self.client_address[0]}: stored {response['stored']}, invalid "
                  f"{response['invalid']}, conflicts {response['conflicts']}",
                  file=sys.stderr, flush=True)
        self._reply(HTTPStatus.OK, response)

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise BodyError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length (no chunked body)")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BodyError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required") from None
        if length < 0:
            raise BodyError(HTTPStatus.BAD_REQUEST, "a negative Content-Length")
        if length > limit:
            if length <= 4 * limit:  # read it, so the client sees the answer, not a reset
                remaining = length
                while remaining > 0 and (chunk := self.rfile.read(min(1 << 16, remaining))):
                    remaining -= len(chunk)
            raise BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"the body is larger than {limit} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            raise BodyError(HTTPStatus.BAD_REQUEST, "the body ended before its Content-Length")
        return body

    def _refuse(self, status: HTTPStatus, message: str,
                headers: dict[str, str] | None = None) -> None:
        with self.server.totals.lock:
            self.server.totals.failed_requests += 1
        print(f"policy-desktop ingest: {status.value} {message}", file=sys.stderr, flush=True)
        self._reply(status, {"error": message}, headers)

    def _reply(self, status: HTTPStatus, payload: dict[str, Any],
               headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: problems are reported by the handlers themselves."""


def parse_listen(text: str, *, allow_remote: bool) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); loopback unless allowed."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    host = host.strip("[]") or "127.0.0.1"
    if not allow_remote:
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"--listen {text!r} is not a loopback address; ingest has no "
                             "authentication, so add --allow-remote to accept other machines")
    return host, int(port_text)


def run(args: argparse.Namespace) -> int:
    from policy_desktop.commands.common import error, guarded, open_log

    try:
        host, port = parse_listen(args.listen, allow_remote=args.allow_remote)
    except ValueError as problem:
        error(str(problem))
        return 2

    def serve() -> int:
        with open_log(args.db, create=True) as log:
            try:
                server = IngestServer(log, host, port, max_body=args.max_body_mb << 20)
            except OSError as problem:
                error(f"cannot listen on {args.listen} ({problem.strerror or problem})")
                return 1
            return _serve_until_signal(server)

    return guarded(serve)


def _serve_until_signal(server: IngestServer) -> int:
    stop = threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set())
                for number in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve_forever, name="ingest-server", daemon=True)
    thread.start()
    print(f"policy-desktop ingest: listening on {server.url} (database "
          f"{server.log.display_name}); Ctrl+C stops", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()  # no new requests ...
        server.server_close()  # ... and the ones in progress finish and commit
        thread.join()
        for number, handler in previous.items():
            signal.signal(number, handler)
    print(f"policy-desktop ingest: stopped; {server.totals.summary()}", flush=True)
    return 0
