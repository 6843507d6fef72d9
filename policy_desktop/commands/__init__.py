"""One module per ``policy-desktop`` sub-command; each exposes ``run(args) -> int``."""
