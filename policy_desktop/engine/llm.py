"""The local model behind every decision: llama.cpp through llama-cpp-python (Qt-free).

This is the only module of the project that imports ``llama_cpp`` (lazily, when a model is
loaded), so importing it for :class:`EngineSettings` or :func:`render_prompt` is cheap.

JSON-schema constraint ("structure by construction")
    Every answer follows :data:`~policy_desktop.engine.answer_parsing.ANSWER_SCHEMA`. Rather
    than masking the whole vocabulary with a grammar at every step, :class:`PolicyModel`
    writes the fixed JSON skeleton itself (``{"decision": "``, ``", "classification": "``,
    ...) and lets the model choose only what the schema leaves open:

    * an ``enum`` value (decision, risk level) is chosen along the labels' token paths
      from the model's own logits, as grammar-constrained greedy decoding would: the best
      of the labels' first tokens, then (for labels sharing it, ``require`` ``_``) the best
      continuation, whose shared tokens are evaluated in one batch. The ``confidence`` is
      the chosen decision's probability normalised over the four labels: a label's
      probability is the product of the model's probabilities of its tokens up to the one
      that tells it apart from the others (the rest is forced), read from logits the
      engine has anyway, plus at most one 2-token batch for a shared prefix the choice did
      not visit. No ``logits_all`` needed;
    * a free ``string`` is generated token by token (greedy, or seeded sampling); the best
      token is checked first and a lower-ranked one is taken only when it is not valid JSON
      string content (a raw control character, a bad escape, an end-of-generation or special
      token). The string ends at the first unescaped ``"`` the model writes; what follows
      that quote inside the same token is replaced by the skeleton.

    The answer therefore always parses unless the total ``max_tokens`` (or the context) runs
    out inside a free string; such an answer is kept raw and marked
    :data:`~policy_desktop.vocabulary.UNPARSEABLE`. ``benchmarks/bench_llm.py`` compares this
    with a llama.cpp grammar (``LlamaGrammar.from_json_schema`` of the same schema).

Prompting
    A model whose GGUF has a chat template gets ``[system, user]`` rendered through it (the
    system text is folded into the user turn when the template has no system role); a base
    model gets ``system + "\\n\\n" + user``. Either way the answer primer ``{"decision": "``
    is appended, and the system part is tokenised on its own so it is an exact token prefix
    of every prompt: with ``reuse_prefix`` its KV cache is evaluated once and reused. The
    rest of the prompt is always evaluated in the same chunks, so an answer depends neither
    on earlier calls nor on ``reuse_prefix`` (llama.cpp's logits vary slightly with how
    tokens are batched).
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import functools
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from policy_desktop.engine.answer_parsing import ANSWER_SCHEMA, parse_answer
from policy_desktop.engine.bundled_model import bundled_model_path
from policy_desktop.engine.gguf import ModelFileError, ModelInfo, read_model_info

if TYPE_CHECKING:
    from llama_cpp import Llama

# llama.cpp's OpenMP threads busy-wait at every sync point by default; when another process
# or our own GUI/embedding work holds a core that slows decoding 5-20x (bench_run.py).
# Sleeping threads keep the speed on a shared machine. Read when llama_cpp first loads,
# which only happens in this module, lazily; an explicit environment setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = [
    "ANSWER_PRIMER",
    "Cancelled",
    "EngineSettings",
    "ModelAnswer",
    "ModelFileError",
    "PolicyModel",
    "PromptText",
    "PromptTooLong",
    "SkeletonField",
    "answer_skeleton",
    "render_prompt",
    "scan_string_piece",
]

PROMPT_SEPARATOR: Final = "\n\n"
PREFILL_CHUNK: Final = 128
"""Prompt tokens evaluated per llama.cpp call; ``should_stop`` is polled between chunks."""
_CONTEXT_MARGIN: Final = 8
"""Context positions kept free for the label search's look-ahead."""
_TOP_CANDIDATES: Final = 40
"""Candidates considered per free-text step (greedy fallback order, sampling pool)."""


# --- settings and results ---------------------------------------------------------------


