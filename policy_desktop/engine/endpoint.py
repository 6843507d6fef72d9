"""An engine that answers through an OpenAI-compatible server (llama.cpp's ``llama-server``,
vLLM, ...) instead of a model in this process; the same duck type as
:class:`~policy_desktop.engine.llm.PolicyModel` for the runner.

Two ways to ask, chosen on connecting (``api="auto"``):

``completion`` (llama-server, detected by its ``GET /props``)
    Exactly the prompt tokens :class:`PolicyModel` evaluates (the same rendering, ending in
    the primer ``{"decision": "``, tokenised in the same two parts by the server's
    ``/tokenize``; the system part's tokens are kept), every request of an answer on one
    slot with ``cache_prompt`` (only the new tokens are evaluated). The system part is
    evaluated once per server and restored into the other slots
    (:mod:`~policy_desktop.engine.slot_prefixes`); the user part is evaluated from the
    system part's end, as in-process, so one slot gives the in-process logits:

    1. the decision is walked along the labels' token paths as the in-process engine
       chooses it (``POST /completion`` of a few tokens under a token-id grammar of the
       labels, greedy: the best of the labels' next tokens) with ``n_probs`` there only;
       a shared prefix the answer did not take (``require``) is scored in one more such
       request, so the ``confidence`` is the in-process engine's computation;
    2. the chosen label's tokens and the next skeleton opening are sent as prompt tokens
       (as the in-process engine forces them), and the rest of the answer is generated
       under a GBNF grammar of the rest of
       :data:`~policy_desktop.engine.answer_parsing.ANSWER_SCHEMA`'s skeleton, without
       ``n_probs``: llama-server computes them by a softmax and sort of the whole
       vocabulary (262k tokens for Gemma 3) at every position, on its one sampling
       thread, which halved the rate of one slot and serialised the slots.

    When the labels have no distinct token paths the whole answer is one request under
    the grammar with ``n_probs`` at every position (the confidence as below).
``chat`` (any OpenAI-compatible server)
    ``POST /v1/chat/completions`` with ``[system, user]`` messages and
    ``response_format: {"type": "json_schema", ...}`` of the answer schema.

Without label paths, the top ``top_logprobs`` token log-probabilities (before the
constraint, llama-server's default) are asked for at every position. The ``confidence`` is
the chosen decision's probability normalised over the four labels, as the in-process engine
computes it: a label's probability is the product of its tokens' probabilities up to the
token that sets it apart, read at the positions of the chosen label; there, for a prefix the
answer did not go down the tokens after it are taken as certain. A label token beyond the
top alternatives counts as negligible.

Standard library only (``urllib``, threads): no new dependency. ``decide_many`` sends
``parallel`` requests at once, which llama-server decodes in its ``-np`` slots together.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from policy_desktop.engine.answer_parsing import ANSWER_SCHEMA, parse_answer
from policy_desktop.engine.gguf import ModelFileError, read_model_info
from policy_desktop.engine.llm import (
    ANSWER_PRIMER,
    Cancelled,
    EngineSettings,
    ModelAnswer,
    PromptText,
    PromptTooLong,
    answer_skeleton,
    render_prompt,
)
from policy_desktop.engine.slot_prefixes import SlotPrefixes
from policy_desktop.vocabulary import DECISIONS

__all__ = ["EndpointError", "EndpointInfo", "EndpointModel", "LabelPaths", "TokenStep",
           "answer_grammar", "label_confidence", "label_confidence_by_tokens"]

DEFAULT_TOP_LOGPROBS = 10
_MISSING_LOGPROB = -50.0
"""A chosen token's log-probability when the server left it out (far below the top list)."""


class EndpointError(RuntimeError):
    """The server cannot be reached or did not answer as expected."""


@dataclass(frozen=True)
class EndpointInfo:
    """What the runner logs about the model (the fields of :class:`ModelInfo` it reads).

    ``path`` is the model file when the server runs on this machine and says which one,
    else the server's URL.
    """

    name: str
    quantization: str
    path: Path | str
    url: str
    api: str
    chat_template: str | None = None
    slots: int | None = None
    slot_context: int | None = None


@dataclass(frozen=True)
class TokenStep:
    """One generated token with the server's top alternatives at its position."""

    text: str
    logprob: float
    alternatives: tuple[tuple[str, float], ...]
    token_id: int | None = None
    alternative_ids: tuple[tuple[int, float], ...] = ()


# --- the constraint ---------------------------------------------------------------------


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_STRING_CONTENT = r'( [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] ) )*'  # noqa: E501


