"""The local model behind every decision: llama.cpp through llama-cpp-python (Qt-free).

``llama_cpp`` is imported lazily (when a model is loaded or a chat template compiled), so
importing this module for :class:`EngineSettings` or :func:`render_prompt` is cheap.

Layers
    :mod:`~policy_desktop.engine.llama_session` is the only code that touches llama.cpp's
    C API (decode, KV cache, vocabulary); :mod:`~policy_desktop.engine.skeleton_decoder`
    writes the schema-valid JSON answer from logits ("structure by construction") on a
    small session interface; this module renders and tokenises prompts, reuses the KV
    cache of the shared prefix and puts the two together. ``benchmarks/bench_llm.py``
    compares the decoder with a llama.cpp grammar of the same schema. Programs with a
    window run it in a child process (:mod:`~policy_desktop.engine.model_process`).

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

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from policy_desktop.engine.answer_parsing import parse_answer
from policy_desktop.engine.bundled_model import bundled_model_path
from policy_desktop.engine.gguf import ModelFileError, ModelInfo, read_model_info
from policy_desktop.engine.prompts import PROMPT_SEPARATOR
from policy_desktop.engine.skeleton_decoder import (
    ANSWER_PRIMER,
    Cancelled,
    SkeletonDecoder,
    SkeletonField,
    answer_skeleton,
    scan_string_piece,
    tokenize_fragment,
)

if TYPE_CHECKING:
    from llama_cpp import Llama

    from policy_desktop.engine.llama_session import LlamaSession

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

PREFILL_CHUNK: Final = 128
"""Prompt tokens evaluated per llama.cpp call; ``should_stop`` is polled between chunks."""
_CONTEXT_MARGIN: Final = 8
"""Context positions kept free for the label search's look-ahead."""


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
        lora_path: a GGUF LoRA adapter applied on top of the model (a fine-tuned version).
        label: ``(model_name, model_version)`` logged with every decision instead of the
            GGUF header's name and quantization (a fine-tuned version has its own).
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
    lora_path: Path | None = None
    label: tuple[str, str] | None = None


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


class PromptTooLong(ValueError):
    """The prompt does not fit the context (``EngineSettings.n_ctx``)."""


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
        return formatter(messages=messages).prompt

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


# --- the model ----------------------------------------------------------------------------