@dataclass(frozen=True)
class EngineSettings:
    """How to load and run the model.

    Attributes:
        model_path: the GGUF file; ``None`` for the bundled Gemma 3 270M.
        n_threads: CPU threads; ``None`` for ``os.cpu_count()``.
        n_ctx: context size in tokens (prompt plus answer).
        n_gpu_layers: layers offloaded to a GPU (``-1``: all), 0 on CPU-only builds.
        temperature: 0 for greedy decoding; above 0, seeded sampling.
        max_tokens: answer tokens (skeleton included) before the answer is cut off.
        seed: sampling seed (each call restarts from it, so calls are reproducible).
        reuse_prefix: keep the KV cache of the shared system part between calls.
        compute_confidence: report the decision's probability (costs at most one 2-token
            batch per answer; off: ``confidence`` is None).
    """

    model_path: Path | None = None
    n_threads: int | None = None
    n_ctx: int = 4096
    n_gpu_layers: int = 0
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int = 0
    reuse_prefix: bool = True
    compute_confidence: bool = True


@dataclass(frozen=True)
class ModelAnswer:
    """One answer of the model and what it cost.

    Attributes:
        decision: one of ``DECISIONS``, or ``UNPARSEABLE``.
        classification, risk_level, reasoning: the other fields (``None`` if unparseable).
        full_response: the raw generated text, from ``{"decision": "`` on.
        confidence: probability of the chosen decision normalised over the four labels;
            ``None`` when unparseable or when ``compute_confidence`` is off.
        prompt_tokens: tokens of the whole prompt (answer primer included).
        evaluated_tokens: prompt tokens evaluated by this call (fewer when the KV cache of a
            shared prefix was reused).
        generated_tokens: tokens of the answer after the prompt, skeleton tokens included.
        prefill_seconds, decode_seconds, seconds: time spent evaluating the prompt,
            producing the answer, and the whole call.
    """

    decision: str
    classification: str | None
    risk_level: str | None
    reasoning: str | None
    full_response: str
    confidence: float | None
    prompt_tokens: int
    evaluated_tokens: int
    generated_tokens: int
    prefill_seconds: float
    decode_seconds: float
    seconds: float


class Cancelled(Exception):
    """``should_stop`` asked :meth:`PolicyModel.decide` to stop."""


class PromptTooLong(ValueError):
    """The prompt does not fit the context (``EngineSettings.n_ctx``)."""


# --- the answer skeleton, from the schema ------------------------------------------------


@dataclass(frozen=True)
class SkeletonField:
    """One string field of the answer as the engine writes it.

    Attributes:
        name: the JSON key.
        labels: the allowed values of an ``enum`` field; ``None`` for a free string.
        opening: the fixed JSON text before the value's content (``{"decision": "`` for
            the first field, ``", "classification": "`` for the next ones).
    """

    name: str
    labels: tuple[str, ...] | None
    opening: str


def answer_skeleton(schema: dict[str, Any] = ANSWER_SCHEMA) -> tuple[SkeletonField, ...]:
    """The fields of ``schema`` (an object of string properties) in writing order."""
    fields: list[SkeletonField] = []
    for index, (name, spec) in enumerate(schema["properties"].items()):
        if spec.get("type") != "string":
            raise ValueError(f"answer field {name!r}: only string fields can be constrained")
        labels = tuple(spec["enum"]) if "enum" in spec else None
        opening = ("{" if index == 0 else '", ') + json.dumps(name) + ': "'
        fields.append(SkeletonField(name, labels, opening))
    return tuple(fields)


SKELETON: Final = answer_skeleton()
ANSWER_PRIMER: Final = SKELETON[0].opening
"""``{"decision": "``: the forced start of every answer, appended to the prompt."""
ANSWER_CLOSING: Final = '"}'


# --- prompt rendering ---------------------------------------------------------------------


@dataclass(frozen=True)
class PromptText:
    """A prompt split where its tokens may be reused.

    Attributes:
        shared: the part that depends only on the system text (its tokens are reused).
        own: the rest, ending with :data:`ANSWER_PRIMER`.
        templated: rendered by a chat template (its text holds special tokens such as BOS).
    """

    shared: str
    own: str
    templated: bool

    @property
    def text(self) -> str:
        """The whole prompt."""
        return self.shared + self.own


_USER_MARKER: Final = "\ue000policy-desktop-user-turn\ue001"


def render_prompt(
    system: str,
    user: str,
    chat_template: str | None = None,
    *,
    bos_token: str = "",
    eos_token: str = "",
) -> PromptText:
    """The prompt for ``system`` and ``user``: through ``chat_template`` or plain completion.

    Raises:
        ValueError: the chat template fails for both a system turn and a folded user turn.
    """
    if chat_template is None:
        shared = system + PROMPT_SEPARATOR if system else ""
        return PromptText(shared, user + ANSWER_PRIMER, templated=False)
    return _render_chat(system, user, chat_template, bos_token, eos_token)


