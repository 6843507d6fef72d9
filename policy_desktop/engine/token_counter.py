"""``python -m policy_desktop.engine.token_counter MODEL``: a model's token counts, in a child.

The export's few-shot budget counts tokens with the target model's own tokenizer
(llama.cpp with ``vocab_only``: the vocabulary without the weights) in a separate process,
so neither llama.cpp nor a crash in it reaches the window. One JSON list of texts per line
on standard input; one JSON list of counts (or ``{"error": ...}``) per line out.
"""

from __future__ import annotations

import json
import sys


def serve(model_path: str) -> int:
    """The child's loop: a JSON list of texts per line in, their counts out."""
    try:
        from llama_cpp import Llama

        if not model_path:
            from policy_desktop.engine.bundled_model import bundled_model_path

            model_path = str(bundled_model_path())
        vocab = Llama(model_path, vocab_only=True, verbose=False)
    except Exception as error:  # reported on the first request
        failure = json.dumps({"error": f"cannot load the tokenizer of {model_path}: {error}"})
        for _line in sys.stdin:
            print(failure, flush=True)
        return 1
    for line in sys.stdin:
        texts = json.loads(line)
        counts = [len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))
                  for text in texts]
        print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1] if len(sys.argv) > 1 else ""))