def labelled_info(info: ModelInfo, label: tuple[str, str] | None) -> ModelInfo:
    """``info`` with the name and version to log (``EngineSettings.label``) when given."""
    if label is None:
        return info
    name, version = label
    return dataclasses.replace(info, name=name, quantization=version)



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
        from policy_desktop.engine.llama_session import LlamaSession

        started = time.perf_counter()
        path = settings.model_path or bundled_model_path(on_status)
        self.settings = settings
        self.info: ModelInfo = labelled_info(read_model_info(path), settings.label)
        if on_status is not None:
            on_status(f"Loading {self.info.name} ({self.info.quantization})…")
        self._shared_cache: dict[str, list[int]] = {}
        # Small chunks keep should_stop responsive on a CPU; a GPU prefers bigger batches.
        capacity = PREFILL_CHUNK * (1 if settings.n_gpu_layers == 0 else 4)
        self._session: LlamaSession | None = LlamaSession(
            self.info.path, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
            n_gpu_layers=settings.n_gpu_layers, seed=settings.seed, batch_capacity=capacity,
            lora_path=settings.lora_path)
        try:
            self._decoder = SkeletonDecoder(self._session)
        except BaseException:
            self.close()
            raise
        self.load_seconds = time.perf_counter() - started
        if on_status is not None:
            on_status(f"Model ready: {self.info.name} in {self.load_seconds:.1f} s")

    # --- lifecycle ---

    def close(self) -> None:
        """Free the model (idempotent)."""
        if self._session is not None:
            self._session.close()
            self._session = None

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
    def session(self) -> LlamaSession:
        """The llama.cpp session; raises once closed."""
        if self._session is None:
            raise RuntimeError("the model is closed")
        return self._session

    @property
    def llama(self) -> Llama:
        """The underlying ``llama_cpp.Llama`` (for benchmarks); raises once closed."""
        return self.session.llama

    # --- vocabulary ---

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (empty for special tokens)."""
        return self.session.piece(token)

    def tokenize(self, text: bytes, *, add_bos: bool, special: bool) -> list[int]:
        """llama.cpp's tokenisation of ``text``."""
        return self.session.tokenize(text, add_bos=add_bos, special=special)

    def tokenize_fragment(self, text: str | bytes) -> list[int]:
        """Tokens that spell exactly ``text`` in the middle of a sequence."""
        return tokenize_fragment(self.session, text)

    # --- prompt ---

    def render(self, system: str, user: str) -> PromptText:
        """The prompt text for this model (chat template or plain completion)."""
        template = self.info.chat_template
        if template is None:
            return render_prompt(system, user)
        session = self.session
        return render_prompt(system, user, template, bos_token=session.token_text(session.bos),
                             eos_token=session.token_text(session.eos))

    def tokenize_prompt(self, system: str, user: str) -> tuple[list[int], int]:
        """The prompt's tokens and how many of them are the shared (system) prefix."""
        session = self.session
        prompt = self.render(system, user)
        special = prompt.templated
        shared = self._shared_cache.get(prompt.shared)
        if shared is None:
            add_bos = session.add_bos and not prompt.templated
            shared = self.tokenize(prompt.shared.encode(), add_bos=add_bos, special=special)
            if prompt.templated and session.add_bos and (not shared or shared[0] != session.bos):
                shared = [session.bos, *shared]
            if len(self._shared_cache) > 8:
                self._shared_cache.clear()
            self._shared_cache[prompt.shared] = shared
        own = self.tokenize(
            prompt.own.encode(), add_bos=not shared and session.add_bos, special=special
        )
        return [*shared, *own], len(shared)

    def _prefill(self, tokens: list[int], shared: int,
                 before_chunk: Callable[[int], None]) -> tuple[Any, int]:
        """Evaluate the prompt, reusing the KV cache of its first ``shared`` tokens when
        they are cached; (logits after the prompt, tokens evaluated).

        The shared part and the rest are evaluated as separate runs of chunks whether or not
        the cache is reused: llama.cpp's results depend (slightly) on how tokens are
        batched, so this keeps every answer independent of earlier calls and of
        ``reuse_prefix``. ``before_chunk(done)`` counts evaluated prompt tokens.
        """
        session = self.session
        session.adopt_llama_state()
        kv = session.kv
        cached = (
            self.settings.reuse_prefix
            and 0 < shared < len(tokens)
            and len(kv) >= shared
            and list(kv[:shared]) == tokens[:shared]
        )
        if cached:
            session.truncate(shared)
        else:
            session.truncate(0)
            if 0 < shared < len(tokens):
                session.decode(tokens[:shared], before_chunk=before_chunk)
        offset = len(session.kv)
        rest = tokens[offset:]
        logits = session.decode(rest, before_chunk=lambda done: before_chunk(offset + done))
        before_chunk(len(tokens))
        return logits[-1], len(tokens) - (shared if cached else 0)

    # --- decisions ---

    def decide(
        self,
        system: str,
        user: str,
        *,
        on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> ModelAnswer:
        """Answer one prompt with a schema-valid JSON object (see the module docstring).

        ``on_text`` hears the answer text as it grows (its pieces join to
        ``full_response``); ``should_stop`` is polled before every llama.cpp evaluation;
        ``on_progress(done, total)`` hears how many prompt tokens are evaluated (prompt
        tokens found in the KV cache count as done).

        Raises:
            Cancelled: ``should_stop`` returned True.
            PromptTooLong: the prompt leaves no room for an answer in the context.
        """
        started = time.perf_counter()
        tokens, shared = self.tokenize_prompt(system, user)
        n_ctx = self.session.n_ctx
        room = n_ctx - len(tokens) - _CONTEXT_MARGIN
        if room <= _CONTEXT_MARGIN:
            raise PromptTooLong(f"the prompt has {len(tokens)} tokens; the context holds {n_ctx}")

        def before_chunk(done: int) -> None:
            if should_stop is not None and should_stop():
                raise Cancelled("stopped by request")
            if on_progress is not None:
                on_progress(done, len(tokens))

        before_chunk(0)
        logits, evaluated = self._prefill(tokens, shared, before_chunk)
        prefilled = time.perf_counter()
        settings = self.settings
        written = self._decoder.write(
            logits, budget=min(settings.max_tokens, room), temperature=settings.temperature,
            seed=settings.seed, compute_confidence=settings.compute_confidence,
            on_text=on_text, should_stop=should_stop)
        finished = time.perf_counter()
        parsed = parse_answer(written.full_response)
        confidence = written.confidence if parsed.parseable else None
        return ModelAnswer(
            decision=parsed.decision,
            classification=parsed.classification,
            risk_level=parsed.risk_level,
            reasoning=parsed.reasoning,
            full_response=written.full_response,
            confidence=confidence if settings.compute_confidence else None,
            prompt_tokens=len(tokens),
            evaluated_tokens=evaluated,
            generated_tokens=written.generated_tokens,
            prefill_seconds=prefilled - started,
            decode_seconds=finished - prefilled,
            seconds=finished - started,
        )
