"""Microsoft's password rules for cloud-only users, checked before Stratus accepts a
password for a user bound to a tenant, so that Microsoft never refuses it later
(behaviour P3). Source: Entra's password policy (length 8-256, three of four classes,
ASCII letters, digits, space and listed symbols only) and its banned-password scoring
(normalise, find banned terms, count: each term 1 point, each other character 1 point;
at least 5 points passes)."""

import string

MICROSOFT_SYMBOLS = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> "
ALLOWED = set(string.ascii_letters + string.digits + MICROSOFT_SYMBOLS)
_SUBSTITUTIONS = str.maketrans({"0": "o", "1": "l", "$": "s", "@": "a"})
# Microsoft's global list is not published; these are terms it is known to refuse.
BANNED_TERMS = (
    "password",
    "passw0rd",
    "welcome",
    "qwerty",
    "letmein",
    "admin",
    "login",
    "azure",
    "microsoft",
    "office",
    "winter",
    "spring",
    "summer",
    "autumn",
    "iloveyou",
    "monkey",
    "dragon",
    "abc123",
    "123456",
    "changeme",
)


def microsoft_password_problems(
    password: str, *, first_name: str = "", last_name: str = "", tenant_name: str = ""
) -> list[str]:
    """Every Microsoft rule the password breaks, in words; empty means Microsoft accepts it."""
    problems = []
    if not 8 <= len(password) <= 256:
        problems.append("Microsoft 365 requires 8 to 256 characters.")
    classes = [
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c in string.digits for c in password),
        any(c in MICROSOFT_SYMBOLS and c != " " for c in password),
    ]
    if sum(classes) < 3:
        problems.append(
            "Microsoft 365 requires three of: lowercase letters, uppercase letters, digits, "
            "symbols."
        )
    refused = sorted({c for c in password if c not in ALLOWED})
    if refused:
        shown = " ".join(refused[:5])
        problems.append(f"Microsoft 365 does not accept these characters: {shown}")
    if _banned_score(password, [first_name, last_name, tenant_name]) < 5:
        problems.append(
            "Microsoft 365 would refuse this password as too easy to guess "
            "(it is built on a common word or your name)."
        )
    return problems


def _banned_score(password: str, personal_terms: list[str]) -> int:
    text = password.lower().translate(_SUBSTITUTIONS)
    terms = [t for t in BANNED_TERMS] + [t.lower() for t in personal_terms if len(t) >= 4]
    found = 0
    for term in sorted(set(terms), key=len, reverse=True):
        term = term.translate(_SUBSTITUTIONS)
        if term and term in text:
            found += 1
            text = text.replace(term, "", 1)
    return found + len(text)
