"""A small parser for Xero's `where` filter language (the subset integrations actually send)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Predicate = Callable[[dict], bool]

_TOKEN = re.compile(
	r"""\s*(?:
	(?P<string>"(?:[^"\\]|\\.)*")
	|(?P<and>&&|\bAND\b|\band\b)
	|(?P<or>\|\||\bOR\b|\bor\b)
	|(?P<not>!(?!=)|\bNOT\b)
	|(?P<op>==|!=|>=|<=|=|>|<)
	|(?P<lparen>\()
	|(?P<rparen>\))
	|(?P<comma>,)
	|(?P<number>-?\d+(?:\.\d+)?)
	|(?P<ident>[A-Za-z_][\w.]*)
	)""",
	re.VERBOSE,
)
_METHODS = ("Contains", "StartsWith", "EndsWith")


class WhereError(ValueError):
	"""Raised when a `where` expression cannot be parsed."""


def _tokenize(text: str) -> list[tuple[str, str]]:
	"""Split an expression into (kind, text) tokens."""
	tokens: list[tuple[str, str]] = []
	pos = 0
	text = text.strip()
	while pos < len(text):
		match = _TOKEN.match(text, pos)
		if not match or match.end() == pos:
			raise WhereError(f"Cannot parse where clause near: {text[pos : pos + 20]!r}")
		kind = match.lastgroup or ""
		tokens.append((kind, match.group(kind)))
		pos = match.end()
		while pos < len(text) and text[pos].isspace():
			pos += 1
	return tokens


def field_value(record: dict, path: str) -> Any:
	"""Read a dotted path such as Contact.ContactID from a record."""
	value: Any = record
	for part in path.split("."):
		if not isinstance(value, dict):
			return None
		value = value.get(part)
	return value


def _norm(value: Any) -> Any:
	"""Normalise a value for comparison (strings compare case-insensitively, like Xero)."""
	if isinstance(value, str):
		return value.lower()
	if isinstance(value, (int, float)) and not isinstance(value, bool):
		return Decimal(str(value))
	if isinstance(value, dt.datetime):
		return value.date()
	return value


def _compare(left: Any, op: str, right: Any) -> bool:
	"""Apply a comparison operator, treating type mismatches as not-equal."""
	left, right = _norm(left), _norm(right)
	if op in ("==", "="):
		return left == right
	if op == "!=":
		return left != right
	if left is None or right is None:
		return False
	try:
		return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op]
	except TypeError:
		return False


class _Parser:
	"""Recursive-descent parser; AND binds tighter than OR, parentheses allowed."""

	def __init__(self, tokens: list[tuple[str, str]]):
		self.tokens = tokens
		self.pos = 0

	def peek(self) -> tuple[str, str]:
		"""Return the next token without consuming it."""
		return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

	def take(self, kind: str) -> str:
		"""Consume a token of the given kind or fail."""
		tok_kind, text = self.peek()
		if tok_kind != kind:
			raise WhereError(f"Expected {kind} but found {text or 'end of expression'!r}")
		self.pos += 1
		return text

	def parse(self) -> Predicate:
		"""Parse the whole expression."""
		pred = self.expr()
		if self.peek()[0] != "end":
			raise WhereError(f"Unexpected token {self.peek()[1]!r}")
		return pred

	def expr(self) -> Predicate:
		"""expr := term (OR term)*  — iterative so 50+ OR chains are cheap."""
		terms = [self.term()]
		while self.peek()[0] == "or":
			self.pos += 1
			terms.append(self.term())
		return terms[0] if len(terms) == 1 else (lambda r: any(t(r) for t in terms))

	def term(self) -> Predicate:
		"""term := factor (AND factor)*"""
		factors = [self.factor()]
		while self.peek()[0] == "and":
			self.pos += 1
			factors.append(self.factor())
		return factors[0] if len(factors) == 1 else (lambda r: all(f(r) for f in factors))

	def factor(self) -> Predicate:
		"""factor := NOT factor | '(' expr ')' | comparison"""
		kind, _ = self.peek()
		if kind == "not":
			self.pos += 1
			inner = self.factor()
			return lambda r: not inner(r)
		if kind == "lparen":
			self.pos += 1
			inner = self.expr()
			self.take("rparen")
			return inner
		return self.comparison()

	def comparison(self) -> Predicate:
		"""Field OP value, or Field.Method("text")."""
		ident = self.take("ident")
		head, _, method = ident.rpartition(".")
		if method in _METHODS and self.peek()[0] == "lparen":
			self.pos += 1
			arg = str(self.value()).lower()
			self.take("rparen")
			return _method_predicate(head, method, arg)
		if self.peek()[0] != "op":
			literal = _keyword(ident)
			if literal is True:
				return lambda r: True
			raise WhereError(f"Expected an operator after {ident!r}")
		op = self.take("op")
		value = self.value()
		return lambda r: _compare(field_value(r, ident), op, value)

	def value(self) -> Any:
		"""A literal: string, number, true/false/null, guid("..."), DateTime(y, m, d)."""
		kind, text = self.peek()
		if kind == "string":
			self.pos += 1
			return text[1:-1].replace('\\"', '"')
		if kind == "number":
			self.pos += 1
			return Decimal(text)
		if kind != "ident":
			raise WhereError(f"Expected a value but found {text!r}")
		self.pos += 1
		lowered = text.lower()
		if lowered == "guid":
			self.take("lparen")
			guid = self.value()
			self.take("rparen")
			return str(guid)
		if lowered in ("datetime", "datetimeoffset"):
			return self.datetime_args()
		literal = _keyword(text)
		if literal is None and lowered != "null":
			raise WhereError(f"Unknown literal {text!r}")
		return literal

	def datetime_args(self) -> dt.date:
		"""Parse (yyyy, mm, dd[, ...]) after DateTime."""
		self.take("lparen")
		parts = [int(self.take("number"))]
		while self.peek()[0] == "comma":
			self.pos += 1
			parts.append(int(self.take("number")))
		self.take("rparen")
		if len(parts) < 3:
			raise WhereError("DateTime needs year, month and day")
		return dt.date(parts[0], parts[1], parts[2])


def _keyword(text: str) -> Any:
	"""Map true/false/null identifiers to Python values."""
	return {"true": True, "false": False, "null": None}.get(text.lower())


def _method_predicate(path: str, method: str, arg: str) -> Predicate:
	"""Build a predicate for Field.Contains/StartsWith/EndsWith (case-insensitive)."""

	def check(record: dict) -> bool:
		value = field_value(record, path)
		if not isinstance(value, str):
			return False
		text = value.lower()
		if method == "Contains":
			return arg in text
		if method == "StartsWith":
			return text.startswith(arg)
		return text.endswith(arg)

	return check


def compile_where(text: str | None) -> Predicate:
	"""Compile a `where` expression into a predicate over record dicts (None → match all)."""
	if not text or not text.strip():
		return lambda r: True
	return _Parser(_tokenize(text)).parse()
