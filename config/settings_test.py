"""Settings for the test suite (pyproject.toml): the production settings, over plain HTTP.

The test client and the live servers speak http://, so the suite opts out of the HTTPS
redirect, HSTS and secure cookies explicitly, as the demo and the benchmarks do. Tests of the
HTTPS behaviour turn those settings back on (tests/config/test_security.py).
"""

import os

# Before config.settings reads the environment; overrides a value set outside on purpose.
os.environ["EARSHOT_PLAIN_HTTP"] = "true"
# DEBUG is off here, as in production; the demo app is installed the way a demo instance
# installs it, so its tests and its routes in the permission matrix run.
os.environ["EARSHOT_DEMO"] = "true"

from config.settings import *  # noqa: E402, F403

# Django's "speeding up the tests": PBKDF2 at 1,000,000 iterations takes half a second a
# password, and the suite creates users and signs them in by password thousands of times.
# Production keeps the default hashers (config/settings.py); nothing here tests hash strength.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The suite runs in one process on two cores: the embedder may use both. Its longest test
# embeds the 7,313 airline texts (tests/bench/test_sentiment_eval.py).
EARSHOT_EMBED_THREADS = 2
