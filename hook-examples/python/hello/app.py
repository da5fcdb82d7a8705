"""`hello` in Python: the same function as the Rust one (hook-examples/src/hello.rs).

Given `{"name": "x"}` (or an HTTP API event with `?name=x`) it returns
`{"statusCode":200,"headers":{"content-type":"application/json"},"body":"{\"message\":\"Hello, x!\",\"version\":\"<function version>\"}"}`;
the name defaults to `world`. `HELLO_FAULT` makes a version faulty on purpose: `error` fails
the invoke, `status500` answers statusCode 500, `slow` sleeps 30 s, `flaky` fails every 10th
invocation of an execution environment, `latency` answers correctly 300 ms late. Any other
value stops the function at init.
"""

import json
import os
import time

FLAKY_EVERY = 10
SLOW_SLEEP_S = 30
LATENCY_DELAY_S = 0.3
FAULTS = ("error", "status500", "slow", "flaky", "latency")


def _fault():
    value = os.environ.get("HELLO_FAULT", "").strip()
    if value and value not in FAULTS:
        raise ValueError(f"HELLO_FAULT={value} is not a fault: use error, status500, slow, flaky or latency")
    return value or None


FAULT = _fault()
_invocations = 0


class HelloFault(Exception):
    """A failure on purpose."""


def _answer(status, body):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }


def handler(event, context):
    global _invocations
    _invocations += 1
    version = context.function_version
    if FAULT == "error" or (FAULT == "flaky" and _invocations % FLAKY_EVERY == 0):
        raise HelloFault(f"HELLO_FAULT={FAULT}: version {version} fails on purpose")
    if FAULT == "status500":
        return _answer(500, {"message": "Internal Server Error", "version": version})
    if FAULT == "slow":
        time.sleep(SLOW_SLEEP_S)
    if FAULT == "latency":
        time.sleep(LATENCY_DELAY_S)
    query = (event or {}).get("queryStringParameters") or {}
    name = query.get("name") or (event or {}).get("name") or "world"
    return _answer(200, {"message": f"Hello, {name}!", "version": version})
