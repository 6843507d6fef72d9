"""Fine-tuning the local model from reviewed corrections (Qt-free; torch only in children).

:mod:`.dataset` builds the training set from the export, :mod:`.training` trains a LoRA
adapter (run through :mod:`.process` in a spawned child), :mod:`.lora_gguf` writes it as a
llama.cpp adapter and :mod:`.registry` keeps the resulting model versions.
"""