def _chat_messages(system: str, user: str, *, fold: bool) -> list[dict[str, str]]:
    if not system:
        return [{"role": "user", "content": user}]
    if fold:
        return [{"role": "user", "content": system + PROMPT_SEPARATOR + user}]
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


@functools.lru_cache(maxsize=4)
def _chat_formatter(template: str, bos_token: str, eos_token: str) -> Any:
    """llama-cpp-python's Jinja2 renderer of ``template`` (compiled once)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    return Jinja2ChatFormatter(
        template=template, eos_token=eos_token, bos_token=bos_token, add_generation_prompt=True
    )


def _render_chat(
    system: str, user: str, template: str, bos_token: str, eos_token: str
) -> PromptText:
    try:
        formatter = _chat_formatter(template, bos_token, eos_token)
    except Exception as error:  # jinja2.TemplateSyntaxError and the like
        raise ValueError(f"the chat template cannot be compiled: {error}") from None

    def render(messages: list[dict[str, str]]) -> str:
        return formatter(messages=messages).prompt  # type: ignore[arg-type]

    problem: Exception | None = None
    for fold in (False, True):
        try:
            marked = render(_chat_messages(system, _USER_MARKER, fold=fold))
            full = render(_chat_messages(system, user, fold=fold))
        except Exception as error:  # the template rejects a system turn (raise_exception)
            problem = error
            continue
        if system.strip() and system.strip() not in marked:
            continue  # the template silently dropped the system turn: fold it
        shared = marked.split(_USER_MARKER, 1)[0] if _USER_MARKER in marked else ""
        if not full.startswith(shared):
            shared = ""
        return PromptText(shared, full[len(shared) :] + ANSWER_PRIMER, templated=True)
    raise ValueError(f"the chat template cannot render the prompt: {problem}")


# --- JSON string content ------------------------------------------------------------------

_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")
_SIMPLE_ESCAPES: Final = frozenset(b'"\\/bfnrt')
_AFTER_BACKSLASH: Final = -1


def scan_string_piece(piece: bytes, escape: int = 0) -> tuple[bool, int, bool, int]:
    """Check a token's bytes as the continuation of a JSON string's content.

    ``escape`` is the scanner state before the piece: 0 plain, -1 right after a backslash,
    ``n > 0`` with ``n`` hex digits of a ``\\uXXXX`` escape still due.

    Returns ``(valid, used, closed, escape)``: whether the piece may follow, how many of its
    bytes belong to the string, whether an unescaped ``"`` closed the string (the bytes
    after it are not used), and the state after the used bytes. An empty piece (special
    tokens), a raw control character (``< 0x20`` or DEL) or a bad escape is not valid.
    """
    if not piece:
        return False, 0, False, escape
    for index, byte in enumerate(piece):
        if escape == _AFTER_BACKSLASH:
            if byte == ord("u"):
                escape = 4
            elif byte in _SIMPLE_ESCAPES:
                escape = 0
            else:
                return False, index, False, escape
        elif escape > 0:
            if byte not in _HEX_DIGITS:
                return False, index, False, escape
            escape -= 1
        elif byte == ord('"'):
            return True, index, True, 0
        elif byte == ord("\\"):
            escape = _AFTER_BACKSLASH
        elif byte < 0x20 or byte == 0x7F:
            return False, index, False, escape
    return True, len(piece), False, escape


# --- label choice -------------------------------------------------------------------------


@dataclass(frozen=True)
class _LabelPaths:
    """The token paths of one enum field's labels."""

    labels: tuple[str, ...]
    paths: tuple[tuple[int, ...], ...]

    def children(self, prefix: tuple[int, ...]) -> dict[int, list[int]]:
        """Next token -> indices of the labels continuing ``prefix`` with it."""
        groups: dict[int, list[int]] = {}
        depth = len(prefix)
        for index, path in enumerate(self.paths):
            if path[:depth] == prefix and len(path) > depth:
                groups.setdefault(path[depth], []).append(index)
        return groups

    def shared_chain(self, prefix: tuple[int, ...]) -> tuple[int, ...]:
        """``prefix`` extended while one next token is shared by several labels."""
        while True:
            groups = self.children(prefix)
            if len(groups) != 1:
                return prefix
            ((token, members),) = groups.items()
            if len(members) < 2:
                return prefix
            prefix = (*prefix, token)