LabelPaths = dict[str, tuple[tuple[int, ...], ...]]
"""Per enum field, each label's tokens as the in-process engine writes them (same order)."""


def answer_grammar(schema: dict[str, Any] = ANSWER_SCHEMA,
                   label_tokens: LabelPaths | None = None, *, start: int = 0) -> str:
    """GBNF of an answer after the primer: the schema's skeleton, as the in-process engine
    writes it (``allow", "classification": "...", "risk_level": "low", "reasoning": "..."}``).

    With ``label_tokens`` an enum value must be written as exactly those tokens
    (``<[id]>``), as the in-process engine chooses it; otherwise as any tokens that spell
    it, which lets the model reach a label through an unusual split of its text.
    With ``start`` the grammar begins at that field's value (its opening is in the prompt).
    """
    fields = answer_skeleton(schema)[start:]
    parts: list[str] = []
    rules: list[str] = []
    for index, skeleton_field in enumerate(fields):
        if index > 0:
            parts.append(_gbnf_literal(skeleton_field.opening))
        rule = skeleton_field.name.replace("_", "-")
        parts.append(rule)
        paths = (label_tokens or {}).get(skeleton_field.name)
        if skeleton_field.labels is not None and paths:
            body = " | ".join(" ".join(f"<[{token}]>" for token in path) for path in paths)
        elif skeleton_field.labels is not None:
            body = " | ".join(_gbnf_literal(label) for label in skeleton_field.labels)
        else:
            body = _STRING_CONTENT
        rules.append(f"{rule} ::= {body}")
    parts.append(_gbnf_literal('"}'))
    return "\n".join([f"root ::= {' '.join(parts)}", *rules]) + "\n"


def _response_format() -> dict[str, Any]:
    return {"type": "json_schema",
            "json_schema": {"name": "policy_answer", "strict": True, "schema": ANSWER_SCHEMA}}


# --- confidence from top log-probabilities --------------------------------------------


def _consistent(value: str, label: str) -> bool:
    """``value`` (the text of a string value so far) can be, or has become, ``label``."""
    target = label + '"'
    size = min(len(value), len(target))
    return size > 0 and value[:size] == target[:size]


def label_confidence(steps: Sequence[TokenStep], value_start: int,
                     labels: Sequence[str] = DECISIONS) -> float | None:
    """The chosen label's probability normalised over ``labels`` (see the module docstring).

    ``steps`` are the generated tokens; the label's text starts at character
    ``value_start`` of their concatenation. None when no label was written there.
    """
    offset = 0
    value = ""
    chosen_logprob = 0.0
    others: dict[tuple[str, ...], float] = {}
    chosen: str | None = None
    for step in steps:
        start, offset = offset, offset + len(step.text)
        if offset <= value_start:
            continue
        lead = step.text[:max(0, value_start - start)]
        for text, logprob in step.alternatives:
            if text == step.text or not text.startswith(lead):
                continue
            group = tuple(label for label in labels
                          if _consistent(value + text[len(lead):], label))
            if group:
                others[group] = others.get(group, 0.0) + math.exp(chosen_logprob + logprob)
        chosen_logprob += step.logprob
        value += step.text[len(lead):]
        candidates = [label for label in labels if _consistent(value, label)]
        if len(candidates) <= 1:
            chosen = candidates[0] if candidates else None
            break
    if chosen is None:
        return None
    mine = math.exp(chosen_logprob)
    rest = sum(mass for group, mass in others.items() if chosen not in group)
    return mine / (mine + rest) if mine + rest > 0 else None


def label_confidence_by_tokens(steps: Sequence[TokenStep],
                               paths: dict[str, tuple[int, ...]]) -> float | None:
    """The chosen label's probability normalised over the labels' token ``paths``, from
    ``steps`` starting at the label's first token: the in-process engine's computation,
    with the tokens after a shared prefix the answer did not take counted as certain."""
    prefix: tuple[int, ...] = ()
    chosen_logprob = 0.0
    others = 0.0
    for step in steps:
        groups: dict[int, list[str]] = {}
        for label, path in paths.items():
            if len(path) > len(prefix) and path[:len(prefix)] == prefix:
                groups.setdefault(path[len(prefix)], []).append(label)
        if step.token_id not in groups:
            return None
        logprobs = dict(step.alternative_ids)
        for token in groups:
            if token != step.token_id and token in logprobs:  # beyond the top: negligible
                others += math.exp(chosen_logprob + logprobs[token])
        chosen_logprob += step.logprob
        prefix = (*prefix, step.token_id)
        if len(groups[step.token_id]) == 1:
            mine = math.exp(chosen_logprob)
            return mine / (mine + others)
    return None


