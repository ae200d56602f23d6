"""Schemathesis hooks of the contract test (scripts/contract.sh loads them through SCHEMATHESIS_HOOKS).

Frappe parses a JSON request body in `init_request`, before any app code runs, and answers a body that
is not JSON at all with a 500 (a JSONDecodeError in frappe/app.py `make_form_dict`). No endpoint can
change that, so the random non-JSON bytes schemathesis sometimes sends as a JSON body are not sent.
Every other negative case (wrong types, missing or unknown fields) still is, and must get a 4xx.
"""

import json

import schemathesis


@schemathesis.hook
def filter_body(context, body) -> bool:
	if not isinstance(body, bytes | bytearray):
		return True
	try:
		json.loads(body)
	except ValueError:
		return False
	return True
