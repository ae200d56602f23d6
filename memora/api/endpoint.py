"""The one way a Memora endpoint runs, in the order a client is owed:

1. a correlation id for the call (the client's X-Correlation-ID when it sent a sane one, else a new
   one), which travels into every job the call enqueues and comes back in the response header, and
   the call timed as `api.<module>.<function>`;
2. the permission check, before anything reads the arguments: a caller without the role learns
   nothing but 403, and is not counted against anyone's rate limit;
3. every required argument present, and no object or list where the function takes text or a number
   (417 naming it, never a TypeError and a 500; Frappe checks no types of a module that postpones
   its annotations, and the services check the values);
4. the rate limit, per signed-in user and whom the call is for (`rate_limit`);
5. the body, whose errors reach the client with their status and type (`errors`).

A worker thread serves many requests, so every call opens its own correlation id rather than
inheriting the one of the request before it.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from functools import cache, wraps
from typing import Any

import frappe

from memora import runtime
from memora.api import errors, response_headers
from memora.api.rate_limit import Limit, spend
from memora.api.utils import acting_player, require_roles
from memora.exceptions import ValidationError
from memora.services import metrics


def endpoint(
	roles: tuple[str, ...] | None = None,
	*,
	acts_for_player: bool = False,
	limit: Limit | None = None,
	camel_case: bool = False,
) -> Callable[[Callable], Callable]:
	"""Wrap a whitelisted function (put it under `@frappe.whitelist`). `roles`: who may call it (None:
	any signed-in user); `acts_for_player`: its `player` argument is resolved by `acting_player`;
	`limit`: its rate limit; `camel_case`: it also takes its arguments as camelCase (fanId), as
	clients of the TypeScript fan memory service send them."""

	def decorator(fn: Callable) -> Callable:
		name = f"api.{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"
		signature = inspect.signature(fn)
		parameters = signature.parameters
		required = [p for p, spec in parameters.items() if spec.default is inspect.Parameter.empty]

		@wraps(fn)
		def wrapper(*args: Any, **kwargs: Any) -> Any:
			kwargs = signature.bind_partial(*args, **kwargs).arguments
			cid = response_headers.request_correlation_id()
			with runtime.correlation(cid), errors.reported(cid), metrics.timed(name):
				if roles:
					require_roles(roles)
				if acts_for_player:
					kwargs["player"] = acting_player(kwargs.get("player"))
				if camel_case:
					kwargs = with_camel_case_arguments(kwargs, parameters)
				check_arguments(fn, kwargs, required)
				if limit:
					spend(limit, str(kwargs[limit.per]))
				return fn(**kwargs)

		return wrapper

	return decorator


@cache
def structured_arguments(fn: Callable) -> dict[str, tuple[type, ...]]:
	"""For each parameter, which of list and dict its annotation admits (read once, on first call)."""
	hints = typing.get_type_hints(fn)
	found = {}
	for name in inspect.signature(fn).parameters:
		members = typing.get_args(hints.get(name)) or (hints.get(name),)
		origins = {typing.get_origin(m) or m for m in members}
		found[name] = tuple(kind for kind in (list, dict) if kind in origins or typing.Any in origins)
	return found


def check_arguments(fn: Callable, kwargs: dict, required: list[str]) -> None:
	"""417 naming the first argument that is missing, or structured where the function takes a value
	(a JSON body can carry an object anywhere; only the services can say what a value must be)."""
	for argument in required:
		if kwargs.get(argument) is None:
			raise ValidationError(argument, "is required")
	admitted = structured_arguments(fn)
	for argument, value in kwargs.items():
		if isinstance(value, list | dict) and not isinstance(value, admitted.get(argument, ())):
			raise ValidationError(argument, "must be text or a number, not a JSON object or list")


def camel(name: str) -> str:
	"""`fan_id` as the TypeScript service spells it: `fanId`."""
	head, *rest = name.split("_")
	return head + "".join(part.title() for part in rest)


def with_camel_case_arguments(kwargs: dict, parameters: Mapping[str, inspect.Parameter]) -> dict:
	"""Arguments the client sent as camelCase, under the function's names (snake_case wins when both
	came). Frappe passes a function only the names it declares, so they are read from the request."""
	form = frappe.form_dict or {}
	found = dict(kwargs)
	for parameter in parameters:
		alias = camel(parameter)
		if found.get(parameter) is None and alias != parameter and form.get(alias) is not None:
			found[parameter] = form[alias]
	return found
