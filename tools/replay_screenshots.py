"""Screenshots of the replay dialog with results: ``.venv/bin/python tools/replay_screenshots.py``.

A developer tool (run from a checkout). Renders offscreen at 1280x800, light and dark,
into ``docs/screenshots/replay-1280x800-results[-dark].png``: 600 made-up decisions
(40 % reviewed), the newest 200 reviewed replayed by a scripted candidate that decides
by the demo data's own rules with 12 % random mistakes (no model is loaded), the
``deny → allow`` cell clicked and the breakdown by role.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

from policy_desktop.engine.llm import EngineSettings, ModelAnswer  # noqa: E402
from policy_desktop.store import PolicyDecisionLog  # noqa: E402
from policy_desktop.store.queries import DecisionFilter  # noqa: E402
from policy_desktop.ui.replay_dialog import ReplayDialog  # noqa: E402
from policy_desktop.ui.replay_worker import ReplayController  # noqa: E402
from policy_desktop.ui.theme import Theme  # noqa: E402
from tools.demo_data import _expected, build_demo_log  # noqa: E402


@dataclass(frozen=True)
class _Info:
    name: str = "gemma-3-270m-tuned"
    quantization: str = "Q4_K_M"
    path: str = "/nowhere/tuned.gguf"


class ScriptedCandidate:
    """Decides by the demo data's rules, with a fixed share of random mistakes."""

    def __init__(self) -> None:
        self.info = _Info()
        self.settings = EngineSettings()
        self.load_seconds = 0.0
        self._rng = random.Random(3)

    def decide(self, system: str, user: str, **_: object) -> ModelAnswer:
        fields = dict(re.findall(r"^(\w+): (.*)$", user, re.M))
        decision = _expected(fields.get("role", ""), fields.get("action", ""),
                             fields.get("target", ""), fields.get("mfa_verified") == "true",
                             float(fields.get("trust_score", 0.5)))
        if self._rng.random() < 0.12:
            decision = self._rng.choice(["allow", "deny", "require_mfa", "require_attestation"])
        text = json.dumps({"decision": decision, "reasoning": "Scripted."})
        return ModelAnswer(decision=decision, classification="scripted", risk_level="low",
                           reasoning="Scripted.", full_response=text, confidence=0.8,
                           prompt_tokens=50, evaluated_tokens=50, generated_tokens=20,
                           prefill_seconds=0.0, decode_seconds=0.0, seconds=0.0)

    def close(self) -> None:
        pass


def shoot(app: QApplication, database: Path, theme: str, out: Path) -> None:
    Theme(theme).apply(app)
    controller = ReplayController(model_factory=lambda *_: ScriptedCandidate())
    dialog = ReplayDialog(controller, str(database), table_filter=DecisionFilter(view="reviewed"),
                          candidate_prompt="v3_tuned_short", newest=200)
    dialog.resize(1280, 800)
    dialog.show()
    done: list[object] = []
    controller.worker.finished.connect(done.append)
    deadline = time.monotonic() + 60
    while dialog.choices is None and time.monotonic() < deadline:
        app.processEvents()
    dialog.start_replay()
    while not done and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    for _ in range(20):
        app.processEvents()
    assert dialog.report is not None, "the replay did not finish"
    labels = dialog.report.labels()
    row, column = labels.index("deny"), labels.index("allow")
    dialog.matrix.setCurrentCell(row, column)
    dialog.matrix.cellClicked.emit(row, column)
    dialog.breakdown_field.setCurrentText("role")
    for _ in range(20):
        app.processEvents()
    dialog.grab().save(str(out))
    print(out)
    dialog.close()
    controller.shutdown()


def main() -> int:
    target = ROOT / "docs" / "screenshots"
    app = QApplication([])
    for theme, suffix in (("light", ""), ("dark", "-dark")):
        with tempfile.TemporaryDirectory() as folder:
            database = Path(folder) / "demo.db"
            with PolicyDecisionLog(database) as log:
                build_demo_log(log, 600, reviewed_share=0.4)
            shoot(app, database, theme, target / f"replay-1280x800-results{suffix}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
