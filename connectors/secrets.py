"""Secrets from the environment or a secret file; never logged, never in a repr."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from engine.identity import Pseudonymiser

KEY_ENV = "LIFELINE_PSEUDONYM_KEY"
KEY_ID_ENV = "LIFELINE_PSEUDONYM_KEY_ID"
KEY_FILE_ENV = "LIFELINE_PSEUDONYM_KEY_FILE"
DEFAULT_KEY_ID = "k1"


class SecretError(ValueError):
    """A secret is missing or malformed; the message never holds the secret."""


def pseudonymiser_from_env(environ: Mapping[str, str] | None = None) -> Pseudonymiser:
    """The pseudonymiser for the key the environment names.

    ``LIFELINE_PSEUDONYM_KEY_FILE`` names a file whose first line is
    ``<key id>:<secret>``; otherwise ``LIFELINE_PSEUDONYM_KEY`` holds the secret
    and ``LIFELINE_PSEUDONYM_KEY_ID`` its id (default ``k1``).
    """
    env = os.environ if environ is None else environ
    key_file = env.get(KEY_FILE_ENV)
    if key_file:
        try:
            line = Path(key_file).read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            raise SecretError(
                f"{KEY_FILE_ENV}: cannot read key file {key_file}: {type(exc).__name__}"
            ) from None
        key_id, sep, secret = line.partition(":")
        if not sep:
            raise SecretError(f"{KEY_FILE_ENV}: {key_file} must hold one line '<key id>:<secret>'")
    else:
        secret = env.get(KEY_ENV, "")
        key_id = env.get(KEY_ID_ENV, DEFAULT_KEY_ID)
        if not secret:
            raise SecretError(
                f"the pseudonymisation key is required: set {KEY_ENV} (and {KEY_ID_ENV}) "
                f"or {KEY_FILE_ENV}; see docs/privacy.md"
            )
    try:
        return Pseudonymiser(key_id.strip(), secret.encode("utf-8"))
    except ValueError as exc:
        raise SecretError(str(exc)) from None
