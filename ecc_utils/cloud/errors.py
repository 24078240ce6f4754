"""The teacher's errors, and keeping API keys out of every message."""

from __future__ import annotations

import os

GEMINI_KEY_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
OPENAI_KEY_VAR = "OPENAI_API_KEY"


class TeacherError(RuntimeError):
    """A teacher call that cannot be completed; the message says what to do."""


class CacheMissError(TeacherError):
    """Replay mode found no recorded answer for a query."""


class MalformedResponseError(TeacherError):
    """A backend answered with a body that holds no usable answer."""


class BatchItemsFailed(TeacherError):
    """A batch job failed some items; every other answer is cached, the failures reported."""

    def __init__(self, message: str, failures: list | None = None):
        super().__init__(message)
        self.failures = failures or []


def _secrets() -> list[str]:
    names = (*GEMINI_KEY_VARS, OPENAI_KEY_VAR)
    return [v for v in (os.environ.get(n) for n in names) if v and len(v) >= 4]


def scrub(text: str) -> str:
    """`text` with every API key found in the environment replaced by ``***``."""
    for s in _secrets():
        text = text.replace(s, "***")
    return text
