"""Slow: fine-tuning the real bundled Gemma 3 270M for a few steps, then running the
adapter in llama.cpp through the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_desktop.engine.bundled_model import bundled_model_path
from policy_desktop.engine.llm import EngineSettings, PolicyModel
from policy_desktop.engine.prompts import (
    PromptCatalog,
    build_system,
    build_user,
    format_answer,
    format_situation,
)
from policy_desktop.finetune.dataset import TUNED_PROMPT_VERSION, TrainingExample, TrainingSet
from policy_desktop.finetune.pipeline import FinetuneRequest, finetune
from policy_desktop.finetune.registry import ModelRegistry
from policy_desktop.finetune.settings import TrainSettings
from policy_desktop.finetune.synthetic import generate
from policy_desktop.finetune.training import TrainOutcome

pytestmark = pytest.mark.slow


def _data(count: int) -> TrainingSet:
    system = build_system(PromptCatalog().get(TUNED_PROMPT_VERSION), "")
    examples = tuple(
        TrainingExample(decision_id=f"syn{i:04d}",
                        situation=format_situation(item.situation, item.team_context),
                        answer=format_answer(item.decision, "access_request", item.risk_level,
                                             item.reasoning), decision=item.decision)
        for i, item in enumerate(generate(count, seed=7)))
    return TrainingSet(examples=examples, system=system, prompt_version=TUNED_PROMPT_VERSION)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainOutcome, Path]:
    registry = ModelRegistry(tmp_path_factory.mktemp("models"))
    settings = TrainSettings(learning_rate=1e-3, max_steps=6, eval_every=6, batch_size=4,
                             validation_fraction=0.25)
    request = FinetuneRequest(data=_data(48), base_model=bundled_model_path(), name="slow",
                              settings=settings)
    outcome, model = finetune(request, lambda _event: None, registry=registry)
    assert model is not None
    return outcome, model.adapter_path


def test_a_few_steps_lower_the_validation_loss(trained: tuple[TrainOutcome, Path]) -> None:
    outcome, _ = trained
    assert outcome.steps == 6
    assert outcome.before is not None and outcome.after is not None
    assert outcome.after.loss < outcome.before.loss


def test_the_adapter_loads_in_llama_cpp_and_changes_the_answers(
        trained: tuple[TrainOutcome, Path]) -> None:
    _, adapter = trained
    system = build_system(PromptCatalog().get(TUNED_PROMPT_VERSION), "")
    users = [build_user(item.situation, item.team_context) for item in generate(4, seed=99)]

    def answers(lora: Path | None) -> list[tuple[str, float | None]]:
        with PolicyModel(EngineSettings(lora_path=lora, max_tokens=48)) as model:
            return [(a.full_response, a.confidence)
                    for a in (model.decide(system, user) for user in users)]

    plain, tuned = answers(None), answers(adapter)
    assert plain != tuned
    assert any(abs((p[1] or 0) - (t[1] or 0)) > 1e-3 for p, t in zip(plain, tuned, strict=True))
