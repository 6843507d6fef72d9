"""``policy-desktop ingest``: a real HTTP server on 127.0.0.1, real requests, the database after."""

from __future__ import annotations

import gzip
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from production_helpers import ROOT, record

from policy_desktop.commands.ingest import IngestServer, parse_listen
from policy_desktop.store import PolicyDecisionLog


@pytest.fixture
def server(db_path: Path) -> Iterator[IngestServer]:
    log = PolicyDecisionLog(db_path)
    running = IngestServer(log, "127.0.0.1", 0, max_body=1 << 20)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()
    thread.join()
    log.close()


def post(url: str, body: bytes, *, gzipped: bool = True,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = gzip.compress(body) if gzipped else body
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", **({"Content-Encoding": "gzip"} if gzipped else {}),
        **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read()), dict(error.headers)


def events(*items: Any) -> bytes:
    return json.dumps(list(items)).encode()


def stored_ids(path: Path) -> set[str]:
    with PolicyDecisionLog(path) as log:
        return {d.decision_id for d in log.get_all_decisions() if d.decision_id}


def test_gzip_array_is_stored(server: IngestServer, db_path: Path) -> None:
    body = events(*(record(i, decision_id=f"dec_ingest_{i}") for i in range(3)))
    status, reply, _ = post(server.url, body)
    assert status == 200
    assert reply == {"received": 3, "stored": 3, "duplicates": 0, "invalid": 0,
                     "conflicts": 0, "errors": []}
    assert stored_ids(db_path) == {"dec_ingest_0", "dec_ingest_1", "dec_ingest_2"}
    with PolicyDecisionLog(db_path) as log:
        stored = log.get_decision("dec_ingest_1")
    assert stored is not None and stored.situation["actor"] == "user1"


def test_malformed_events_get_per_event_errors_and_valid_ones_are_stored(
        server: IngestServer, db_path: Path) -> None:
    good = [record(i, decision_id=f"dec_good_{i}") for i in range(3)]
    missing = {k: v for k, v in record(10).items() if k != "decision"}
    text = ("[" + json.dumps(good[0]) + ",\n  " + json.dumps(missing) + ", 42, "
            + json.dumps(record(11, decision="maybe")) + ", "
            + json.dumps(good[1]) + ", "
            + json.dumps(record(12)).replace('"confidence"', '"x"')[:-1] + ', "confidence": NaN}, '
            + '{"decision": "allow", "decision": "deny"}, '
            + json.dumps(good[2]) + "]")
    status, reply, _ = post(server.url, text.encode())
    assert status == 200
    assert (reply["received"], reply["stored"], reply["invalid"]) == (8, 3, 5)
    reasons = {error["index"]: error["reason"] for error in reply["errors"]}
    assert reasons.keys() == {1, 2, 3, 5, 6}
    assert reasons[1] == "missing required field 'decision'"
    assert reasons[2] == "expected a JSON object, got a number"
    assert "'maybe' is not one of" in reasons[3]
    assert "NaN" in reasons[5]
    assert "appears twice" in reasons[6]
    assert stored_ids(db_path) == {"dec_good_0", "dec_good_1", "dec_good_2"}


def test_plain_json_and_a_resend_adds_nothing(server: IngestServer, db_path: Path) -> None:
    body = events(record(1), record(2))  # no ids: derived from the content
    first = post(server.url, body, gzipped=False)
    again = post(server.url, body, gzipped=False)
    assert (first[0], first[1]["stored"]) == (200, 2)
    assert (again[0], again[1]["stored"], again[1]["duplicates"]) == (200, 0, 2)
    assert len(stored_ids(db_path)) == 2


def test_conflicting_id_is_reported(server: IngestServer, db_path: Path) -> None:
    post(server.url, events(record(1, decision_id="dec_same")))
    status, reply, _ = post(server.url, events(record(2, decision_id="dec_same")))
    assert status == 200 and reply["conflicts"] == 1
    assert reply["errors"][0]["index"] == 0 and reply["errors"][0]["conflict"] is True


