"""The SDK plumbing every Xero resource module shares: one call, paging, URL-sized batches, request bodies.

The core speaks Xero's JSON shape (PascalCase keys, Decimal money, date objects); the SDK wants model
objects with enum members and dates. `to_model` converts generically through each model's
attribute_map/openapi_types, so a new field in a body needs no code here.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlencode

from xero_python.accounting import AccountingApi
from xero_python.api_client.serializer import serialize
from xero_python.models import BaseModel

from ..sync.errors import XeroError
from ..sync.model import ErrorClass
from .errors import classify

T = TypeVar("T")

_MODELS = importlib.import_module("xero_python.accounting.models")
_LIST_TYPE = re.compile(r"^list\[(?P<item>.+)\]$")
# Xero echoes failed elements with an all-zero ID
NO_ID = "00000000-0000-0000-0000-000000000000"
MAX_PAGES = 200


def to_model(model: type[BaseModel], data: Mapping[str, Any]) -> BaseModel:
	"""Build an SDK model from a Xero-JSON-shaped dict (unknown keys raise ValueError)."""
	attr_of = {json_key: attr for attr, json_key in model.attribute_map.items()}
	kwargs: dict[str, Any] = {}
	for key, value in data.items():
		attr = attr_of.get(key)
		if attr is None:
			raise ValueError(f"{model.__name__} has no field {key!r}")
		kwargs[attr] = _to_sdk_value(model.openapi_types[attr], value)
	return model(**kwargs)


def _to_sdk_value(type_name: str, value: Any) -> Any:
	"""Convert one value to what the SDK serializer expects for `type_name`."""
	if value is None:
		return None
	item = _LIST_TYPE.match(type_name)
	if item:
		return [_to_sdk_value(item["item"], v) for v in value]
	if isinstance(value, Enum) and type_name in ("str", "float", "int"):
		value = value.value  # str(Kind.X) would be "Kind.X"
	if type_name == "str":
		return str(value)
	if type_name == "float":
		# Decimal stays exact until the SDK's serializer turns it into a JSON number
		return value if isinstance(value, Decimal) else Decimal(str(value))
	if type_name == "int":
		return int(value)
	if type_name == "bool":
		return bool(value)
	if type_name.startswith("datetime"):
		return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
	if type_name.startswith("date"):
		return as_date(value)
	return _to_sdk_model(type_name, value)


def _to_sdk_model(type_name: str, value: Any) -> Any:
	"""Enums become members (the serializer refuses plain strings); nested dicts become models."""
	model = getattr(_MODELS, type_name)
	if isinstance(model, type) and issubclass(model, Enum):
		return model(value.value if isinstance(value, Enum) else value)
	if isinstance(value, model):
		return value
	if isinstance(value, Mapping):
		return to_model(model, value)
	raise ValueError(f"cannot use {value!r} as {type_name}")


def as_date(value: Any) -> date:
	"""A plain date: a datetime would be sent at its local-time timestamp, not the calendar day."""
	if isinstance(value, datetime):
		return value.date()
	if isinstance(value, date):
		return value
	return date.fromisoformat(str(value))


def quoted(value: str) -> str:
	"""A string literal for Xero's `where` expressions."""
	return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def any_of(field: str, values: Sequence[str]) -> str:
	"""`field=="a" OR field=="b"` for a where clause."""
	return " OR ".join(f"{field}=={quoted(v)}" for v in values)


def where_all(*clauses: str) -> str:
	"""AND together clauses, bracketing OR-chains."""
	present = [c for c in clauses if c]
	if len(present) == 1:
		return present[0]
	return " AND ".join(f"({c})" if " OR " in c else c for c in present)


