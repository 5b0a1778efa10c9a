"""The slice of OData that Graph's directory endpoints accept: $filter, $search,
$select, $orderby and opaque paging tokens.

Filters are parsed into small tuples and evaluated in Python. The parser also
reports which operators a filter uses, so the caller can enforce Microsoft's
"advanced query" rule (ne, not, endsWith need ConsistencyLevel + $count=true).
"""

from __future__ import annotations

import base64
import json
import re

from graphsim.errors import GraphError, unsupported_query

ADVANCED_HINT = (
    "is not supported because the required parameters might be missing. Try "
    "adding $count=true query parameter and ConsistencyLevel:eventual header. "
    "Refer to https://aka.ms/graph-docs/advanced-queries for more information"
)

TOKEN_RE = re.compile(
    r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_/.]*)
    )""",
    re.VERBOSE,
)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}


def bad_filter(detail: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Invalid filter clause: {detail}")


def tokenize(text: str) -> list[tuple[str, object]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise bad_filter(f"Syntax error at position {pos} in '{text}'.")
        pos = match.end()
        kind = match.lastgroup
        raw = match.group(kind)
        if kind == "str":
            tokens.append(("lit", raw[1:-1].replace("''", "'")))
        elif kind == "guid":
            tokens.append(("lit", raw))
        elif kind == "num":
            tokens.append(("lit", float(raw) if "." in raw else int(raw)))
        elif kind == "punct":
            tokens.append((raw, raw))
        elif raw in ("true", "false"):
            tokens.append(("lit", raw == "true"))
        elif raw == "null":
            tokens.append(("lit", None))
        else:
            tokens.append(("word", raw))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class FilterParser:
    """Recursive descent: or > and > not > comparison/function."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.operators: set[str] = set()
        self.properties: set[str] = set()

    def parse(self):
        node = self._or()
        if self.pos != len(self.tokens):
            raise bad_filter(f"Syntax error at position {self.pos} in '{self.text}'.")
        return node

    def _peek(self, offset: int = 0):
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None)

    def _take(self, kind: str | None = None, value: str | None = None):
        token = self._peek()
        if token[0] is None or (kind and token[0] != kind) or (value and token[1] != value):
            raise bad_filter(f"Syntax error at position {self.pos} in '{self.text}'.")
        self.pos += 1
        return token

    def _is_word(self, value: str) -> bool:
        kind, raw = self._peek()
        return kind == "word" and str(raw).lower() == value

    def _or(self):
        node = self._and()
        while self._is_word("or"):
            self.pos += 1
            node = ("or", node, self._and())
        return node

    def _and(self):
        node = self._not()
        while self._is_word("and"):
            self.pos += 1
            node = ("and", node, self._not())
        return node

    def _not(self):
        if self._is_word("not"):
            self.pos += 1
            self.operators.add("not")
            return ("not", self._not())
        return self._atom()

    def _atom(self):
        kind, raw = self._peek()
        if kind == "(":
            self.pos += 1
            node = self._or()
            self._take(")")
            return node
        if kind != "word":
            raise bad_filter(f"Syntax error at position {self.pos} in '{self.text}'.")
        if self._peek(1)[0] == "(":
            return self._function()
        prop = self._take("word")[1]
        self.properties.add(prop)
        op_kind, op = self._take("word")
        op = op.lower()
        if op == "in":
            self.operators.add("in")
            return ("in", prop, self._list())
        if op not in COMPARISONS:
            raise bad_filter(f"Syntax error at position {self.pos} in '{self.text}'.")
        self.operators.add(op)
        return (op, prop, self._take("lit")[1])

    def _function(self):
        name = self._take("word")[1]
        lowered = name.lower()
        self._take("(")
        prop = self._take("word")[1]
        self._take(",")
        value = self._take("lit")[1]
        self._take(")")
        if lowered not in ("startswith", "endswith"):
            raise bad_filter(f"An unknown function with name '{name}' was found.")
        self.properties.add(prop)
        self.operators.add("endsWith" if lowered == "endswith" else "startsWith")
        return (lowered, prop, value)

    def _list(self):
        self._take("(")
        values = [self._take("lit")[1]]
        while self._peek()[0] == ",":
            self.pos += 1
            values.append(self._take("lit")[1])
        self._take(")")
        return values


def _get(obj: dict, prop: str):
    return obj.get(prop)


def _norm(value):
    return value.lower() if isinstance(value, str) else value


def evaluate(node, obj: dict) -> bool:
    op = node[0]
    if op == "or":
        return evaluate(node[1], obj) or evaluate(node[2], obj)
    if op == "and":
        return evaluate(node[1], obj) and evaluate(node[2], obj)
    if op == "not":
        return not evaluate(node[1], obj)
    value = _norm(_get(obj, node[1]))
    if op == "in":
        return value in [_norm(v) for v in node[2]]
    if op in ("startswith", "endswith"):
        if not isinstance(value, str):
            return False
        needle = str(node[2]).lower()
        return value.startswith(needle) if op == "startswith" else value.endswith(needle)
    target = _norm(node[2])
    if op == "eq":
        return value == target
    if op == "ne":
        return value != target
    if value is None or target is None:
        return False
    return {
        "gt": value > target,
        "ge": value >= target,
        "lt": value < target,
        "le": value <= target,
    }[op]


def parse_filter(
    text: str, *, resource: str, allowed: set[str], advanced_only: set[str], advanced: bool
):
    """Parse a $filter and enforce Microsoft's advanced-query rules."""
    parser = FilterParser(text)
    node = parser.parse()
    if not advanced:
        for op in ("ne", "not", "endsWith"):
            if op in parser.operators:
                raise unsupported_query(f"Operator '{op}' {ADVANCED_HINT}")
    for prop in parser.properties:
        if prop not in allowed or (prop in advanced_only and not advanced):
            raise unsupported_query(
                "Unsupported or invalid query filter clause specified for property "
                f"'{prop}' of resource '{resource}'."
            )
    return node


SEARCH_CLAUSE = re.compile(r'"([A-Za-z]+):([^"]*)"|(AND|OR)', re.IGNORECASE)


def parse_search(text: str, searchable: set[str]):
    """`"displayName:ann" AND "mail:contoso"` -> list of (joiner, property, words)."""
    clauses, joiner = [], "AND"
    rest = text.strip()
    for match in SEARCH_CLAUSE.finditer(rest):
        if match.group(3):
            joiner = match.group(3).upper()
            continue
        prop, words = match.group(1), match.group(2)
        if prop not in searchable:
            raise GraphError(
                400, "Request_UnsupportedQuery", f"Unsupported property '{prop}' in $search."
            )
        clauses.append((joiner, prop, words.lower().split()))
    if not clauses:
        raise GraphError(
            400,
            "BadRequest",
            f"Syntax error: character '{text[:1]}' is not valid at position 0 in '$search'.",
        )
    return clauses


def search_matches(clauses, obj: dict) -> bool:
    result = None
    for joiner, prop, words in clauses:
        value = str(obj.get(prop) or "").lower()
        tokens = re.split(r"[\s@._-]+", value)
        hit = all(any(t.startswith(w) for t in tokens) for w in words)
        if result is None:
            result = hit
        elif joiner == "OR":
            result = result or hit
        else:
            result = result and hit
    return bool(result)


def encode_token(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict | None:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def parse_select(text: str | None, known: set[str], resource: str) -> list[str] | None:
    if not text:
        return None
    fields = [f.strip() for f in text.split(",") if f.strip()]
    for name in fields:
        if name not in known:
            raise GraphError(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{resource}'.",
            )
    return fields