@pytest.mark.parametrize(("body", "gzipped", "status", "message"), [
    (b'{"decision": "allow"}', True, 400, "expected a JSON array"),
    (b"[" + json.dumps(record(1)).encode(), True, 400, "not JSON"),
    (b"[1,, 2]", True, 400, "not JSON"),
    (b"[] []", True, 400, "text after the array"),
    (b"\xff[]", False, 400, "not UTF-8"),
])
def test_unreadable_bodies_are_refused_whole(server: IngestServer, db_path: Path, body: bytes,
                                             gzipped: bool, status: int, message: str) -> None:
    code, reply, _ = post(server.url, body, gzipped=gzipped)
    assert code == status and message in reply["error"]
    assert stored_ids(db_path) == set()


def test_not_gzip_despite_the_header(server: IngestServer) -> None:
    request = urllib.request.Request(server.url, data=b"[]", method="POST",
                                     headers={"Content-Encoding": "gzip"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    with raised.value as error:
        assert error.code == 400 and "not gzip" in json.loads(error.read())["error"]


def test_empty_array_and_health(server: IngestServer) -> None:
    assert post(server.url, b"[]")[1]["received"] == 0
    with urllib.request.urlopen(server.url.replace("/logs", "/health"), timeout=30) as reply:
        assert json.loads(reply.read())["status"] == "ok"


def test_wrong_path_and_size_limits(server: IngestServer) -> None:
    assert post(server.url.replace("/logs", "/other"), b"[]")[0] == 404
    big = events(*(record(i) for i in range(4_000)))
    assert len(big) > 1 << 20
    code, reply, _ = post(server.url, big, gzipped=False)
    assert code == 413
    bomb = b"[" + b" " * (2 << 20) + b"]"  # small compressed, 2 MiB inflated
    code, reply, _ = post(server.url, bomb)
    assert code == 413 and "decompressed" in reply["error"]


def test_concurrent_senders(server: IngestServer, db_path: Path) -> None:
    def send(worker: int) -> None:
        for batch in range(5):
            base = worker * 1_000 + batch * 20
            status, reply, _ = post(server.url, events(*(record(base + i) for i in range(20))))
            assert status == 200 and reply["stored"] == 20

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stored_ids(db_path)) == 400
    assert server.totals.stored == 400 and server.totals.requests == 20


def test_loopback_only_unless_allowed() -> None:
    assert parse_listen("127.0.0.1:0", allow_remote=False) == ("127.0.0.1", 0)
    assert parse_listen("[::1]:8080", allow_remote=False) == ("::1", 8080)
    with pytest.raises(ValueError, match="not a loopback address"):
        parse_listen("0.0.0.0:8080", allow_remote=False)
    assert parse_listen("0.0.0.0:8080", allow_remote=True) == ("0.0.0.0", 8080)
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_listen("8080", allow_remote=False)


def _start_cli(db_path: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "policy_desktop", "ingest", "--db", str(db_path),
         "--listen", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "listening on http://127.0.0.1:" in line, line + process.communicate()[1]
    url = line.split("listening on ", 1)[1].split(" ", 1)[0]
    return process, url


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_command_stops_gracefully_on_a_signal(db_path: Path, stop: signal.Signals) -> None:
    process, url = _start_cli(db_path)
    try:
        status, reply, _ = post(url, events(*(record(i) for i in range(50))))
        assert (status, reply["stored"]) == (200, 50)
        process.send_signal(stop)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped; 1 requests, 50 events: stored 50" in out
    assert len(stored_ids(db_path)) == 50


def test_a_request_in_progress_is_finished_before_the_stop(db_path: Path) -> None:
    process, url = _start_cli(db_path)
    body = events(*(record(i) for i in range(30)))
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(b"POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: "
                               + str(len(body)).encode() + b"\r\n\r\n" + body[:100])
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert process.poll() is None  # waiting for the request in progress
            connection.sendall(body[100:])
            reply = b""
            while chunk := connection.recv(65536):
                reply += chunk
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert reply.startswith(b"HTTP/1.0 200"), reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["stored"] == 30
    assert process.returncode == 0, err
    assert len(stored_ids(db_path)) == 30


def test_command_refuses_a_remote_address(db_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "policy_desktop", "ingest", "--db",
                           str(db_path), "--listen", "0.0.0.0:0"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "--allow-remote" in done.stderr
