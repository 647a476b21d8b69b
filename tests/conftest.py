"""Shared test configuration.

Hypothesis profiles, chosen by the environment variable ``HYPOTHESIS_PROFILE``:

* ``ci``: derandomized (the same examples every run) and no deadline, so a slow shared machine
  cannot make a test flaky; the default when ``CI`` is set;
* ``dev``: the default elsewhere, fewer examples for a quick edit-test loop;
* ``thorough``: many examples, for a long run before a release.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
