"""EndpointModel: requests, constraint and confidence against a scripted HTTP server.

The real llama-server with the bundled model is exercised in test_serve_model.py (slow).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from policy_desktop.engine.endpoint import (
    EndpointError,
    EndpointModel,
    TokenStep,
    answer_grammar,
    label_confidence,
    label_confidence_by_tokens,
)
from policy_desktop.engine.llm import ANSWER_PRIMER, Cancelled, EngineSettings, render_prompt

BOS = 2
REST = '", "classification": "read", "risk_level": "low", "reasoning": "member may read"}'
OPENING = '", "classification": "'


WORDS = ("allow", "deny", "require", "_", "attestation", "mfa", "low", "medium", "high",
         "critical")
VOCAB = {word: 10 + index for index, word in enumerate(WORDS)}
PIECES = {token: word for word, token in VOCAB.items()}


def fake_tokens(text: str) -> list[int]:
    """A word-level vocabulary for the labels, one token per other character."""
    pattern = "|".join(sorted(map(re.escape, WORDS), key=len, reverse=True)) + "|."
    return [VOCAB.get(piece, 1000 + ord(piece[0])) if len(piece) == 1 or piece in VOCAB
            else 0 for piece in re.findall(pattern, text, re.S)]


def fake_piece(token: int) -> str:
    return PIECES.get(token) or chr(token - 1000)


def fake_id(text: str) -> int:
    tokens = fake_tokens(text)
    return tokens[0] if len(tokens) == 1 else 100_000 + len(text)


def step(text: str, p: float, *alternatives: tuple[str, float]) -> dict[str, Any]:
    return {"id": fake_id(text), "token": text, "logprob": math.log(p),
            "top_logprobs": [{"id": fake_id(t), "token": t, "logprob": math.log(q)}
                             for t, q in ((text, p), *alternatives)]}


class ScriptedServer(ThreadingHTTPServer):
    """Answers like llama-server (``llama=True``) or a plain OpenAI-compatible server."""

    def __init__(self, *, llama: bool, delay: float = 0.0, slot_saving: bool = True) -> None:
        self.llama = llama
        self.delay = delay
        self.slot_saving = slot_saving  # started with --slot-save-path
        self.slot_files: dict[str, list[int]] = {}  # saved file -> the slot's tokens
        self.slot_tokens: dict[int, list[int]] = {}  # what each slot's cache holds
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = 0
        self.disconnected = False
        self.most_in_flight = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, chunks: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()
                time.sleep(self.server.delay)
        except (BrokenPipeError, ConnectionResetError):
            self.server.disconnected = True

    def _slot_action(self, payload: dict[str, Any]) -> None:
        server = self.server
        slot, action = re.fullmatch(r"/slots/(\d+)\?action=(\w+)", self.path).groups()  # type: ignore[union-attr]
        if not server.slot_saving:
            self._send(501, {"error": {"code": 501, "type": "not_supported_error",
                                       "message": "This server does not support slots action. "
                                                  "Start it with `--slot-save-path`"}})
        elif action == "save":
            server.slot_files[payload["filename"]] = server.slot_tokens[int(slot)]
            self._send(200, {"id_slot": int(slot), "filename": payload["filename"]})
        elif payload["filename"] in server.slot_files:
            server.slot_tokens[int(slot)] = server.slot_files[payload["filename"]]
            self._send(200, {"id_slot": int(slot), "filename": payload["filename"]})
        else:
            self._send(400, {"error": {"message": "Unable to restore slot: no such file"}})

    def do_GET(self) -> None:
        if self.path == "/props" and self.server.llama:
            self._send(200, {"default_generation_settings": {"n_ctx": 2048}, "total_slots": 4,
                             "model_path": "/nowhere/tiny.gguf", "model_alias": "tiny",
                             "bos_token": "<bos>", "eos_token": "<eos>", "chat_template": ""})
        elif self.path == "/v1/models" and not self.server.llama:
            self._send(200, {"data": [{"id": "big-model"}]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.requests.append((self.path, payload))
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        time.sleep(server.delay)
        with server.lock:
            server.in_flight -= 1
        if self.path.startswith("/slots/"):
            self._slot_action(payload)
            return
        if self.path == "/completion":
            with server.lock:
                server.slot_tokens[payload.get("id_slot", -1)] = list(payload["prompt"])
        if self.path == "/tokenize":
            ids = ([BOS] if payload["add_special"] else []) + fake_tokens(payload["content"])
            if payload.get("with_pieces"):
                self._send(200, {"tokens": [{"id": t, "piece": fake_piece(t)} for t in ids]})
            else:
                self._send(200, {"tokens": ids})
            return
        if self.path == "/detokenize":
            self._send(200, {"content": "".join(map(fake_piece, payload["tokens"]))})
            return
        if self.path == "/completion":
            user = "".join(fake_piece(t) for t in payload["prompt"] if t != BOS)
        else:
            user = payload["messages"][-1]["content"]
        if "too long" in user:
            self._send(400, {"error": {"message": "the request exceeds the available context "
                                                  "size"}})
        elif self.path == "/completion" and payload["n_predict"] == 0:
            self._send(200, {"content": "", "timings": {"prompt_n": 1, "predicted_n": 0}})
        elif self.path == "/completion" and payload["grammar"].startswith("root ::= <["):
            # a walk along the decision labels' token paths (ids of VOCAB)
            if payload["prompt"][-2:] == [VOCAB["require"], VOCAB["_"]]:
                probabilities = [step("mfa", 0.7, ("attestation", 0.2))]
                timings = {"prompt_n": 2, "prompt_ms": 5.0, "predicted_n": 1,
                           "predicted_ms": 40.0}
            elif "require" in user:
                probabilities = [step("require", 0.6, ("deny", 0.2), ("allow", 0.1))]
                timings = {"prompt_n": 80, "prompt_ms": 200.0, "predicted_n": 1,
                           "predicted_ms": 20.0}
            else:
                label = "deny" if "deny" in user else "allow"
                probabilities = [step(label, 0.6, ("deny" if label == "allow" else "allow", 0.2),
                                      ("require", 0.1), (label[:3], 0.05), ("Hello", 0.01))]
                timings = {"prompt_n": 80, "prompt_ms": 200.0, "predicted_n": 1,
                           "predicted_ms": 20.0}
            self._send(200, {"content": "".join(p["token"] for p in probabilities),
                             "completion_probabilities": probabilities, "timings": timings})
        elif self.path == "/completion":
            if not user.endswith(OPENING):  # the skeleton's next opening is prompt text
                self._send(400, {"error": {"message": "no skeleton opening"}})
                return
            rest = REST[len(OPENING):]
            totals = {"tokens_evaluated": len(payload["prompt"]), "tokens_predicted": 30,
                      "timings": {"prompt_n": 8, "prompt_ms": 30.0, "predicted_n": 30,
                                  "predicted_ms": 600.0}}
            if payload.get("stream"):
                self._stream([*({"content": piece} for piece in re.findall(r"\s*\S+", rest)),
                              {"content": "", "stop": True, **totals}])
            else:
                self._send(200, {"content": rest, **totals})
        else:
            tokens = [step('{"', 0.99), step("decision", 0.99), step('":', 0.99),
                      step(' "', 0.99),
                      step("require", 0.5, ("deny", 0.3), ("allow", 0.1)),
                      step("_", 0.9, ("-", 0.05)),
                      step("m", 0.7, ("att", 0.2)), step("fa", 0.99)]
            content = '{"decision": "require_mfa' + REST
            self._send(200, {"choices": [{"message": {"role": "assistant", "content": content},
                                          "logprobs": {"content": tokens}}],
                             "usage": {"prompt_tokens": 150, "completion_tokens": 40}})


@contextlib.contextmanager
def serving(server: ScriptedServer) -> Iterator[ScriptedServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def llama_server() -> Iterator[ScriptedServer]:
    with serving(ScriptedServer(llama=True)) as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[ScriptedServer]:
    with serving(ScriptedServer(llama=False)) as server:
        yield server


def test_llama_server_gets_the_in_process_prompt_and_the_skeleton_grammar(
        llama_server: ScriptedServer) -> None:
    engine = EndpointModel(llama_server.url + "/v1/", EngineSettings(max_tokens=99, seed=7))
    assert engine.info.api == "completion"
    assert (engine.info.name, engine.info.slots, engine.settings.n_ctx) == ("tiny", 4, 2048)
    heard: list[str] = []
    before = len(llama_server.requests)
    answer = engine.decide("SYSTEM", "USER allow", on_text=heard.append)
    sent = [(path, p) for path, p in llama_server.requests[before:] if path == "/completion"]
    (_, system), (_, walk), (_, other), (_, rest) = sent
    rendered = render_prompt("SYSTEM", "USER allow")
    assert rendered.shared == "SYSTEM\n\n" and rendered.own.endswith(ANSWER_PRIMER)
    # two parts tokenised apart (BOS before the system part), as PolicyModel does
    prompt = [BOS, *fake_tokens(rendered.shared), *fake_tokens(rendered.own)]
    shared = [BOS, *fake_tokens(rendered.shared)]
    prompt_requests = [p for path, p in llama_server.requests
                       if path == "/tokenize" and not p.get("with_pieces")]
    assert prompt_requests == [
        {"content": rendered.shared, "add_special": True, "parse_special": False},
        {"content": rendered.own, "add_special": False, "parse_special": False}]
    # the system part evaluated on its own first (once per slot), then every step on that
    # slot from its cache
    assert (system["prompt"], system["n_predict"]) == (shared, 0)
    assert {r["id_slot"] for r in (system, walk, other, rest)} == {walk["id_slot"]}
    assert all(r["cache_prompt"] is True for r in (system, walk, other, rest))
    # the decision: the labels' exact token paths, top log-probabilities only there
    assert engine.label_tokens["decision"] == ((10,), (11,), (12, 13, 14), (12, 13, 15))
    # one token at each branching point, the labels' next tokens only
    assert walk["prompt"] == prompt and walk["n_predict"] == 1 and walk["n_probs"] > 0
    assert walk["grammar"] == "root ::= <[10]> | <[11]> | <[12]>\n"
    # the shared prefix "require _" the answer did not take is scored for the confidence,
    # sent as prompt tokens (one batch, as the in-process engine evaluates it)
    assert other["prompt"] == [*prompt, 12, 13] and other["n_probs"] > 0
    assert other["grammar"] == "root ::= <[14]> | <[15]>\n" and other["n_predict"] == 1
    # the rest: the chosen label's tokens and the next opening as prompt, the grammar of
    # the fields after it, no n_probs (llama-server sorts the whole vocabulary for them)
    opening = fake_tokens(OPENING)
    assert rest["prompt"] == [*prompt, 10, *opening] and "n_probs" not in rest
    assert rest["grammar"] == answer_grammar(label_tokens=engine.label_tokens, start=1)
    assert rest["grammar"].startswith("root ::= classification ")
    assert "risk-level ::= <[16]> | <[17]> | <[18]> | <[19]>" in rest["grammar"]
    assert (rest["n_predict"], rest["seed"], rest["temperature"]) == (99 - 1 - len(opening), 7,
                                                                     0.0)
    assert (answer.decision, answer.risk_level, answer.reasoning) == (
        "allow", "low", "member may read")
    assert answer.full_response == ANSWER_PRIMER + "allow" + REST == "".join(heard)
    # only the labels' own tokens count ("all", "Hello" do not):
    # allow 0.6, deny 0.2, require 0.1 x (0.2 + 0.7) ("_" inside the batch: certain)
    assert answer.confidence == pytest.approx(0.6 / (0.6 + 0.2 + 0.1 * 0.9))
    assert (answer.prompt_tokens, answer.evaluated_tokens, answer.generated_tokens) == (
        len(prompt), 80 + 2 + 8, 1 + len(opening) + 30)
    assert (answer.prefill_seconds, answer.decode_seconds) == pytest.approx((0.235, 0.66))
    before = len(llama_server.requests)
    denied = engine.decide("SYSTEM", "USER deny")
    (_, own), (_, cut), *steps = llama_server.requests[before:]  # system tokens kept
    # "USER " is shared with the last prompt: the cache is cut back to the system part by
    # overwriting the position after it (not to the system part itself: the server would
    # evaluate its last token again, alone), so the user part is evaluated from there
    assert own["content"] == "USER deny" + ANSWER_PRIMER and len(steps) == 3
    assert cut["prompt"][:-1] == shared and cut["n_predict"] == 0
    assert cut["prompt"][-1] != fake_tokens("USER")[0]
    assert all(p["n_predict"] > 0 for _, p in steps)
    assert steps[-1][1]["prompt"][-len(opening) - 1] == 11
    assert denied.decision == "deny"
    assert denied.confidence == pytest.approx(0.6 / (0.6 + 0.2 + 0.1 * 0.9))


def test_a_label_behind_a_shared_prefix_is_chosen_after_the_prefix_in_one_batch(
        llama_server: ScriptedServer) -> None:
    engine = EndpointModel(llama_server.url)
    before = len(llama_server.requests)
    answer = engine.decide("S", "please require it")
    sent = [p for path, p in llama_server.requests[before:] if path == "/completion"]
    _system, first, after_prefix, rest = sent
    assert first["grammar"] == "root ::= <[10]> | <[11]> | <[12]>\n"
    # "require" "_" sent together, then the choice between the two labels behind them
    assert after_prefix["prompt"] == [*first["prompt"], 12, 13]
    assert after_prefix["grammar"] == "root ::= <[14]> | <[15]>\n"
    assert rest["prompt"] == [*first["prompt"], 12, 13, 15, *fake_tokens(OPENING)]
    assert answer.decision == "require_mfa"
    assert answer.full_response == ANSWER_PRIMER + "require_mfa" + REST
    mine = 0.6 * 0.7
    assert answer.confidence == pytest.approx(mine / (0.6 * 0.9 + 0.2 + 0.1))


def test_the_same_prompt_again_on_a_slot_is_not_evaluated_from_its_last_token(
        llama_server: ScriptedServer) -> None:
    engine = EndpointModel(llama_server.url)
    first = engine.decide("SYSTEM", "USER allow")
    engine.decide("SYSTEM", "USER allow")  # a repeat already
    before = len(llama_server.requests)
    again = engine.decide("SYSTEM", "USER allow")
    sent = [p for path, p in llama_server.requests[before:] if path == "/completion"]
    shared = [BOS, *fake_tokens(render_prompt("SYSTEM", "USER allow").shared)]
    # one token after the system part overwritten, so the whole user part is evaluated
    overwrite, walk = sent[0], sent[1]
    assert overwrite["n_predict"] == 0 and overwrite["prompt"][:-1] == shared
    assert overwrite["prompt"][-1] != walk["prompt"][len(shared)]
    assert overwrite["id_slot"] == walk["id_slot"]
    assert len(sent) == 4 and again.full_response == first.full_response
    # on another thread that gets the same slot (4 slots: the 5th thread is slot 0's)
    threads = [threading.Thread(target=engine.decide, args=("SYSTEM", f"USER {n}"))
               for n in range(3)]  # slots 1-3, each evaluating the system part first
    for thread in threads:
        thread.start()
        thread.join()
    before = len(llama_server.requests)
    later = threading.Thread(target=engine.decide, args=("SYSTEM", "USER allow"))
    later.start()
    later.join()
    assert next(p["n_predict"] for path, p in llama_server.requests[before:]
                if path == "/completion") == 0
    before = len(llama_server.requests)
    engine.decide("SYSTEM", "deny")  # nothing shared after the system part: no cut
    assert all(p["n_predict"] > 0 for path, p in llama_server.requests[before:]
               if path == "/completion")


def test_openai_server_gets_the_json_schema_and_logprobs(openai_server: ScriptedServer) -> None:
    engine = EndpointModel(openai_server.url)
    assert (engine.info.api, engine.info.name, engine.info.path) == (
        "chat", "big-model", openai_server.url)
    answer = engine.decide("SYSTEM", "USER")
    path, payload = openai_server.requests[-1]
    assert path == "/v1/chat/completions"
    assert payload["messages"] == [{"role": "system", "content": "SYSTEM"},
                                   {"role": "user", "content": "USER"}]
    schema = payload["response_format"]["json_schema"]["schema"]
    assert payload["response_format"]["type"] == "json_schema"
    assert schema["properties"]["decision"]["enum"] == [
        "allow", "deny", "require_attestation", "require_mfa"]
    assert payload["logprobs"] is True and payload["top_logprobs"] > 0
    assert answer.decision == "require_mfa"
    mine = 0.5 * 0.9 * 0.7
    assert answer.confidence == pytest.approx(mine / (mine + 0.3 + 0.1 + 0.5 * 0.9 * 0.2))


def test_no_confidence_asked_for_when_off(llama_server: ScriptedServer) -> None:
    engine = EndpointModel(llama_server.url, EngineSettings(compute_confidence=False))
    answer = engine.decide("S", "U")
    assert answer.confidence is None and "n_probs" not in llama_server.requests[-1][1]


def test_decide_many_sends_in_parallel_and_keeps_the_order() -> None:
    with serving(ScriptedServer(llama=True, delay=0.3)) as running:
        engine = EndpointModel(running.url)
        prompts = [("S", "deny" if i % 2 else "allow") for i in range(8)]
        before = len(running.requests)
        started = time.perf_counter()
        answers = engine.decide_many(prompts, parallel=4)
        elapsed = time.perf_counter() - started
        assert [a.decision for a in answers] == ["allow", "deny"] * 4
        assert running.most_in_flight == 4
        # one after the other the requests would take this long; 4 at a time, a quarter
        assert elapsed < (len(running.requests) - before) * 0.3 / 2


def test_streamed_answer_is_heard_piece_by_piece(llama_server: ScriptedServer) -> None:
    engine = EndpointModel(llama_server.url)
    plain = engine.decide("S", "U")
    pieces: list[str] = []
    streamed = engine.decide("S", "U", on_text=pieces.append)
    assert llama_server.requests[-1][1]["stream"] is True
    assert len(pieces) > 5 and "".join(pieces) == streamed.full_response == plain.full_response
    assert (streamed.decision, streamed.confidence, streamed.generated_tokens) == (
        plain.decision, plain.confidence, plain.generated_tokens)


def test_stop_while_streaming_closes_the_request() -> None:
    with serving(ScriptedServer(llama=True, delay=0.05)) as running:
        engine = EndpointModel(running.url)
        pieces: list[str] = []
        with pytest.raises(Cancelled):
            engine.decide("S", "U", on_text=pieces.append, should_stop=lambda: len(pieces) >= 3)
        deadline = time.monotonic() + 10
        while not running.disconnected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.disconnected
        assert len(pieces) == 3


def test_stop_before_the_request_and_errors(llama_server: ScriptedServer) -> None:
    engine = EndpointModel(llama_server.url)
    before = len(llama_server.requests)
    with pytest.raises(Cancelled):
        engine.decide("S", "U", should_stop=lambda: True)
    assert len(llama_server.requests) == before
    from policy_desktop.engine.llm import PromptTooLong

    with pytest.raises(PromptTooLong, match="context"):
        engine.decide("S", "too long")


def test_unreachable_server() -> None:
    with pytest.raises(EndpointError, match="cannot connect"):
        EndpointModel("http://127.0.0.1:9", timeout=5)


def test_label_confidence_by_tokens_by_hand() -> None:
    paths = {"allow": (10,), "deny": (11,), "require_attestation": (12, 13, 14),
             "require_mfa": (12, 13, 15)}

    def at(token: int, p: float, *others: tuple[int, float]) -> TokenStep:
        return TokenStep("", math.log(p), (), token,
                         tuple((t, math.log(q)) for t, q in ((token, p), *others)))

    mfa = [at(12, 0.5, (11, 0.3), (10, 0.1), (99, 0.05)), at(13, 0.9), at(15, 0.7, (14, 0.2))]
    mine = 0.5 * 0.9 * 0.7
    assert label_confidence_by_tokens(mfa, paths) == pytest.approx(
        mine / (mine + 0.3 + 0.1 + 0.5 * 0.9 * 0.2))
    # a shared prefix not taken counts as certain after its first token
    assert label_confidence_by_tokens([at(11, 0.6, (12, 0.3), (10, 0.1))], paths) == (
        pytest.approx(0.6 / 1.0))
    assert label_confidence_by_tokens([at(99, 0.9)], paths) is None


def test_label_confidence_by_hand() -> None:
    allow = [TokenStep("allow", math.log(0.7), (("allow", math.log(0.7)),
                                                 ("deny", math.log(0.1)),
                                                 ("require", math.log(0.2))))]
    assert label_confidence(allow, 0) == pytest.approx(0.7 / 1.0)
    # a token that holds the opening quote and the label's start; "de already decides
    split = [TokenStep(' "de', math.log(0.4), ((' "de', math.log(0.4)), (' "al', math.log(0.4)),
                                                (' "re', math.log(0.1)), (" {", math.log(0.1)))),
             TokenStep("ny", math.log(0.5), (("ny", math.log(0.5)),))]
    assert label_confidence(split, 2) == pytest.approx(0.4 / (0.4 + 0.4 + 0.1))
    assert label_confidence([TokenStep("maybe", 0.0, ())], 0) is None


def _shared_prompt(system: str) -> list[int]:
    return [BOS, *fake_tokens(render_prompt(system, "USER").shared)]


def test_the_shared_part_is_evaluated_once_and_restored_into_the_other_slots(
        llama_server: ScriptedServer) -> None:
    engine = EndpointModel(llama_server.url)  # 4 slots
    answers = engine.decide_many([("SYSTEM", f"USER allow {n}") for n in range(4)], parallel=4)
    assert [a.decision for a in answers] == ["allow"] * 4
    shared = _shared_prompt("SYSTEM")
    evaluated = [p for path, p in llama_server.requests
                 if path == "/completion" and p["prompt"] == shared]
    actions = [(path, p["filename"]) for path, p in llama_server.requests
               if path.startswith("/slots/")]
    assert len(evaluated) == 1 and evaluated[0]["n_predict"] == 0
    saved_slot = evaluated[0]["id_slot"]
    name = engine.prefixes.filename(shared)
    assert actions[0] == (f"/slots/{saved_slot}?action=save", name)
    assert sorted(actions[1:]) == sorted((f"/slots/{slot}?action=restore", name)
                                         for slot in {0, 1, 2, 3} - {saved_slot})
    assert (engine.prefixes.counts.evaluated, engine.prefixes.counts.restored) == (1, 3)
    # another system part is a prefix of its own (file name of model and tokens)
    engine.decide("OTHER", "USER allow")
    assert engine.prefixes.filename(_shared_prompt("OTHER")) != name
    assert engine.prefixes.counts.evaluated == 2


def test_a_server_without_slot_saving_evaluates_the_shared_part_in_every_slot() -> None:
    with serving(ScriptedServer(llama=True, slot_saving=False)) as server:
        engine = EndpointModel(server.url)
        answers = engine.decide_many([("SYSTEM", f"USER deny {n}") for n in range(4)],
                                     parallel=4)
        shared = _shared_prompt("SYSTEM")
        evaluated = {p["id_slot"] for path, p in server.requests
                     if path == "/completion" and p["prompt"] == shared}
        saves = [path for path, _ in server.requests if path.startswith("/slots/")]
    assert [a.decision for a in answers] == ["deny"] * 4
    assert evaluated == {0, 1, 2, 3}
    assert len(saves) == 1  # asked once; refused (501), never again
    assert (engine.prefixes.counts.evaluated, engine.prefixes.counts.restored) == (4, 0)
    assert "not support slots" in engine.prefixes.counts.failures[0]


def test_a_restore_that_fails_evaluates_the_shared_part_and_saves_it_again(
        llama_server: ScriptedServer) -> None:
    engine = EndpointModel(llama_server.url)
    shared = _shared_prompt("SYSTEM")
    engine.prefixes.prime(0, shared)
    llama_server.slot_files.clear()  # e.g. the server restarted with a new folder
    engine.prefixes.prime(1, shared)
    assert [path for path, _ in llama_server.requests if path.startswith("/slots/")] == [
        "/slots/0?action=save", "/slots/1?action=restore", "/slots/1?action=save"]
    assert llama_server.slot_tokens[1] == shared
    engine.prefixes.prime(2, shared)
    assert (engine.prefixes.counts.evaluated, engine.prefixes.counts.restored) == (2, 1)
    assert llama_server.slot_tokens[2] == shared
