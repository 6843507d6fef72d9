"""A parent process for the orphan test: starts a long training, prints the child's pid
and then one line per event, until it is killed."""

from __future__ import annotations

import sys
from pathlib import Path

from tiny_gemma import tiny_model, tiny_sets, write_base_gguf

from policy_desktop.finetune.base_model import file_sha256
from policy_desktop.finetune.process import TrainingProcess
from policy_desktop.finetune.settings import TrainSettings
from policy_desktop.finetune.training import TrainJob


def main(folder: Path) -> None:
    base = write_base_gguf(tiny_model(), folder / "tiny.gguf")
    train_set, validation = tiny_sets()
    job = TrainJob(base_model=base, base_sha256=file_sha256(base), architecture="gemma3",
                   train=train_set, validation=validation, work_dir=folder / "work",
                   settings=TrainSettings(rank=4, epochs=500, threads=1, dropout=0.0))
    process = TrainingProcess(job)
    process.start()
    print(process.pid, flush=True)
    for event in process.events():
        print(type(event).__name__, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
