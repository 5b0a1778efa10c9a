"""Entra's password policy for cloud users (graph-facts §2.8).

Length 8-256, three of four character classes, only the allowed ASCII set, and
Password Protection's banned-term scoring: normalise, find banned terms (fuzzy,
edit distance 1) plus the user's names and the tenant name, then count one point
per term found and one per remaining character; fewer than 5 points is rejected.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import string

COMPLEXITY_MESSAGE = (
    "The specified password does not comply with password complexity "
    "requirements. Please provide a different password."
)
SYMBOLS = set("@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ")
ALLOWED = set(string.ascii_letters) | set(string.digits) | SYMBOLS
SUBSTITUTIONS = str.maketrans({"0": "o", "1": "l", "$": "s", "@": "a"})
# Microsoft's global list is not published; these are the classic offenders.
BANNED_TERMS = (
    "password",
    "passw0rd",
    "welcome",
    "qwerty",
    "letmein",
    "admin",
    "microsoft",
    "office",
    "summer",
    "winter",
    "spring",
    "autumn",
    "blank",
    "login",
    "iloveyou",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "abc123",
    "changeme",
    "secret",
    "azure",
    "contoso",
)


def is_acceptable(password: str, *, names: tuple[str, ...] = (), strong: bool = True) -> bool:
    if not isinstance(password, str) or not 8 <= len(password) <= 256:
        return False
    if any(ch not in ALLOWED for ch in password):
        return False
    if not strong:
        return True
    classes = [
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(c in SYMBOLS for c in password),
    ]
    if sum(classes) < 3:
        return False
    return _ban_score(password, names) >= 5


@functools.cache
def _banned_terms() -> frozenset[str]:
    """The banned terms as a password is compared with them (translated once: every
    password set asks)."""
    return frozenset(t.translate(SUBSTITUTIONS) for t in BANNED_TERMS)


def _ban_score(password: str, names: tuple[str, ...]) -> int:
    text = password.lower().translate(SUBSTITUTIONS)
    terms = _banned_terms() | {
        n.lower().translate(SUBSTITUTIONS) for n in names if n and len(n) >= 4
    }
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
    # One edit changes one place, so a match holds one half of `term` unchanged: without
    # either half in `text` there is none, and no regex needs compiling (user names
    # are new terms for every account created).
    half = len(term) // 2
    if term[:half] not in text and term[half:] not in text:
        return None
    match = _fuzzy_pattern(term).search(text)
    return match.span() if match else None


@functools.lru_cache(maxsize=4096)
def _fuzzy_pattern(term: str) -> re.Pattern:
    """One regex for every spelling of `term` within edit distance 1 (matched in C,
    which keeps user creation fast). Short terms only match exactly."""
    if len(term) < 4:
        return re.compile(re.escape(term))
    any_char = "[^\0]"
    variants = []
    for i in range(len(term)):
        head, tail = re.escape(term[:i]), re.escape(term[i + 1 :])
        variants.append(head + any_char + tail)  # one substitution
        variants.append(head + tail)  # one deletion
    for i in range(len(term) + 1):
        variants.append(re.escape(term[:i]) + any_char + re.escape(term[i:]))  # insertion
    return re.compile("|".join(variants))


def hash_password(password: str) -> str:
    salt = os.urandom(8).hex()
    digest = hashlib.sha256((salt + password).encode()).hexdigest()
    return f"{salt}${digest}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or "$" not in stored:
        return False
    salt, digest = stored.split("$", 1)
    return hmac.compare_digest(hashlib.sha256((salt + password).encode()).hexdigest(), digest)
