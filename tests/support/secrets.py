"""The forms in which a secret could leak, for the tests that grep every output for secrets."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def described_secret_forms(secret: str, users: Iterable[str] = ()) -> dict[str, str]:
    """
    Every form in which ``secret`` could show, each with how it was made: ``{text: how}``.

    :param secret: The secret as given.
    :param users: Users it may be paired with in a ``Basic`` credential (a proxy's user, an access key id).
    """
    forms = {
        "raw": secret,
        "URL-encoded": quote(secret, safe=""),
        "URL-encoded, / kept": quote(secret),
        "form-encoded": quote_plus(secret),
        "base64": _b64(secret),
    }
    for user in users:
        forms[f"Basic {user}:..."] = _b64(f"{user}:{secret}")
        # What a proxy URL with credentials turns into once botocore decodes nothing: both quoted.
        forms[f"Basic {user}:..., URL-encoded"] = _b64(f"{quote(user, safe='')}:{quote(secret, safe='')}")
    described: dict[str, str] = {}
    for how, text in forms.items():
        described.setdefault(text, how)
    return described


def secret_forms(secret: str, user: str | None = None) -> set[str]:
    """
    Every form in which ``secret`` could leak: as is, URL- and form-encoded, base64, in a Basic credential.

    :param secret: The secret as given.
    :param user: The user it is paired with in a ``Basic`` credential, if any.
    """
    return set(described_secret_forms(secret, [user] if user is not None else []))


def find_leaks(texts: Mapping[str, str], forms: Mapping[str, str]) -> list[str]:
    """
    ``"<secret> (<form>) in <where>"`` for every form found in any text.

    :param texts: ``{where: text}``: what was searched.
    :param forms: ``{form: which secret, how}`` (e.g. from :func:`described_secret_forms`).
    """
    return [
        f"{description} in {where}"
        for where, text in texts.items()
        for form, description in forms.items()
        if form in text
    ]


def assert_no_leak(texts: Mapping[str, str], forms: Mapping[str, str]) -> None:
    """Fail naming every form of every secret found in any text (see :func:`find_leaks`)."""
    leaks = find_leaks(texts, forms)
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)
