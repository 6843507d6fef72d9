"""Qt-free policy engine core: the scenario suite, the team policy and the prompt versions."""
