"""Semantic evaluation: sentence splitting, scoring rules and the real MiniLM embedder."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from policy_desktop.engine.embeddings import Embedder, default_embedding_model_path
from policy_desktop.engine.evaluation import (
    DEFAULT_MATCH_THRESHOLD,
    DEFAULT_PASS_COVERAGE,
    Evaluation,
    SemanticEvaluator,
    split_sentences,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


class TableEncoder:
    """Fake encoder: fixed vectors by text (unknown texts get a vector orthogonal to all)."""

    def __init__(self, table: dict[str, Sequence[float]]) -> None:
        self.table = table
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [self.table.get(text, [0.0, 0.0, 0.0, 1.0]) for text in texts]
        array = np.array(rows, dtype=np.float32).reshape(len(texts), 4)
        return array / np.linalg.norm(array, axis=1, keepdims=True)


def never_encode() -> TableEncoder:
    encoder = TableEncoder({})

    def fail(texts: Sequence[str]) -> np.ndarray:
        raise AssertionError(f"the embedder should not be used: {texts!r}")

    encoder.encode = fail  # type: ignore[method-assign]
    return encoder


# --- split_sentences ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   \n\t ", []),
        ("Deny access.", ["Deny access."]),
        ("Deny access. MFA is missing!  Why? Policy 4", [
            "Deny access.", "MFA is missing!", "Why?", "Policy 4",
        ]),
        ("Off-hours login; unknown device; no ticket", [
            "Off-hours login", "unknown device", "no ticket",
        ]),
        ("First line\nSecond line\r\n\nThird", ["First line", "Second line", "Third"]),
        ("- admin role\n* prod database\n• weekend\n1. first\n2) second\n(a) third", [
            "admin role", "prod database", "weekend", "first", "second", "third",
        ]),
        ("Risks: • new device • foreign IP", ["Risks:", "new device", "foreign IP"]),
        ("Score 2.5 exceeds 1.0 on prod.db. Deny.", ["Score 2.5 exceeds 1.0 on prod.db.", "Deny."]),
        ("Use a second factor, e.g. a hardware key. Deny otherwise.", [
            "Use a second factor, e.g. a hardware key.", "Deny otherwise.",
        ]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("Wait... what?! ---\n...\n  ;; ", ["Wait...", "what?!"]),
    ],
)  # fmt: skip
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# --- validation and scoring rules (fake encoder) ----------------------------------------


def test_defaults() -> None:
    assert DEFAULT_MATCH_THRESHOLD == 0.5
    assert DEFAULT_PASS_COVERAGE == 0.5
    evaluator = SemanticEvaluator(never_encode())
    assert evaluator.match_threshold == 0.5
    assert evaluator.pass_coverage == 0.5


@pytest.mark.parametrize("name", ["match_threshold", "pass_coverage"])
@pytest.mark.parametrize("value", [-0.01, 1.01, float("nan"), float("inf"), True, "0.5", None])
def test_thresholds_outside_zero_to_one_are_rejected(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        SemanticEvaluator(never_encode(), **{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0, 0.73])
def test_thresholds_at_and_inside_the_bounds_are_accepted(value: float) -> None:
    evaluator = SemanticEvaluator(never_encode(), match_threshold=value, pass_coverage=value)
    assert evaluator.match_threshold == evaluator.pass_coverage == float(value)


def test_no_key_points_means_full_coverage_without_embedding() -> None:
    evaluator = SemanticEvaluator(never_encode())
    assert evaluator.coverage("Anything at all.", []) == (1.0, (), ())
    assert evaluator.coverage(None, ()) == (1.0, (), ())


@pytest.mark.parametrize("reasoning", [None, "", "   \n "])
def test_empty_reasoning_covers_nothing_without_embedding(reasoning: str | None) -> None:
    evaluator = SemanticEvaluator(never_encode())
    assert evaluator.coverage(reasoning, ["a", "b"]) == (0.0, (False, False), (0.0, 0.0))


def test_blank_key_points_are_rejected() -> None:
    with pytest.raises(ValueError, match="blank"):
        SemanticEvaluator(never_encode()).coverage("Deny.", ["ok", "  "])


def test_a_single_string_is_not_a_list_of_key_points() -> None:
    with pytest.raises(TypeError):
        SemanticEvaluator(never_encode()).coverage("Deny.", "one key point")


def test_points_match_the_whole_reasoning_or_any_sentence() -> None:
    reasoning = "Sentence A. Sentence B."
    encoder = TableEncoder(
        {
            reasoning: [1.0, 0.0, 0.0, 0.0],
            "Sentence A.": [0.0, 1.0, 0.0, 0.0],
            "Sentence B.": [0.0, 0.0, 1.0, 0.0],
            "like the whole": [1.0, 0.0, 0.0, 0.0],
            "like A": [0.0, 1.0, 0.0, 0.0],
            "half B": [0.0, 0.0, 0.5, math.sqrt(0.75)],
            "nothing": [0.0, 0.0, 0.0, 1.0],
        }
    )
    evaluator = SemanticEvaluator(encoder, match_threshold=0.5)
    coverage, matched, best = evaluator.coverage(
        reasoning, ["like the whole", "like A", "half B", "nothing"]
    )
    assert matched == (True, True, True, False)  # 0.5 is exactly the threshold: matched
    assert coverage == pytest.approx(3 / 4)
    assert best == pytest.approx((1.0, 1.0, 0.5, 0.0), abs=1e-6)
    assert len(encoder.calls) == 1  # one batch: reasoning, its sentences, the key points


def test_single_sentence_reasoning_is_embedded_once() -> None:
    encoder = TableEncoder({"Deny it": [1.0, 0.0, 0.0, 0.0], "deny": [1.0, 0.0, 0.0, 0.0]})
    SemanticEvaluator(encoder).coverage("  Deny it ", ["deny"])
    assert encoder.calls == [["Deny it", "deny"]]


def _evaluator_with_full_coverage() -> SemanticEvaluator:
    return SemanticEvaluator(TableEncoder({"Because.": [1, 0, 0, 0], "because": [1, 0, 0, 0]}))


@pytest.mark.parametrize(
    ("decision", "expected", "correct", "passed"),
    [
        ("deny", "deny", True, True),
        (" Deny ", "deny", True, True),  # trimmed, case-insensitive
        ("allow", "deny", False, False),
        ("unparseable", "deny", False, False),
        ("unparseable", "unparseable", False, False),  # never correct
        ("deny", None, None, False),  # no expectation: neither correct nor passed
    ],
)
def test_evaluate_decision(
    decision: str, expected: str | None, correct: bool | None, passed: bool
) -> None:
    result = _evaluator_with_full_coverage().evaluate(
        decision=decision, reasoning="Because.", expected_decision=expected, key_points=["because"]
    )
    assert result == Evaluation(
        decision_correct=correct,
        reasoning_coverage=1.0,
        matched_points=(True,),
        best_similarities=pytest.approx((1.0,)),  # type: ignore[arg-type]
        passed=passed,
    )


def test_passing_needs_the_coverage_threshold() -> None:
    table = {"A. B.": [1, 0, 0, 0], "A.": [1, 0, 0, 0], "B.": [0, 1, 0, 0]}
    table |= {"a": [1, 0, 0, 0], "b": [0, 1, 0, 0], "c": [0, 0, 1, 0]}
    points = ["a", "b", "c"]

    strict = SemanticEvaluator(TableEncoder(table), pass_coverage=0.7)
    result = strict.evaluate(
        decision="deny", reasoning="A. B.", expected_decision="deny", key_points=points
    )
    assert result.decision_correct is True
    assert result.reasoning_coverage == pytest.approx(2 / 3)
    assert result.matched_points == (True, True, False)
    assert result.passed is False

    lenient = SemanticEvaluator(TableEncoder(table), pass_coverage=2 / 3)
    assert lenient.evaluate(
        decision="deny", reasoning="A. B.", expected_decision="deny", key_points=points
    ).passed


def test_decision_only_scenarios_never_load_the_model() -> None:
    result = SemanticEvaluator(never_encode()).evaluate(
        decision="allow", reasoning="Fine.", expected_decision="allow", key_points=[]
    )
    assert result == Evaluation(True, 1.0, (), (), True)


def test_importing_evaluation_and_embeddings_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import policy_desktop.engine.evaluation, policy_desktop.engine.embeddings\n"
        "from policy_desktop.engine.embeddings import Embedder\n"
        "Embedder()\n"
        "heavy = {'torch', 'sentence_transformers', 'transformers', 'PySide6', 'llama_cpp'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_embedder_rejects_a_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Embedder(batch_size=0)


# --- the real all-MiniLM-L6-v2 model ----------------------------------------------------


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    yield Embedder()


@pytest.fixture(scope="module")
def evaluator(embedder: Embedder) -> SemanticEvaluator:
    return SemanticEvaluator(embedder)


@pytest.mark.slow
def test_packaged_model_path_exists() -> None:
    path = default_embedding_model_path()
    assert path.is_dir()


@pytest.mark.slow
def test_encode_returns_normalised_float32_rows(embedder: Embedder) -> None:
    vectors = embedder.encode(["Deny the request.", "Allow it.", "Require MFA first."])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(3), abs=1e-5)
    assert embedder.load_seconds is not None and embedder.load_seconds > 0
    assert embedder.dimension == 384

    empty = embedder.encode([])
    assert empty.shape == (0, 384)
    assert empty.dtype == np.float32
    with pytest.raises(TypeError):
        embedder.encode("a single string")


@pytest.mark.slow
def test_encode_is_deterministic(embedder: Embedder) -> None:
    texts = ["Contractor requests production database access at 3am."]
    np.testing.assert_array_equal(embedder.encode(texts), embedder.encode(texts))


@pytest.mark.slow
def test_a_paraphrase_scores_higher_than_an_unrelated_sentence(
    evaluator: SemanticEvaluator,
) -> None:
    key_point = "The request comes from an unrecognised device."
    paraphrased = "This access request originates from a device that is not recognised."
    _, _, paraphrase = evaluator.coverage(paraphrased, [key_point])
    _, _, unrelated = evaluator.coverage("The cafeteria serves pasta on Fridays.", [key_point])
    assert paraphrase[0] > unrelated[0] + 0.2
    assert paraphrase[0] >= DEFAULT_MATCH_THRESHOLD > unrelated[0]


@pytest.mark.slow
def test_reasoning_stating_two_of_three_key_points(evaluator: SemanticEvaluator) -> None:
    key_points = [
        "The user does not have multi-factor authentication enabled.",
        "The access is to the production database.",
        "The user's manager approved the request in advance.",
    ]
    reasoning = (
        "This account has no MFA configured, so the login cannot be trusted. "
        "The target is the production database, which holds customer records."
    )
    coverage, matched, best = evaluator.coverage(reasoning, key_points)
    assert matched == (True, True, False)
    assert coverage == pytest.approx(2 / 3)
    assert best[2] < DEFAULT_MATCH_THRESHOLD <= min(best[:2])


@pytest.mark.slow
def test_empty_reasoning_covers_nothing(evaluator: SemanticEvaluator) -> None:
    assert evaluator.coverage("", ["The user has admin rights."]) == (0.0, (False,), (0.0,))


@pytest.mark.slow
def test_a_point_buried_in_a_long_reasoning_is_found_by_its_sentence(
    embedder: Embedder, evaluator: SemanticEvaluator
) -> None:
    key_point = "The login comes from a country the employee has never worked from."
    buried = "The sign-in originated in a country where this employee has never worked."
    reasoning = " ".join(
        [
            "The team policy requires a review of every change to payroll settings.",
            "Payroll data is classified as confidential and is owned by the finance group.",
            "The requester belongs to the engineering department and holds a developer role.",
            "Developers are normally granted read-only access to staging environments only.",
            buried,
            "The ticket referenced in the request was closed two weeks ago.",
            "There is no record of a manager approving an exception for this access.",
            "Given the sensitivity of the system, the safest response is to deny.",
        ]
    )
    whole, sentence = embedder.encode([reasoning, buried]) @ embedder.encode([key_point])[0]
    assert whole < DEFAULT_MATCH_THRESHOLD <= sentence  # only the sentence-level match finds it

    coverage, matched, best = evaluator.coverage(reasoning, [key_point])
    assert matched == (True,)
    assert coverage == 1.0
    assert best[0] == pytest.approx(float(sentence), abs=1e-4)


@pytest.mark.slow
def test_evaluate_end_to_end(evaluator: SemanticEvaluator) -> None:
    result = evaluator.evaluate(
        decision="require_mfa",
        reasoning="The device is new. A second factor should confirm the user's identity.",
        expected_decision="require_mfa",
        key_points=["The device is unknown.", "Multi-factor authentication verifies identity."],
    )
    assert result.decision_correct is True
    assert result.reasoning_coverage == 1.0
    assert result.passed is True