def _steps_from_completion(probabilities: list[dict[str, Any]]) -> list[TokenStep]:
    """llama-server's ``completion_probabilities`` (current and pre-2025 shapes)."""
    steps = []
    for entry in probabilities:
        if "top_logprobs" in entry:
            top = tuple((str(t.get("token", "")), _logprob(t.get("logprob")))
                        for t in entry["top_logprobs"])
            ids = tuple((int(t["id"]), _logprob(t.get("logprob")))
                        for t in entry["top_logprobs"] if isinstance(t.get("id"), int))
            own_id = entry.get("id")
            steps.append(TokenStep(str(entry.get("token", "")), _logprob(entry.get("logprob")),
                                   top, own_id if isinstance(own_id, int) else None, ids))
        else:  # {"content": ..., "probs": [{"tok_str", "prob"}]}
            top = tuple((str(t.get("tok_str", "")), _log(t.get("prob")))
                        for t in entry.get("probs", []))
            text = str(entry.get("content", ""))
            own = next((lp for t, lp in top if t == text), _MISSING_LOGPROB)
            steps.append(TokenStep(text, own, top))
    return steps


def _steps_from_chat(logprobs: dict[str, Any] | None) -> list[TokenStep]:
    """OpenAI's ``choices[0].logprobs.content``."""
    steps = []
    for entry in (logprobs or {}).get("content") or []:
        top = tuple((str(t.get("token", "")), _logprob(t.get("logprob")))
                    for t in entry.get("top_logprobs") or [])
        steps.append(TokenStep(str(entry.get("token", "")), _logprob(entry.get("logprob")), top))
    return steps


def _logprob(value: Any) -> float:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return _MISSING_LOGPROB


def _log(probability: Any) -> float:
    if isinstance(probability, int | float) and probability > 0:
        return math.log(probability)
    return _MISSING_LOGPROB


def _decision_value_start(text: str) -> int | None:
    """Where the decision's value starts in a JSON answer written by the model itself."""
    match = re.search(r'"decision"\s*:\s*"', text)
    return match.end() if match else None


def _children(paths: Sequence[tuple[int, ...]], prefix: tuple[int, ...]) -> dict[int, list[int]]:
    """Next token -> indices of the label paths continuing ``prefix`` with it."""
    groups: dict[int, list[int]] = {}
    for index, path in enumerate(paths):
        if len(path) > len(prefix) and path[:len(prefix)] == prefix:
            groups.setdefault(path[len(prefix)], []).append(index)
    return groups


def _shared_chain(paths: Sequence[tuple[int, ...]], prefix: tuple[int, ...]
                  ) -> tuple[int, ...]:
    """``prefix`` extended while one next token is shared by several labels."""
    while True:
        groups = _children(paths, prefix)
        if len(groups) != 1:
            return prefix
        ((token, members),) = groups.items()
        if len(members) < 2:
            return prefix
        prefix = (*prefix, token)


class _Totals:
    """Tokens and milliseconds of the requests of one answer."""

    def __init__(self) -> None:
        self.evaluated = 0
        self.predicted = 0
        self.prompt_ms = 0.0
        self.predicted_ms = 0.0

    def add(self, data: dict[str, Any]) -> None:
        timings = data.get("timings") or {}
        self.evaluated += int(timings.get("prompt_n") or 0)
        self.predicted += int(timings.get("predicted_n") or data.get("tokens_predicted") or 0)
        self.prompt_ms += float(timings.get("prompt_ms") or 0.0)
        self.predicted_ms += float(timings.get("predicted_ms") or 0.0)

    def timings(self) -> dict[str, Any]:
        return {"prompt_ms": self.prompt_ms, "predicted_ms": self.predicted_ms}


# --- the engine -------------------------------------------------------------------------