def _log_softmax_at(logits: np.ndarray, tokens: Sequence[int]) -> list[float]:
    """Log-probabilities of ``tokens`` under the full-vocabulary softmax of ``logits``."""
    peak = float(logits.max())
    log_total = peak + float(np.log(np.exp(logits - peak, dtype=np.float64).sum()))
    return [float(logits[token]) - log_total for token in tokens]


def _normalised_probability(scores: dict[int, float], chosen: int) -> float:
    """``exp(scores[chosen])`` over the sum of ``exp`` of every score."""
    values = np.array(list(scores.values()), dtype=np.float64)
    peak = values.max()
    return float(np.exp(scores[chosen] - peak) / np.exp(values - peak).sum())


# --- the model ----------------------------------------------------------------------------


class _Transcript:
    """The answer text as it grows: decoded incrementally and streamed to ``on_text``."""

    def __init__(self, on_text: Callable[[str], None] | None) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pieces: list[str] = []
        self._on_text = on_text

    def add(self, data: bytes | str, *, final: bool = False) -> None:
        text = data if isinstance(data, str) else self._decoder.decode(data, final=final)
        if text:
            self._pieces.append(text)
            if self._on_text is not None:
                self._on_text(text)

    def finish(self) -> str:
        self.add(b"", final=True)
        return "".join(self._pieces)


class _Budget:
    """Answer tokens left before ``max_tokens`` or the end of the context."""

    def __init__(self, tokens: int) -> None:
        self.left = tokens
        self.used = 0

    def spend(self, count: int) -> bool:
        """Count ``count`` answer tokens; False when that exceeds the budget."""
        self.used += count
        self.left -= count
        return self.left >= 0


class _OutOfBudget(Exception):
    """Internal: the answer ran out of tokens inside a free string."""


@dataclass
class _Call:
    """State of one :meth:`PolicyModel.decide` call."""

    transcript: _Transcript
    budget: _Budget
    should_stop: Callable[[], bool] | None
    rng: np.random.Generator | None
    pending: list[int]
    carry: bytes = b""

    def check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("stopped by request")


