"""A small, safe expression language for rewards over metrics (no ``eval``).

Numbers, metric names, ``+ - * / % **``, unary ``-``/``+``, parentheses, and the functions
``min max abs log log2 log10 exp sqrt clip``. Metric names may contain letters, digits, ``_``
and ``.`` and must start with a letter or ``_``.

    >>> Expression("throughput / (1 + p95_ms / 100)").evaluate({"throughput": 200, "p95_ms": 100})
    100.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Expression", "ExpressionError"]


MAX_LENGTH = 2000


class ExpressionError(ValueError):
    """An expression that does not parse, or that cannot be evaluated for the given metrics."""


_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_][\w.]*)|(\*\*|[-+*/%(),]))")

_FUNCTIONS: dict[str, tuple[int, int, Callable[..., float]]] = {
    "min": (1, 64, min),
    "max": (1, 64, max),
    "abs": (1, 1, abs),
    "log": (1, 1, math.log),
    "log2": (1, 1, math.log2),
    "log10": (1, 1, math.log10),
    "exp": (1, 1, math.exp),
    "sqrt": (1, 1, math.sqrt),
    "clip": (3, 3, lambda x, lo, hi: min(max(x, lo), hi)),
}


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op", "end"
    text: str
    position: int


def _tokenize(source: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None:
            column = len(source) - len(source[position:].lstrip())
            raise ExpressionError(_pointing(source, column, f"unexpected character {source[column]!r}"))
        number, name, op = match.groups()
        start = match.start(match.lastindex or 0)
        if number is not None:
            tokens.append(_Token("number", number, start))
        elif name is not None:
            tokens.append(_Token("name", name, start))
        else:
            tokens.append(_Token("op", op, start))
        position = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


def _pointing(source: str, column: int, message: str) -> str:
    return f"{message} at column {column + 1}:\n  {source}\n  {' ' * column}^"


_Node = Callable[[Mapping[str, float]], float]


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.index = 0
        self.names: set[str] = set()

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, token: _Token, message: str) -> ExpressionError:
        return ExpressionError(_pointing(self.source, token.position, message))

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text or token.kind != "op":
            found = "the end" if token.kind == "end" else repr(token.text)
            raise self.fail(token, f"expected {text!r} but found {found}")

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise self.fail(self.peek(), "the expression is empty")
        node = self.sum()
        token = self.peek()
        if token.kind != "end":
            raise self.fail(token, f"unexpected {token.text!r}")
        return node

    def sum(self) -> _Node:
        node = self.product()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.take().text
            left, right = node, self.product()
            node = (lambda m, a=left, b=right: a(m) + b(m)) if op == "+" else (lambda m, a=left, b=right: a(m) - b(m))
        return node

    def product(self) -> _Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/", "%"):
            op = self.take().text
            left, right = node, self.unary()
            if op == "*":
                node = lambda m, a=left, b=right: a(m) * b(m)  # noqa: E731
            elif op == "/":
                node = lambda m, a=left, b=right: _divide(a(m), b(m))  # noqa: E731
            else:
                node = lambda m, a=left, b=right: _modulo(a(m), b(m))  # noqa: E731
        return node

    def unary(self) -> _Node:
        if self.peek().kind == "op" and self.peek().text in "+-":
            op = self.take().text
            operand = self.unary()
            return (lambda m, a=operand: -a(m)) if op == "-" else operand
        return self.power()

    def power(self) -> _Node:
        base = self.atom()
        if self.peek().kind == "op" and self.peek().text == "**":
            self.take()
            exponent = self.unary()
            return lambda m, a=base, b=exponent: _power(a(m), b(m))
        return base

    def atom(self) -> _Node:
        token = self.take()
        if token.kind == "number":
            value = float(token.text)
            return lambda m: value
        if token.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.call(token)
            if token.text in _FUNCTIONS:
                raise self.fail(token, f"{token.text!r} is a function; call it as {token.text}(...)")
            name = token.text
            self.names.add(name)
            return lambda m: _metric(m, name)
        if token.kind == "op" and token.text == "(":
            node = self.sum()
            self.expect(")")
            return node
        found = "the end of the expression" if token.kind == "end" else repr(token.text)
        raise self.fail(token, f"expected a number, a metric name or '(' but found {found}")

    def call(self, name: _Token) -> _Node:
        if name.text not in _FUNCTIONS:
            raise self.fail(name, f"unknown function {name.text!r}; known: {', '.join(sorted(_FUNCTIONS))}")
        low, high, function = _FUNCTIONS[name.text]
        self.expect("(")
        arguments = [self.sum()]
        while self.peek().kind == "op" and self.peek().text == ",":
            self.take()
            arguments.append(self.sum())
        self.expect(")")
        if not low <= len(arguments) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            raise self.fail(name, f"{name.text}() takes {wanted} argument(s), got {len(arguments)}")
        label = name.text

        def apply(m: Mapping[str, float], args: list[_Node] = arguments) -> float:
            try:
                return float(function(*(a(m) for a in args)))
            except (ValueError, OverflowError) as exc:
                raise ExpressionError(f"{label}() failed: {exc}") from None

        return apply


def _metric(metrics: Mapping[str, float], name: str) -> float:
    try:
        return metrics[name]
    except KeyError:
        known = ", ".join(sorted(metrics)) or "none"
        raise ExpressionError(f"metric {name!r} is missing (metrics present: {known})") from None


def _divide(a: float, b: float) -> float:
    if b == 0:
        raise ExpressionError("division by zero")
    return a / b


def _modulo(a: float, b: float) -> float:
    if b == 0:
        raise ExpressionError("modulo by zero")
    return a % b


def _power(a: float, b: float) -> float:
    try:
        result = a**b
    except (OverflowError, ZeroDivisionError) as exc:
        raise ExpressionError(f"power failed: {exc}") from None
    if isinstance(result, complex):
        raise ExpressionError(f"power of a negative number to a fractional exponent ({a} ** {b})")
    return result


class Expression:
    """A parsed expression; `names` are the metrics it reads.

    Args:
        source: The expression text.

    Raises:
        ExpressionError: When the text does not parse, with the column and a caret.
    """

    __slots__ = ("_node", "names", "source")

    def __init__(self, source: str) -> None:
        if not isinstance(source, str):
            raise ExpressionError(f"an expression must be a string. Got {source!r} instead.")
        if len(source) > MAX_LENGTH:
            raise ExpressionError(f"an expression may be at most {MAX_LENGTH} characters long; got {len(source)}")
        parser = _Parser(source)
        try:
            self._node = parser.parse()
        except RecursionError:
            raise ExpressionError("the expression is nested too deeply") from None
        self.names = frozenset(parser.names)
        self.source = source

    def evaluate(self, metrics: Mapping[str, float]) -> float:
        """The value for ``metrics``; raises `ExpressionError` when it is missing a metric or not finite."""
        try:
            value = float(self._node(metrics))
        except RecursionError:
            raise ExpressionError("the expression is nested too deeply") from None
        if not math.isfinite(value):
            raise ExpressionError(f"the expression evaluated to {value}")
        return value

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"