class SdkCalls:
	"""One organisation-agnostic AccountingApi with the call, paging and batching rules every resource uses."""

	def __init__(
		self,
		api: AccountingApi,
		*,
		unitdp: int = 4,
		page_size: int = 100,
		max_batch: int = 50,
		max_url: int = 1800,
		scan_page_size: int = 1000,
	):
		self.api = api
		self.unitdp = unitdp
		self.page_size = page_size
		# the organisation-wide scans read up to Xero's largest page (1000) per call
		self.scan_page_size = scan_page_size
		self.max_batch = max_batch
		# Xero documents no limit for IDs/InvoiceNumbers; long URLs fail at proxies around 2,000 chars
		self.max_url = max_url

	def call(self, method: Callable[..., T], *args: Any, document: str = "", **kwargs: Any) -> T:
		"""Run one SDK call; any failure becomes a XeroError raised without the SDK exception attached."""
		error: XeroError
		try:
			return method(*args, **kwargs)
		except Exception as exc:
			error = classify(exc, document=document)
		# raised outside the except block so the SDK exception (headers, body) is not chained to it
		raise error

	def paged(
		self,
		method: Callable[..., Any],
		field: str,
		tenant_id: str,
		*,
		page_size: int | None = None,
		**params: Any,
	) -> list[Any]:
		"""Follow page=1.. until a short page or the last page Xero reports."""
		size = page_size or self.page_size
		items: list[Any] = []
		for page in range(1, MAX_PAGES + 1):
			answer = self.call(method, tenant_id, page=page, page_size=size, **params)
			batch = getattr(answer, field, None) or []
			items += batch
			pagination = getattr(answer, "pagination", None)
			page_count = getattr(pagination, "page_count", None)
			if len(batch) < size or (page_count is not None and page >= page_count):
				break
		return items

	def paging(self, page: int) -> list[tuple[str, Any]]:
		"""The paging query parameters, as the SDK orders them."""
		return [("page", page), ("pageSize", self.page_size)]

	def chunks(
		self,
		values: list[str],
		query: Callable[[list[str]], list[tuple[str, Any]]],
		path: str = "/Invoices",
	) -> Iterator[list[str]]:
		"""Split values into batches of at most max_batch whose request URL stays under max_url."""
		chunk: list[str] = []
		for value in values:
			candidate = [*chunk, value]
			too_long = self.url_length(path, query(candidate)) > self.max_url
			if chunk and (len(candidate) > self.max_batch or too_long):
				yield chunk
				chunk = [value]
			else:
				chunk = candidate
		if chunk:
			yield chunk

	def url_length(self, path: str, params: list[tuple[str, Any]]) -> int:
		"""Length of base URL + path + encoded query, encoded the way the SDK encodes it."""
		return len(self.api.base_url) + len(path) + 1 + len(urlencode(params))

	def wrap(self, wrapper: str, element: str, bodies: Sequence[Mapping[str, Any]], label: str) -> BaseModel:
		"""Bodies -> e.g. Invoices(invoices=[Invoice, ...]); a body the SDK refuses is a mapping error."""
		element_model = getattr(_MODELS, element)
		wrapper_model = getattr(_MODELS, wrapper)
		try:
			items = [to_model(element_model, b) for b in bodies]
		except (ValueError, TypeError, AttributeError) as exc:
			raise XeroError(
				f"{label}: cannot be expressed in Xero's format ({exc}). Nothing was sent.",
				error_class=ErrorClass.MAPPING,
				detail=f"{type(exc).__name__}: {exc}",
			) from None
		field = next(k for k in wrapper_model.openapi_types if k not in ("pagination", "warnings"))
		return wrapper_model(**{field: items})

	def wire_sizes(self, element: str, bodies: Sequence[Mapping[str, Any]], label: str) -> list[int]:
		"""The bytes each body takes in a request, serialised exactly as the SDK sends it (its serializer,
		then rest.py's json.dumps, ASCII so a character is a byte)."""
		element_model = getattr(_MODELS, element)
		try:
			return [len(json.dumps(serialize(to_model(element_model, b)))) for b in bodies]
		except (ValueError, TypeError, AttributeError) as exc:
			raise XeroError(
				f"{label}: cannot be expressed in Xero's format ({exc}). Nothing was sent.",
				error_class=ErrorClass.MAPPING,
				detail=f"{type(exc).__name__}: {exc}",
			) from None


# --- SDK models -> core records ---------------------------------------------------------------------


def count_mismatch(got: int, expected: int) -> XeroError:
	"""Xero answered for a different number of elements than we sent."""
	return XeroError(
		f"Xero answered with {got} results for {expected} documents; they are checked before retrying.",
		error_class=ErrorClass.TRANSIENT,
		detail=f"element count mismatch: got {got}, sent {expected}",
		may_have_committed=True,
	)


def messages(errors: Any) -> tuple[str, ...]:
	"""Messages of a list of ValidationError models, without empties or duplicates."""
	return tuple(dict.fromkeys(str(e.message) for e in errors or [] if getattr(e, "message", None)))


def enum_value(value: Any) -> str:
	"""An SDK enum member (CurrencyCode, TimeZone) or plain string as its text."""
	return str(getattr(value, "value", value) or "")