class EndpointModel:
    """Answers policy prompts through an OpenAI-compatible server.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8080`` (a trailing ``/v1`` is accepted).
        settings: per-call settings read from :class:`EngineSettings`: ``temperature``,
            ``max_tokens``, ``seed``, ``compute_confidence`` (the others describe the
            server's model and are filled in from it when known).
        api: ``"completion"`` (llama-server), ``"chat"`` (OpenAI-compatible) or ``"auto"``.
        model: the model name sent to a multi-model server (``chat``; default: its first).
        timeout: seconds one request may take.
        top_logprobs: alternatives asked for at each position (for the confidence).

    Raises:
        EndpointError: the server cannot be reached or is not OpenAI-compatible.

    Thread-safe: ``decide`` may run on several threads at once (``decide_many`` does).
    """

    def __init__(self, url: str, settings: EngineSettings | None = None, *, api: str = "auto",
                 model: str | None = None, timeout: float = 300.0,
                 top_logprobs: int = DEFAULT_TOP_LOGPROBS) -> None:
        if api not in ("auto", "completion", "chat"):
            raise ValueError(f"api must be auto, completion or chat, not {api!r}")
        started = time.perf_counter()
        self.url = url.rstrip("/").removesuffix("/v1")
        self.timeout = timeout
        self.top_logprobs = top_logprobs
        self._model = model
        props = self._get_json("/props", optional=True)
        if api == "auto":
            api = "completion" if props is not None and "default_generation_settings" in props \
                else "chat"
        self.info = self._describe(props, api)
        slot_ctx = self.info.slot_context
        base = settings or EngineSettings()
        self.settings = replace(
            base, model_path=self.info.path if isinstance(self.info.path, Path) else None,
            n_ctx=int(slot_ctx) if slot_ctx else base.n_ctx)
        self._bos = str(props.get("bos_token") or "") if props else ""
        self._eos = str(props.get("eos_token") or "") if props else ""
        self._shared_tokens: dict[str, list[int]] = {}
        self._local = threading.local()
        self._slot_lock = threading.Lock()
        self._next_slot = 0
        self._slot_prompts: dict[int, list[int]] = {}
        self.prefixes = SlotPrefixes(self._post_json, f"{self.info.name}|{self.info.path}",
                                     (EndpointError,))
        self.label_tokens: LabelPaths = (
            self._label_token_paths() if api == "completion" else {})
        self._grammar = answer_grammar(label_tokens=self.label_tokens)
        self._rest_grammar = answer_grammar(label_tokens=self.label_tokens, start=1)
        self._openings: list[list[int]] = (
            [self._fragment_tokens(f.opening) for f in answer_skeleton()]
            if api == "completion" else [])
        self.load_seconds = time.perf_counter() - started

    # --- connecting ---

    def _describe(self, props: dict[str, Any] | None, api: str) -> EndpointInfo:
        if props is not None:
            path_text = str(props.get("model_path") or "")
            slots = props.get("total_slots")
            slot_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
            template = props.get("chat_template") or None
            if path_text and Path(path_text).is_file():
                try:
                    local = read_model_info(Path(path_text))
                except ModelFileError:
                    local = None
                if local is not None:
                    return EndpointInfo(local.name, local.quantization, local.path, self.url,
                                        api, local.chat_template, slots, slot_ctx)
            name = str(props.get("model_alias") or Path(path_text).stem or "llama-server")
            return EndpointInfo(name, "unknown", self.url, self.url, api, template, slots,
                                slot_ctx)
        models = self._get_json("/v1/models", optional=False) or {}
        ids = [str(m.get("id")) for m in models.get("data") or [] if m.get("id")]
        if self._model is None and not ids:
            raise EndpointError(f"{self.url}: the server lists no model (GET /v1/models)")
        name = self._model or ids[0]
        return EndpointInfo(name, "unknown", self.url, self.url, api)

    def _get_json(self, path: str, *, optional: bool) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=min(self.timeout, 30)) as reply:
                data = json.loads(reply.read())
        except urllib.error.HTTPError as error:
            error.close()
            if optional:
                return None
            raise EndpointError(f"{self.url}{path}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise EndpointError(f"{self.url}: cannot connect ({reason})") from None
        except ValueError:
            if optional:
                return None
            raise EndpointError(f"{self.url}{path}: the answer is not JSON") from None
        return data if isinstance(data, dict) else None

    def _post_json(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(payload).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                data = json.loads(reply.read())
        except urllib.error.HTTPError as error:
            with error:
                detail = error.read()[:500].decode("utf-8", "replace")
            if error.code == 400 and "context" in detail.lower():
                raise PromptTooLong(f"{self.url}: {detail}") from None
            raise EndpointError(f"{self.url}{path}: HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise EndpointError(f"{self.url}{path}: {reason}") from None
        except ValueError:
            raise EndpointError(f"{self.url}{path}: the answer is not JSON") from None
        if not isinstance(data, dict):
            raise EndpointError(f"{self.url}{path}: unexpected answer {str(data)[:200]}")
        return data

    # --- answering ---

    def decide(self, system: str, user: str, *, on_text: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> ModelAnswer:
        """Answer one prompt with a schema-valid JSON object (one request).

        With llama-server, when ``on_text`` or ``should_stop`` is given the answer is
        streamed: ``on_text`` hears it piece by piece and ``should_stop`` is polled
        between pieces (closing the connection stops the server's slot). Otherwise, and
        with other servers, ``should_stop`` is checked before the request and ``on_text``
        hears the whole answer. ``on_progress`` hears ``(prompt tokens, prompt tokens)``
        once the answer is back.

        Raises:
            Cancelled: ``should_stop`` returned True.
            PromptTooLong: the server says the prompt does not fit its context.
            EndpointError: the server failed.
        """
        if should_stop is not None and should_stop():
            raise Cancelled("stopped by request")
        started = time.perf_counter()
        if self.info.api == "completion":
            answer = self._complete(system, user, started, on_text, should_stop)
        else:
            answer = self._chat(system, user, started)
            if on_text is not None:
                on_text(answer.full_response)
        if on_progress is not None:
            on_progress(answer.prompt_tokens, answer.prompt_tokens)
        return answer

    def decide_many(self, prompts: Sequence[tuple[str, str]], *,
                    parallel: int = 4) -> list[ModelAnswer]:
        """Answer ``(system, user)`` prompts, ``parallel`` requests at a time, in order."""
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="endpoint") as pool:
            return list(pool.map(lambda prompt: self.decide(*prompt), prompts))

    def _complete(self, system: str, user: str, started: float,
                  on_text: Callable[[str], None] | None,
                  should_stop: Callable[[], bool] | None) -> ModelAnswer:
        prompt = render_prompt(system, user, self.info.chat_template, bos_token=self._bos,
                               eos_token=self._eos)
        settings = self.settings
        tokens = self._prompt_tokens(prompt)
        slot = self._slot()
        # As the in-process engine, the system part is evaluated on its own (once per slot)
        # and the user part after it, from the system part's end, in batches. llama-server
        # would reuse whatever its cache shares with the new prompt (the "## Situation"
        # header of the last one, or all of it) and evaluate only the rest, in other
        # batches: the logits then differ in the low bits (a prompt held whole has its
        # last token evaluated again, alone: up to 0.04 in a log-probability) and near-ties
        # flip. So the cache is cut back to the system part first, with a one-token
        # request that overwrites the position after it (the cache is never cut to the
        # system part itself, which would be "held whole").
        shared = len(self._shared_tokens.get(prompt.shared, ())) if prompt.shared else 0
        with self._slot_lock:
            last = self._slot_prompts.get(slot)
            self._slot_prompts[slot] = tokens
        if 0 < shared < len(tokens) and (last is None or last[:shared] != tokens[:shared]):
            self.prefixes.prime(slot, tokens[:shared])  # evaluated once, restored elsewhere
        elif 0 < shared < len(tokens) and last is not None and len(last) > shared \
                and last[shared] == tokens[shared]:
            filler = tokens[0] if tokens[shared] != tokens[0] else tokens[shared] + 1
            self._post_json("/completion", {"prompt": [*tokens[:shared], filler],
                                            "n_predict": 0, "cache_prompt": True,
                                            "id_slot": slot})
        decision_paths = self.label_tokens.get("decision")
        if decision_paths and self._openings:
            return self._complete_by_steps(tokens, slot, decision_paths, started, on_text,
                                           should_stop)
        payload: dict[str, Any] = {
            "prompt": tokens, "n_predict": settings.max_tokens,
            "grammar": self._grammar, "temperature": settings.temperature,
            "seed": settings.seed, "cache_prompt": True, "stream": False, "id_slot": slot,
        }
        if settings.compute_confidence:
            payload["n_probs"] = self.top_logprobs
        data = self._generate(payload, ANSWER_PRIMER, on_text, should_stop)
        content = str(data.get("content", ""))
        full_response = ANSWER_PRIMER + content
        steps = _steps_from_completion(data.get("completion_probabilities") or [])
        timings = data.get("timings") or {}
        prompt_tokens = int(data.get("tokens_evaluated") or timings.get("prompt_n") or 0)
        return self._answer(full_response, steps, 0, started, timings, prompt_tokens,
                            int(timings.get("prompt_n") or prompt_tokens),
                            int(data.get("tokens_predicted") or timings.get("predicted_n") or 0))

    def _generate(self, payload: dict[str, Any], lead: str,
                  on_text: Callable[[str], None] | None,
                  should_stop: Callable[[], bool] | None) -> dict[str, Any]:
        if on_text is not None or should_stop is not None:
            return self._stream_completion(payload, lead, on_text, should_stop)
        return self._post_json("/completion", payload)

    def _complete_by_steps(self, tokens: list[int], slot: int,
                           decision_paths: tuple[tuple[int, ...], ...], started: float,
                           on_text: Callable[[str], None] | None,
                           should_stop: Callable[[], bool] | None) -> ModelAnswer:
        """The decision as the in-process engine chooses it, then the rest with the grammar.

        The decision label is walked along its token paths in short requests that ask for
        the top log-probabilities only there (``n_probs`` makes llama-server sort the whole
        vocabulary at every position it is asked for); the skeleton's next opening is sent
        as prompt tokens, as the in-process engine forces it; the rest is generated under
        the grammar without ``n_probs``.
        """
        settings = self.settings
        totals = _Totals()
        chosen, confidence = self._choose_label(tokens, slot, decision_paths, totals)
        label = DECISIONS[chosen]
        lead = ANSWER_PRIMER + label + answer_skeleton()[1].opening
        if should_stop is not None and should_stop():
            raise Cancelled("stopped by request")
        rest_tokens = [*tokens, *decision_paths[chosen], *self._openings[1]]
        payload: dict[str, Any] = {
            "prompt": rest_tokens,
            "n_predict": max(1, settings.max_tokens - len(rest_tokens) + len(tokens)),
            "grammar": self._rest_grammar, "temperature": settings.temperature,
            "seed": settings.seed, "cache_prompt": True, "stream": False, "id_slot": slot,
        }
        data = self._generate(payload, lead, on_text, should_stop)
        totals.add(data)
        rest_timings = data.get("timings") or {}
        predicted = int(rest_timings.get("predicted_n") or data.get("tokens_predicted") or 0)
        full_response = lead + str(data.get("content", ""))
        answer = self._answer(full_response, [], None, started, totals.timings(),
                              len(tokens), totals.evaluated,
                              len(rest_tokens) - len(tokens) + predicted)
        if not settings.compute_confidence or answer.decision != label:
            return replace(answer, confidence=None)
        return replace(answer, confidence=confidence)

    def _choose_label(self, tokens: list[int], slot: int, paths: tuple[tuple[int, ...], ...],
                      totals: _Totals) -> tuple[int, float | None]:
        """(index of the chosen label, its probability normalised over the labels), as
        :class:`~policy_desktop.engine.skeleton_decoder.SkeletonDecoder` chooses it.

        At each branching point one request of one token under a token-id grammar of the
        labels' next tokens (greedy: the best of their logits); a prefix shared by several
        labels (``require`` ``_``) is sent as prompt tokens, evaluated in one batch as the
        in-process engine does. The probabilities are the top ``top_logprobs`` before the
        constraint at the branching points, and a shared prefix off the chosen path is
        scored with one more such request. A shared prefix's tokens after its first are
        taken as certain (the server gives no probabilities inside a batch; the in-process
        engine multiplies by them, e.g. 0.9997 for ``_`` after ``require``), and a label's
        token beyond the top counts as negligible.
        """
        logprobs_at: dict[tuple[int, ...], dict[int, float]] = {}
        prefix: tuple[int, ...] = ()
        while True:
            token = self._label_token(tokens, slot, paths, prefix, logprobs_at, totals)
            members = _children(paths, prefix)[token]
            if len(members) == 1:
                chosen = members[0]
                break
            prefix = _shared_chain(paths, (*prefix, token))
        if not self.settings.compute_confidence:
            return chosen, None
        scores: dict[int, float] = {}
        stack: list[tuple[tuple[int, ...], float]] = [((), 0.0)]
        while stack:
            prefix, score = stack.pop()
            if prefix not in logprobs_at:
                self._label_token(tokens, slot, paths, prefix, logprobs_at, totals)
            for token, members in _children(paths, prefix).items():
                logprob = logprobs_at[prefix].get(token)
                if logprob is None:
                    continue  # beyond the top: negligible
                if len(members) == 1:
                    scores[members[0]] = score + logprob
                else:
                    stack.append((_shared_chain(paths, (*prefix, token)), score + logprob))
        if chosen not in scores:
            return chosen, None
        peak = max(scores.values())
        total = sum(math.exp(value - peak) for value in scores.values())
        return chosen, math.exp(scores[chosen] - peak) / total

    def _label_token(self, tokens: list[int], slot: int, paths: tuple[tuple[int, ...], ...],
                     prefix: tuple[int, ...], logprobs_at: dict[tuple[int, ...], dict[int, float]],
                     totals: _Totals) -> int:
        """The server's choice among the labels' tokens after ``prefix`` (one request of one
        token); the top log-probabilities there are recorded in ``logprobs_at``."""
        candidates = _children(paths, prefix)
        grammar = "root ::= " + " | ".join(f"<[{token}]>" for token in candidates) + "\n"
        data = self._post_json("/completion", {
            "prompt": [*tokens, *prefix], "n_predict": 1, "grammar": grammar,
            "n_probs": self.top_logprobs, "temperature": self.settings.temperature,
            "seed": self.settings.seed, "cache_prompt": True, "stream": False,
            "id_slot": slot})
        totals.add(data)
        steps = _steps_from_completion(data.get("completion_probabilities") or [])
        token = steps[0].token_id if steps else None
        if token is None or token not in candidates:
            raise EndpointError(f"{self.url}/completion: the answer is not one of the labels' "
                                f"tokens ({str(data.get('content'))[:80]!r})")
        logprobs_at[prefix] = {**dict(steps[0].alternative_ids), token: steps[0].logprob}
        return token

    def _slot(self) -> int:
        """This thread's slot of the server (threads take slots in turn)."""
        slot = getattr(self._local, "slot", None)
        if slot is None:
            with self._slot_lock:
                slot = self._next_slot % max(1, self.info.slots or 1)
                self._next_slot += 1
            self._local.slot = slot
        return int(slot)

    def _prompt_tokens(self, prompt: PromptText) -> list[int]:
        """The prompt's tokens as :class:`PolicyModel` makes them: the shared (system) part
        tokenised on its own, with BOS, then the rest (the server's own tokeniser).

        Sent as tokens, the prompt is exactly the in-process engine's; the text as one
        string would tokenise differently where the two parts meet.
        """
        special = prompt.templated
        shared = self._shared_tokens.get(prompt.shared) if prompt.shared else []
        if shared is None:
            shared = self._tokenize(prompt.shared, add_special=not special, special=special)
            if len(self._shared_tokens) > 8:
                self._shared_tokens.clear()
            self._shared_tokens[prompt.shared] = shared
        own = self._tokenize(prompt.own, add_special=not shared and not special,
                             special=special)
        return [*shared, *own]

    def _label_token_paths(self) -> LabelPaths:
        """Each enum label's tokens as the in-process engine writes it mid-sequence; a field
        whose labels do not have distinct paths is left to the text grammar."""
        paths: LabelPaths = {}
        for skeleton_field in answer_skeleton():
            if skeleton_field.labels is None:
                continue
            found = tuple(tuple(self._fragment_tokens(label)) for label in skeleton_field.labels)
            distinct = all(path and not any(other[:len(path)] == path
                                            for other in found if other is not path)
                           for path in found)
            if distinct:
                paths[skeleton_field.name] = found
        return paths

    def _fragment_tokens(self, text: str) -> list[int]:
        """Tokens that spell exactly ``text`` in the middle of a sequence (no BOS, no added
        leading space): :meth:`PolicyModel.tokenize_fragment` through ``/tokenize``."""
        tokens, pieces = self._tokenize_pieces(text)
        if pieces == text:
            return tokens
        for lead in ('"', "\n", "a"):  # tokenizers that prepend a space to a text
            lead_tokens, _ = self._tokenize_pieces(lead)
            joined, _ = self._tokenize_pieces(lead + text)
            rest = joined[len(lead_tokens):]
            if joined[:len(lead_tokens)] == lead_tokens:
                _, rest_text = self._tokenize_pieces_of(rest)
                if rest_text == text:
                    return rest
        return tokens

    def _tokenize_pieces(self, text: str) -> tuple[list[int], str]:
        data = self._post_json("/tokenize", {"content": text, "add_special": False,
                                             "parse_special": False, "with_pieces": True})
        entries = data.get("tokens") or []
        tokens = [int(e["id"]) for e in entries if isinstance(e, dict)]
        return tokens, "".join(str(e.get("piece", "")) for e in entries if isinstance(e, dict))

    def _tokenize_pieces_of(self, tokens: list[int]) -> tuple[list[int], str]:
        data = self._post_json("/detokenize", {"tokens": tokens})
        return tokens, str(data.get("content", ""))

    def _tokenize(self, text: str, *, add_special: bool, special: bool) -> list[int]:
        data = self._post_json("/tokenize", {"content": text, "add_special": add_special,
                                             "parse_special": special})
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise EndpointError(f"{self.url}/tokenize: unexpected answer {str(data)[:200]}")
        return tokens

    def _stream_completion(self, payload: dict[str, Any], lead: str,
                           on_text: Callable[[str], None] | None,
                           should_stop: Callable[[], bool] | None) -> dict[str, Any]:
        """``POST /completion`` with ``stream``; the pieces merged like a plain answer."""
        request = urllib.request.Request(
            self.url + "/completion", data=json.dumps({**payload, "stream": True}).encode(),
            method="POST", headers={"Content-Type": "application/json"})
        if on_text is not None:
            on_text(lead)
        merged: dict[str, Any] = {"content": "", "completion_probabilities": []}
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                for raw in reply:
                    line = raw.strip()
                    if not line.startswith(b"data:"):
                        continue
                    chunk = json.loads(line[5:])
                    piece = str(chunk.get("content") or "")
                    merged["content"] += piece
                    merged["completion_probabilities"] += chunk.get(
                        "completion_probabilities") or []
                    for key in ("timings", "tokens_evaluated", "tokens_predicted"):
                        if chunk.get(key):
                            merged[key] = chunk[key]
                    if piece and on_text is not None:
                        on_text(piece)
                    if chunk.get("stop"):
                        break
                    if should_stop is not None and should_stop():
                        raise Cancelled("stopped by request")  # closing stops the slot
        except urllib.error.HTTPError as error:
            with error:
                detail = error.read()[:500].decode("utf-8", "replace")
            if error.code == 400 and "context" in detail.lower():
                raise PromptTooLong(f"{self.url}: {detail}") from None
            raise EndpointError(f"{self.url}/completion: HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            raise EndpointError(f"{self.url}/completion: {getattr(error, 'reason', error)}"
                                ) from None
        except ValueError:
            raise EndpointError(f"{self.url}/completion: a streamed piece is not JSON") from None
        return merged

    def _chat(self, system: str, user: str, started: float) -> ModelAnswer:
        settings = self.settings
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}]
        payload: dict[str, Any] = {
            "model": self.info.name, "messages": messages, "max_tokens": settings.max_tokens,
            "temperature": settings.temperature, "seed": settings.seed,
            "response_format": _response_format(), "stream": False,
        }
        if settings.compute_confidence:
            payload.update(logprobs=True, top_logprobs=self.top_logprobs)
        data = self._post_json("/v1/chat/completions", payload)
        try:
            choice = data["choices"][0]
            content = str(choice["message"].get("content") or "")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise EndpointError(f"{self.url}: no choice in the answer "
                                f"{json.dumps(data)[:200]}") from None
        steps = _steps_from_chat(choice.get("logprobs"))
        usage = data.get("usage") or {}
        timings = data.get("timings") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        return self._answer(content, steps, _decision_value_start(content), started, timings,
                            prompt_tokens, int(timings.get("prompt_n") or prompt_tokens),
                            int(usage.get("completion_tokens") or 0))

    def _answer(self, full_response: str, steps: list[TokenStep], value_start: int | None,
                started: float, timings: dict[str, Any], prompt_tokens: int,
                evaluated_tokens: int, generated_tokens: int) -> ModelAnswer:
        parsed = parse_answer(full_response)
        confidence = None
        decision_paths = self.label_tokens.get("decision")
        if parsed.parseable and self.settings.compute_confidence and decision_paths:
            confidence = label_confidence_by_tokens(
                steps, dict(zip(DECISIONS, decision_paths, strict=True)))
        elif parsed.parseable and self.settings.compute_confidence and value_start is not None:
            confidence = label_confidence(steps, value_start)
        seconds = time.perf_counter() - started
        prefill = float(timings.get("prompt_ms") or 0.0) / 1000
        decode = float(timings.get("predicted_ms") or 0.0) / 1000
        return ModelAnswer(
            decision=parsed.decision, classification=parsed.classification,
            risk_level=parsed.risk_level, reasoning=parsed.reasoning,
            full_response=full_response, confidence=confidence, prompt_tokens=prompt_tokens,
            evaluated_tokens=evaluated_tokens, generated_tokens=generated_tokens,
            prefill_seconds=prefill, decode_seconds=decode if decode else seconds - prefill,
            seconds=seconds)

    def close(self) -> None:
        """Nothing to free (the server keeps running); for symmetry with PolicyModel."""

    def __enter__(self) -> EndpointModel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
