"""Settings for the whole suite. Hypothesis runs derandomized (the same examples every run, so
a failure reproduces and CI is deterministic) and with no deadline: no test asserts how fast
anything ran, and a loaded machine must not fail one."""

from hypothesis import settings

settings.register_profile("origin", derandomize=True, deadline=None, database=None)
settings.load_profile("origin")
