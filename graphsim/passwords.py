"""Entra's password policy for cloud users (graph-facts §2.8).

Length 8-256, three of four character classes, only the allowed ASCII set, and
Password Protection's banned-term scoring: normalise, find banned terms (fuzzy,
edit distance 1) plus the user's names and the tenant name, then count one point
per term found and one per remaining character; fewer than 5 points is rejected.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string

COMPLEXITY_MESSAGE = ("The specified password does not comply with password complexity "
                      "requirements. Please provide a different password.")
SYMBOLS = set("@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ")
ALLOWED = set(string.ascii_letters) | set(string.digits) | SYMBOLS
SUBSTITUTIONS = str.maketrans({"0": "o", "1": "l", "$": "s", "@": "a"})
# Microsoft's global list is not published; these are the classic offenders.
BANNED_TERMS = ("password", "passw0rd", "welcome", "qwerty", "letmein", "admin", "microsoft",
                "office", "summer", "winter", "spring", "autumn", "blank", "login", "iloveyou",
                "monkey", "dragon", "football", "baseball", "sunshine", "princess", "abc123",
                "changeme", "secret", "azure", "contoso")


def is_acceptable(password: str, *, names: tuple[str, ...] = (), strong: bool = True) -> bool:
    if not isinstance(password, str) or not 8 <= len(password) <= 256:
        return False
    if any(ch not in ALLOWED for ch in password):
        return False
    if not strong:
        return True
    classes = [any(c.islower() for c in password), any(c.isupper() for c in password),
               any(c.isdigit() for c in password), any(c in SYMBOLS for c in password)]
    if sum(classes) < 3:
        return False
    return _ban_score(password, names) >= 5


def _ban_score(password: str, names: tuple[str, ...]) -> int:
    text = password.lower().translate(SUBSTITUTIONS)
    terms = {t.translate(SUBSTITUTIONS) for t in BANNED_TERMS}
    terms |= {n.lower().translate(SUBSTITUTIONS) for n in names if n and len(n) >= 4}
    points = 0
    for term in sorted(terms, key=len, reverse=True):
        found = _find_fuzzy(text, term)
        while found is not None:
            start, end = found
            text = text[:start] + "\0" + text[end:]
            points += 1
            found = _find_fuzzy(text, term)
    return points + len(text.replace("\0", ""))


def _find_fuzzy(text: str, term: str) -> tuple[int, int] | None:
    """Position of `term` in `text` allowing one edit, or None."""
    exact = text.find(term)
    if exact >= 0:
        return exact, exact + len(term)
    if len(term) < 4:
        return None
    for size in (len(term), len(term) - 1, len(term) + 1):
        for start in range(0, len(text) - size + 1):
            window = text[start:start + size]
            if "\0" not in window and _within_one_edit(window, term):
                return start, start + size
    return None


def _within_one_edit(a: str, b: str) -> bool:
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    if len(a) > len(b):
        a, b = b, a
    for i in range(len(b)):
        if b[:i] + b[i + 1:] == a:
            return True
    return False


def hash_password(password: str) -> str:
    salt = os.urandom(8).hex()
    digest = hashlib.sha256((salt + password).encode()).hexdigest()
    return f"{salt}${digest}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or "$" not in stored:
        return False
    salt, digest = stored.split("$", 1)
    return hmac.compare_digest(hashlib.sha256((salt + password).encode()).hexdigest(), digest)
