"""How many tokens few-shot examples may take, and counting them with the model's tokenizer.

A prompt version made from exported examples runs with the target model's context
(``n_ctx``): policy and instructions, the examples, one situation and the answer must
fit. :class:`TokenBudget` says what is left for the examples; the examples are counted
with the model's own tokenizer in a child process (:class:`GgufTokenCounter`: llama.cpp
loads only the GGUF's vocabulary there, never in the GUI process), or, where no model
is at hand, with :func:`approximate_tokens`, a deliberate over-estimate.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONTEXT_SIZE = 4096
"""llama.cpp context of the runs (``EngineSettings.n_ctx``) unless the reviewer sets another."""
SITUATION_RESERVE = 384
"""Tokens kept for the situation block of one decision (a suite situation takes 100–200)."""
ANSWER_RESERVE = 320
"""Tokens kept for the answer (``EngineSettings.max_tokens`` 256 plus llama.cpp's margin)."""
EXAMPLE_OVERHEAD = 48
"""Headers, JSON keys, classification and risk level of one example block."""
OUTLIER_FACTOR = 3
"""An example longer than this many times the median candidate is an outlier, not typical."""

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Texts -> their token counts."""

_PIECES = re.compile(r"\d|[^\W\d_]+|\s+|.", re.DOTALL)
_SAFETY = 1.15


def approximate_tokens(text: str) -> int:
    """A conservative token count without a tokenizer (never below Gemma's, as measured).

    Digits count one each (SentencePiece vocabularies split numbers), runs of ASCII
    letters one per three letters, other letters one each, line breaks and every other
    character one each; plus 15%. Against Gemma 3's tokenizer this over-counts English
    policy text by about 1.8x, a long English note by 1.5x, and random hexadecimal
    (the hardest case) by 1.04x (``benchmarks/bench_gui.py`` prints the ratios).
    """
    count = 0
    for piece in _PIECES.findall(text):
        first = piece[0]
        if first.isdigit():
            count += 1
        elif first.isalpha():
            count += math.ceil(len(piece) / 3) if piece.isascii() else len(piece)
        elif first.isspace():
            count += piece.count("\n")
        else:
            count += 1
    return math.ceil(count * _SAFETY)


def approximate_counter(texts: Sequence[str]) -> list[int]:
    """:func:`approximate_tokens` of each text (a :data:`TokenCounter`)."""
    return [approximate_tokens(text) for text in texts]


@dataclass(frozen=True)
class TokenBudget:
    """The context of the target model and the share the few-shot examples may take.

    Attributes:
        context_size: the model's context (``n_ctx``) in tokens.
        fixed: policy, instructions and the examples header.
        reserved: one situation and the answer (:data:`SITUATION_RESERVE` +
            :data:`ANSWER_RESERVE`).
        example_tokens: each chosen example's tokens, in selection order.
        outliers_skipped: candidates left out as far longer than a typical one.
        measured_with: ``"the model's tokenizer"`` or ``"an approximation"``.
    """

    context_size: int
    fixed: int
    reserved: int
    example_tokens: tuple[int, ...] = ()
    outliers_skipped: int = 0
    measured_with: str = "an approximation"

    @property
    def available(self) -> int:
        """Tokens the examples may take in all."""
        return max(0, self.context_size - self.fixed - self.reserved)

    @property
    def used(self) -> int:
        """Tokens the chosen examples take (with the blank lines between them)."""
        return sum(self.example_tokens) + max(0, len(self.example_tokens) - 1)

    @property
    def prompt_tokens(self) -> int:
        """The new prompt's system part: policy, instructions and the examples."""
        return self.fixed + self.used

    def describe(self) -> str:
        """One line for the preview."""
        return (f"Examples: {self.used:,} tokens of the {self.available:,} that fit a "
                f"{self.context_size:,}-token context (policy and instructions "
                f"{self.fixed:,}, one situation and the answer {self.reserved:,}); "
                f"counted with {self.measured_with}.")


class TokenCountError(RuntimeError):
    """The tokenizer process failed."""


class GgufTokenCounter:
    """Counts tokens with a GGUF model's own tokenizer, in a child process.

    The child loads only the vocabulary (``llama_cpp.Llama(vocab_only=True)``, about
    2 s on first use) and answers one JSON list of counts per JSON list of texts.

    Args:
        model_path: the GGUF (None: the bundled model).
    """

    measured_with = "the model's tokenizer"

    def __init__(self, model_path: Path | str | None = None) -> None:
        self._model_path = str(model_path) if model_path else ""
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            process = self._started()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps(list(texts)) + "\n")
                process.stdin.flush()
                line = process.stdout.readline()
            except OSError as error:
                raise TokenCountError(f"the tokenizer process stopped: {error}") from error
            if not line:
                self.close()
                raise TokenCountError("the tokenizer process stopped")
            counts = json.loads(line)
            if isinstance(counts, dict):
                raise TokenCountError(str(counts.get("error", "tokenizer failed")))
            return [int(n) for n in counts]

    def _started(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "policy_desktop.engine.token_counter", self._model_path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, encoding="utf-8")
        return self._process

    def close(self) -> None:
        """Stop the child process."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