class PolicyModel:
    """A GGUF model loaded with llama.cpp, answering policy prompts as constrained JSON.

    Not thread-safe: use one instance from one thread at a time. Also a context manager.
    ``settings`` may be replaced between calls to change the per-call settings
    (``temperature``, ``max_tokens``, ``seed``, ``reuse_prefix``, ``compute_confidence``);
    the others take effect at load only.
    """

    def __init__(
        self, settings: EngineSettings, *, on_status: Callable[[str], None] | None = None
    ) -> None:
        """Check the file's header, then load the model (``verbose=False``).

        Raises:
            ModelFileError: the file is missing, unreadable or not a GGUF model (checked
                before llama.cpp touches it), or llama.cpp fails to load it.
        """
        started = time.perf_counter()
        path = settings.model_path or bundled_model_path(on_status)
        self.settings = settings
        self.info: ModelInfo = read_model_info(path)
        if on_status is not None:
            on_status(f"Loading {self.info.name} ({self.info.quantization})…")
        self._batch: Any = None
        self._kv: list[int] = []
        self._shared_cache: dict[str, list[int]] = {}
        # Small chunks keep should_stop responsive on a CPU; a GPU prefers bigger batches.
        self._batch_capacity = PREFILL_CHUNK * (1 if settings.n_gpu_layers == 0 else 4)
        self._llama: Llama | None = _load_llama(self.info.path, settings, self._batch_capacity)
        try:
            self._setup_vocabulary()
            self._batch = _new_batch(self._batch_capacity)
        except BaseException:
            self.close()
            raise
        self.load_seconds = time.perf_counter() - started
        if on_status is not None:
            on_status(f"Model ready: {self.info.name} in {self.load_seconds:.1f} s")

    # --- lifecycle ---

    def close(self) -> None:
        """Free the model (idempotent)."""
        import llama_cpp

        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self._llama is not None:
            self._llama.close()
            self._llama = None
        self._kv = []

    def __del__(self) -> None:
        # At interpreter shutdown llama_cpp may be gone already; after a failed __init__
        # some attributes may be missing.
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> PolicyModel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def llama(self) -> Llama:
        """The underlying ``llama_cpp.Llama`` (for benchmarks); raises once closed."""
        if self._llama is None:
            raise RuntimeError("the model is closed")
        return self._llama

    # --- vocabulary ---

    def _setup_vocabulary(self) -> None:
        import llama_cpp

        llama = self.llama
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._n_vocab = llama.n_vocab()
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        self._bos = int(llama_cpp.llama_vocab_bos(self._vocab))
        self._pieces: dict[int, bytes] = {}
        self._piece_buffer = ctypes.create_string_buffer(256)
        self._label_paths = {
            field.name: self._label_token_paths(field.labels)
            for field in SKELETON
            if field.labels is not None
        }
        self._openings = [self.tokenize_fragment(field.opening) for field in SKELETON]

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (empty for special tokens)."""
        cached = self._pieces.get(token)
        if cached is None:
            import llama_cpp

            size = llama_cpp.llama_token_to_piece(
                self._vocab, token, self._piece_buffer, len(self._piece_buffer), 0, False
            )
            if size < 0:
                self._piece_buffer = ctypes.create_string_buffer(-size)
                size = llama_cpp.llama_token_to_piece(
                    self._vocab, token, self._piece_buffer, -size, 0, False
                )
            cached = self._piece_buffer.raw[: max(size, 0)]
            self._pieces[token] = cached
        return cached

    def tokenize(self, text: bytes, *, add_bos: bool, special: bool) -> list[int]:
        """llama.cpp's tokenisation of ``text``."""
        return self.llama.tokenize(text, add_bos=add_bos, special=special)

    def tokenize_fragment(self, text: str | bytes) -> list[int]:
        """Tokens that spell exactly ``text`` in the middle of a sequence (no BOS, no added
        leading space), as the model would write them."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        if not data:
            return []
        tokens = self.tokenize(data, add_bos=False, special=False)
        if b"".join(self.piece(t) for t in tokens) == data:
            return tokens
        for lead in (b'"', b"\n", b"a"):  # tokenizers that prepend a space to a text
            lead_tokens = self.tokenize(lead, add_bos=False, special=False)
            joined = self.tokenize(lead + data, add_bos=False, special=False)
            rest = joined[len(lead_tokens) :]
            same_lead = joined[: len(lead_tokens)] == lead_tokens
            if same_lead and b"".join(self.piece(t) for t in rest) == data:
                return rest
        return tokens

    def _label_token_paths(self, labels: tuple[str, ...]) -> _LabelPaths:
        paths = tuple(tuple(self.tokenize_fragment(label)) for label in labels)
        for index, path in enumerate(paths):
            others = [other for i, other in enumerate(paths) if i != index]
            if not path or any(other[: len(path)] == path for other in others):
                raise ValueError(f"label {labels[index]!r} has no distinct token path")
        return _LabelPaths(labels, paths)

    # --- prompt ---

    def render(self, system: str, user: str) -> PromptText:
        """The prompt text for this model (chat template or plain completion)."""
        import llama_cpp

        template = self.info.chat_template
        if template is None:
            return render_prompt(system, user)
        eos = int(llama_cpp.llama_vocab_eos(self._vocab))
        return render_prompt(
            system,
            user,
            template,
            bos_token=self._token_text(self._bos),
            eos_token=self._token_text(eos),
        )

    def _token_text(self, token: int) -> str:
        import llama_cpp

        if token < 0:
            return ""
        text = llama_cpp.llama_vocab_get_text(self._vocab, token)
        return text.decode("utf-8", errors="replace") if text else ""

    def tokenize_prompt(self, system: str, user: str) -> tuple[list[int], int]:
        """The prompt's tokens and how many of them are the shared (system) prefix."""
        prompt = self.render(system, user)
        special = prompt.templated
        shared = self._shared_cache.get(prompt.shared)
        if shared is None:
            add_bos = self._add_bos and not prompt.templated
            shared = self.tokenize(prompt.shared.encode(), add_bos=add_bos, special=special)
            if prompt.templated and self._add_bos and (not shared or shared[0] != self._bos):
                shared = [self._bos, *shared]
            if len(self._shared_cache) > 8:
                self._shared_cache.clear()
            self._shared_cache[prompt.shared] = shared
        own = self.tokenize(
            prompt.own.encode(), add_bos=not shared and self._add_bos, special=special
        )
        return [*shared, *own], len(shared)

    # --- evaluation ---

    def _decode(
        self, call: _Call | None, tokens: Sequence[int], *, outputs: str = "last"
    ) -> list[np.ndarray]:
        """Append ``tokens`` to the KV cache in chunks; logits of the last (or every) token.

        ``outputs="all"`` is used for the few tokens of a label path only.
        """
        import llama_cpp

        batch = self._batch
        assert batch is not None
        results: list[np.ndarray] = []
        for start in range(0, len(tokens), self._batch_capacity):
            if call is not None:
                call.check_stop()
            chunk = tokens[start : start + self._batch_capacity]
            position = len(self._kv)
            batch.n_tokens = len(chunk)
            for index, token in enumerate(chunk):
                batch.token[index] = token
                batch.pos[index] = position + index
                batch.n_seq_id[index] = 1
                batch.seq_id[index][0] = 0
                batch.logits[index] = outputs == "all"
            batch.logits[len(chunk) - 1] = True
            code = llama_cpp.llama_decode(self.llama.ctx, batch)
            if code != 0:
                raise RuntimeError(f"llama_decode failed with code {code}")
            self._kv.extend(chunk)
            llama = self.llama
            llama.input_ids[position : position + len(chunk)] = chunk
            llama.n_tokens = len(self._kv)
            rows = range(len(chunk)) if outputs == "all" else (len(chunk) - 1,)
            if outputs == "all" or start + self._batch_capacity >= len(tokens):
                results.extend(self._logits(row) for row in rows)
        return results

    def _logits(self, row: int) -> np.ndarray:
        import llama_cpp

        pointer = llama_cpp.llama_get_logits_ith(self.llama.ctx, row)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def _truncate(self, length: int) -> None:
        """Forget the KV cache from position ``length`` on."""
        import llama_cpp

        if length >= len(self._kv):
            return
        memory = llama_cpp.llama_get_memory(self.llama.ctx)
        if length > 0 and llama_cpp.llama_memory_seq_rm(memory, 0, length, -1):
            del self._kv[length:]
        else:
            llama_cpp.llama_memory_clear(memory, True)
            self._kv.clear()
        self.llama.n_tokens = len(self._kv)

    def _adopt_llama_state(self) -> None:
        """Trust ``Llama``'s record if someone used it directly since our last call.

        Like ``Llama.eval``, positions from ``Llama.n_tokens`` on are dropped from the cache.
        """
        import llama_cpp

        llama = self.llama
        count = int(llama.n_tokens)
        if count != len(self._kv) or list(llama.input_ids[:count]) != self._kv:
            self._kv = [int(t) for t in llama.input_ids[:count]]
            memory = llama_cpp.llama_get_memory(llama.ctx)
            if not llama_cpp.llama_memory_seq_rm(memory, 0, count, -1):
                llama_cpp.llama_memory_clear(memory, True)
                self._kv = []
                llama.n_tokens = 0

    def _prefill(self, call: _Call, tokens: list[int], shared: int) -> tuple[np.ndarray, int]:
        """Evaluate the prompt, reusing the KV cache of its first ``shared`` tokens when
        they are cached; (logits after the prompt, tokens evaluated).

        The shared part and the rest are evaluated as separate runs of chunks whether or not
        the cache is reused: llama.cpp's results depend (slightly) on how tokens are
        batched, so this keeps every answer independent of earlier calls and of
        ``reuse_prefix``.
        """
        self._adopt_llama_state()
        cached = (
            self.settings.reuse_prefix
            and 0 < shared < len(tokens)
            and len(self._kv) >= shared
            and self._kv[:shared] == tokens[:shared]
        )
        if cached:
            self._truncate(shared)
        else:
            self._truncate(0)
            if 0 < shared < len(tokens):
                self._decode(call, tokens[:shared])
        rest = tokens[len(self._kv) :]
        return self._decode(call, rest)[-1], len(tokens) - (shared if cached else 0)

    # --- decisions ---

    def decide(
        self,
        system: str,
        user: str,
        *,
        on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ModelAnswer:
        """Answer one prompt with a schema-valid JSON object (see the module docstring).

        ``on_text`` hears the answer text as it grows (its pieces join to
        ``full_response``); ``should_stop`` is polled before every llama.cpp evaluation.

        Raises:
            Cancelled: ``should_stop`` returned True.
            PromptTooLong: the prompt leaves no room for an answer in the context.
        """
        started = time.perf_counter()
        tokens, shared = self.tokenize_prompt(system, user)
        room = self.llama.n_ctx() - len(tokens) - _CONTEXT_MARGIN
        if room <= _CONTEXT_MARGIN:
            raise PromptTooLong(
                f"the prompt has {len(tokens)} tokens; the context holds {self.llama.n_ctx()}"
            )
        temperature = self.settings.temperature
        call = _Call(
            transcript=_Transcript(on_text),
            budget=_Budget(min(self.settings.max_tokens, room)),
            should_stop=should_stop,
            rng=np.random.default_rng(self.settings.seed) if temperature > 0 else None,
            pending=[],
        )
        call.check_stop()
        call.transcript.add(ANSWER_PRIMER)
        logits, evaluated = self._prefill(call, tokens, shared)
        prefilled = time.perf_counter()
        confidence = self._write_answer(call, logits)
        full_response = call.transcript.finish()
        finished = time.perf_counter()
        parsed = parse_answer(full_response)
        if not parsed.parseable:
            confidence = None
        return ModelAnswer(
            decision=parsed.decision,
            classification=parsed.classification,
            risk_level=parsed.risk_level,
            reasoning=parsed.reasoning,
            full_response=full_response,
            confidence=confidence if self.settings.compute_confidence else None,
            prompt_tokens=len(tokens),
            evaluated_tokens=evaluated,
            generated_tokens=call.budget.used,
            prefill_seconds=prefilled - started,
            decode_seconds=finished - prefilled,
            seconds=finished - started,
        )

    def _write_answer(self, call: _Call, logits: np.ndarray) -> float | None:
        """Write the fields after the primer; the decision's confidence (None if cut off)."""
        confidence: float | None = None
        try:
            for index, field in enumerate(SKELETON):
                if index > 0:
                    call.transcript.add(field.opening)
                    if call.carry:
                        fragment = call.carry + field.opening.encode()
                        call.pending.extend(self.tokenize_fragment(fragment))
                        call.carry = b""
                    else:
                        call.pending.extend(self._openings[index])
                    logits = self._flush(call)
                if field.labels is None:
                    self._free_string(call, logits)
                else:
                    label, probability = self._choose_label(call, field.name, logits)
                    call.transcript.add(label)
                    if field.name == "decision":
                        confidence = probability
        except _OutOfBudget:
            return None
        call.transcript.add(ANSWER_CLOSING)
        return confidence

    def _flush(self, call: _Call) -> np.ndarray:
        """Evaluate the pending forced tokens; the logits after them."""
        tokens, call.pending = call.pending, []
        if not call.budget.spend(len(tokens)):
            raise _OutOfBudget
        return self._decode(call, tokens)[-1]

    # --- enum fields ---

    def _choose_label(
        self, call: _Call, field: str, logits: np.ndarray
    ) -> tuple[str, float | None]:
        """Choose a label of ``field`` token by token; (label, probability or None).

        Like grammar-constrained decoding: at each branching point of the labels' token
        paths, the most likely continuation (sampled at ``temperature > 0``) among the
        labels' is taken. A prefix shared by several labels (``require`` ``_``) is evaluated
        in one batch that yields the logits after each of its tokens. With
        ``compute_confidence`` the labels off the chosen path are scored as well (for an
        unvisited shared prefix: one small batch, dropped from the cache afterwards).
        """
        paths = self._label_paths[field]
        base = len(self._kv)
        logits_at: dict[tuple[int, ...], np.ndarray] = {(): logits}
        prefix: tuple[int, ...] = ()
        while True:
            self._ensure_label_logits(call, base, paths, prefix, logits_at)
            groups = paths.children(prefix)
            token = self._pick_token(call, logits_at[prefix], list(groups))
            prefix = (*prefix, token)
            if len(groups[token]) == 1:
                chosen = groups[token][0]
                break
        probability = None
        if self.settings.compute_confidence:
            scores = self._label_scores(call, base, paths, logits_at)
            probability = _normalised_probability(scores, chosen)
        self._commit_label(call, base, paths.paths[chosen])
        return paths.labels[chosen], probability

    def _pick_token(self, call: _Call, logits: np.ndarray, candidates: list[int]) -> int:
        """The candidate with the highest logit, or one sampled at the temperature."""
        values = np.array([logits[token] for token in candidates], dtype=np.float64)
        if call.rng is None or len(candidates) == 1:
            return candidates[int(np.argmax(values))]
        scaled = values / self.settings.temperature
        weights = np.exp(scaled - scaled.max())
        return candidates[int(call.rng.choice(len(candidates), p=weights / weights.sum()))]

    def _label_scores(
        self,
        call: _Call,
        base: int,
        paths: _LabelPaths,
        logits_at: dict[tuple[int, ...], np.ndarray],
    ) -> dict[int, float]:
        """Every label's log-probability: its tokens' up to the one that sets it apart."""
        scores: dict[int, float] = {}
        stack: list[tuple[tuple[int, ...], float]] = [((), 0.0)]
        while stack:
            prefix, score = stack.pop()
            self._ensure_label_logits(call, base, paths, prefix, logits_at)
            groups = paths.children(prefix)
            log_probs = _log_softmax_at(logits_at[prefix], list(groups))
            for (token, members), log_p in zip(groups.items(), log_probs, strict=True):
                if len(members) == 1:
                    scores[members[0]] = score + log_p
                else:
                    stack.append(((*prefix, token), score + log_p))
        return scores

    def _ensure_label_logits(
        self,
        call: _Call,
        base: int,
        paths: _LabelPaths,
        prefix: tuple[int, ...],
        logits_at: dict[tuple[int, ...], np.ndarray],
    ) -> None:
        """Make sure the logits after ``prefix`` (a label prefix following position ``base``)
        are known, evaluating it, and the shared tokens after it, in one batch if needed."""
        if prefix in logits_at:
            return
        chain = paths.shared_chain(prefix)
        evaluated = self._kv[base:]
        common = 0
        while common < min(len(evaluated), len(chain)) and evaluated[common] == chain[common]:
            common += 1
        self._truncate(base + common)
        rows = self._decode(call, chain[common:], outputs="all")
        for offset, row in enumerate(rows, start=common + 1):
            logits_at[chain[:offset]] = row

    def _commit_label(self, call: _Call, base: int, path: tuple[int, ...]) -> None:
        """Keep the label's evaluated tokens in the KV cache; queue the rest of its path."""
        evaluated = self._kv[base:]
        kept = 0
        while kept < min(len(evaluated), len(path)) and evaluated[kept] == path[kept]:
            kept += 1
        self._truncate(base + kept)
        if not call.budget.spend(kept):
            raise _OutOfBudget
        call.pending.extend(path[kept:])

    # --- free strings ---

    def _free_string(self, call: _Call, logits: np.ndarray) -> None:
        """Generate a JSON string's content until the model closes it with ``"``.

        The bytes before the quote in the closing token are left in ``call.carry`` (to be
        tokenised with the next skeleton text); that token itself is not evaluated.
        """
        escape = 0
        while True:
            token, used, closed, escape = self._next_string_token(call, logits, escape)
            content = self.piece(token)[:used]
            call.transcript.add(content)
            if closed:
                call.carry = content
                return
            if not call.budget.spend(1):
                raise _OutOfBudget
            logits = self._decode(call, [token])[-1]

    def _next_string_token(
        self, call: _Call, logits: np.ndarray, escape: int
    ) -> tuple[int, int, bool, int]:
        """The best (or a sampled) token that is valid string content: (token, used bytes,
        closed, escape state after it)."""
        for token in self._candidates(call, logits):
            valid, used, closed, after = scan_string_piece(self.piece(token), escape)
            if valid:
                return token, used, closed, after
        raise _OutOfBudget  # pragma: no cover - every vocabulary has a plain text token

    def _candidates(self, call: _Call, logits: np.ndarray) -> Iterator[int]:
        """Tokens in the order to try them: the best first (greedy) or a sample of the top
        candidates first (temperature), then the rest by decreasing logit."""
        best = int(np.argmax(logits))
        if call.rng is None:
            yield best
        top = np.argpartition(logits, -_TOP_CANDIDATES)[-_TOP_CANDIDATES:]
        top = top[np.argsort(logits[top])[::-1]]
        if call.rng is not None:
            scaled = logits[top].astype(np.float64) / self.settings.temperature
            weights = np.exp(scaled - scaled.max())
            order = call.rng.choice(
                len(top), size=len(top), replace=False, p=weights / weights.sum()
            )
            yield from (int(top[i]) for i in order)
        else:
            yield from (int(t) for t in top if t != best)
        tried = set(top.tolist()) | {best}
        yield from (int(t) for t in np.argsort(logits)[::-1] if int(t) not in tried)


def _load_llama(path: Path, settings: EngineSettings, batch: int) -> Llama:
    """Load ``path`` with llama.cpp, turning its failures into :class:`ModelFileError`."""
    from llama_cpp import Llama

    threads = settings.n_threads or os.cpu_count() or 1
    try:
        return Llama(
            model_path=str(path),
            n_ctx=settings.n_ctx,
            n_batch=batch,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=settings.n_gpu_layers,
            seed=settings.seed,
            logits_all=False,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as error:
        raise ModelFileError(path, f"llama.cpp could not load the model ({error})") from None


def _new_batch(capacity: int) -> Any:
    import llama_cpp

    return llama_cpp.llama_batch_init(capacity, 0, 1)
