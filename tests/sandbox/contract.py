"""Hold the sandbox to GitHub's own descriptions: every REST response against the operation's
schema in @octokit/openapi, every webhook payload against @octokit/webhooks-schemas.

The packages come from npm (never vendored): tests/services.py finds them, or installs them on
first use, and the ``contract`` fixture (tests/sandbox/conftest.py) builds one Contract per session.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.services import OPENAPI_REL, WEBHOOKS_REL

# GitHub's description leaves out auth and visibility failures on many operations, though any
# operation can answer them; those are held to the generic ``basic-error`` schema instead.
# Likewise GitHub answers invalid input with 422 "Validation Failed" on operations whose
# description omits it (e.g. an unknown commit status state); those must match ``validation-error``.
GENERIC_ERRORS = (401, 403, 404)


def _nullable_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` becomes JSON Schema ``anyOf [null, schema]``."""
    if isinstance(node, list):
        return [_nullable_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_jsonschema(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return {"anyOf": [{"type": "null"}, out]}
    return out


def _discriminators_to_jsonschema(node: Any, counter: list[int]) -> Any:
    """OpenAPI ``discriminator`` (which JSON Schema ignores) becomes rules JSON Schema checks.

    For an object, the discriminator's property is required, must be one of the mapping's values
    (or, without a mapping, the names of the ``oneOf``/``anyOf`` branches), and the value's branch
    must validate on its own, ``required`` included. The ``oneOf``/``anyOf`` itself stays. A
    non-object instance is left to the ``oneOf``/``anyOf`` (GitHub's contents description maps
    "array" to the directory listing, which is the only array branch).
    """
    if isinstance(node, list):
        return [_discriminators_to_jsonschema(n, counter) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _discriminators_to_jsonschema(v, counter) for k, v in node.items()}
    disc = out.pop("discriminator", None)
    if disc is None:
        return out
    counter[0] += 1
    prop = disc["propertyName"]
    mapping = disc.get("mapping") or {
        branch["$ref"].rsplit("/", 1)[-1]: branch["$ref"]
        for branch in out.get("oneOf", []) + out.get("anyOf", []) if isinstance(branch, dict) and "$ref" in branch
    }
    chosen = {
        "required": [prop],
        "properties": {prop: {"enum": sorted(mapping)}},
        "allOf": [{"if": {"properties": {prop: {"const": value}}, "required": [prop]}, "then": {"$ref": ref}}
                  for value, ref in sorted(mapping.items())],
    }
    return {"allOf": [out, {"if": {"type": "object"}, "then": chosen}]}


FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    """Absolute URI with a scheme (the schemas use this to tell a URL from ``""``)."""
    if not isinstance(value, str):
        return True
    parsed = urllib.parse.urlsplit(value)
    return bool(parsed.scheme) and (bool(parsed.netloc) or parsed.scheme in ("mailto", "urn"))


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return "T" in value


@dataclass
class Violation:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Contract:
    """Validates responses and payloads; remembers what it validated for the coverage check."""

    root: Path
    spec: dict[str, Any] = field(init=False)
    validated_ops: Counter[tuple[str, str]] = field(default_factory=Counter)
    validated_responses: int = 0
    validated_requests: int = 0
    validated_events: Counter[str] = field(default_factory=Counter)
    pending: list[Violation] = field(default_factory=list)
    discriminators: int = 0

    def __post_init__(self) -> None:
        raw = json.loads((self.root / OPENAPI_REL).read_text())
        counter = [0]
        self.spec = _discriminators_to_jsonschema(_nullable_to_jsonschema(raw), counter)
        self.discriminators = counter[0]  # how many were turned into JSON Schema
        self._openapi_registry = Registry().with_resource(
            "urn:openapi", Resource(contents=self.spec, specification=DRAFT7))
        self.webhooks = json.loads((self.root / WEBHOOKS_REL).read_text())
        self._webhook_registry = Registry().with_resource(
            "urn:webhooks", Resource(contents=self.webhooks, specification=DRAFT7))
        self._validators: dict[str, jsonschema.Draft7Validator] = {}

    # --- REST --------------------------------------------------------------------------------
    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        return self.spec["paths"].get(template, {}).get(method.lower())

    def _response_schema(self, method: str, template: str, status: int) -> tuple[bool, Any]:
        """(status documented?, JSON schema or None for no body)."""
        op = self.operation(method, template)
        if op is None:
            return False, None
        resp = op["responses"].get(str(status)) or op["responses"].get("default")
        if resp is None:
            return False, None
        if "$ref" in resp:
            resp = self.spec["components"]["responses"][resp["$ref"].rsplit("/", 1)[-1]]
        content = resp.get("content") or {}
        media = content.get("application/json") or next(iter(content.values()), None)
        return True, (media or {}).get("schema")

    def _validator(self, key: str, schema: Any, registry: Registry) -> jsonschema.Draft7Validator:
        if key not in self._validators:
            self._validators[key] = jsonschema.Draft7Validator(schema, registry=registry, format_checker=FORMATS)
        return self._validators[key]

    def check_response(self, method: str, template: str | None, status: int, body: Any) -> list[Violation]:
        where = f"{method} {template} -> {status}"
        if template is None:
            return []  # unimplemented routes answer the sandbox's own 404; nothing to hold them to
        if self.operation(method, template) is None:
            return [Violation(where, "operation is not in GitHub's OpenAPI description")]
        documented, schema = self._response_schema(method, template, status)
        if not documented:
            if status in GENERIC_ERRORS:
                schema = {"$ref": "#/components/schemas/basic-error"}
            elif status == 422:
                schema = {"$ref": "#/components/schemas/validation-error"}
            else:
                return [Violation(where, f"status {status} is not documented for this operation")]
        self.validated_responses += 1
        self.validated_ops[(method, template)] += 1
        if schema is None:
            if status >= 400 or body in (None, "", {}):
                return []  # error bodies the spec leaves undescribed (GitHub sends {"message": ...})
            return [Violation(where, "the spec documents no body here")]
        ref_schema = _rebase(schema, "urn:openapi")
        validator = self._validator(f"{where}", ref_schema, self._openapi_registry)
        return [Violation(where, _describe(e)) for e in _errors(validator, body)]

    # --- webhooks ----------------------------------------------------------------------------
    def definition_for(self, event: str, payload: dict[str, Any]) -> str | None:
        defs = self.webhooks["definitions"]
        action = payload.get("action")
        for name in (f"{event}${action}", f"{event}$event"):
            if name in defs:
                return name
        return None

    def check_webhook(self, event: str, payload: dict[str, Any]) -> list[Violation]:
        name = self.definition_for(event, payload)
        where = f"webhook {event}.{payload.get('action')}"
        if name is None:
            return [Violation(where, "no schema for this event and action in @octokit/webhooks-schemas")]
        self.validated_events[name] += 1
        validator = self._validator(f"wh:{name}", {"$ref": f"urn:webhooks#/definitions/{name}"},
                                    self._webhook_registry)
        return [Violation(where, _describe(e)) for e in _errors(validator, payload)]

    # --- hooks for the running sandbox -------------------------------------------------------
    def observe_response(self, method: str, template: str | None, status: int, body: Any,
                         headers: dict[str, str], request_body: Any = None) -> None:
        if "X-Sandbox-Fault" in headers and headers["X-Sandbox-Fault"].split(":", 1)[1] != "delay":
            return  # an injected fault is deliberately not GitHub's answer
        self.pending.extend(self.check_response(method, template, status, body))
        if 200 <= status < 300:
            self.pending.extend(self.check_request(method, template, request_body))

    def check_request(self, method: str, template: str | None, body: Any) -> list[Violation]:
        """A request the sandbox *accepted* must be one GitHub's description allows: otherwise the
        sandbox is more lenient than GitHub, or the client (the bot) sends what GitHub would refuse."""
        op = self.operation(method, template) if template else None
        if op is None or body is None:
            return []
        content = (op.get("requestBody") or {}).get("content") or {}
        schema = (content.get("application/json") or {}).get("schema")
        where = f"{method} {template} request"
        if schema is None:
            return []
        self.validated_requests += 1
        validator = self._validator(where, _rebase(schema, "urn:openapi"), self._openapi_registry)
        return [Violation(where, _describe(e)) for e in _errors(validator, body)]

    def observe_webhook(self, event: str, payload: dict[str, Any]) -> None:
        self.pending.extend(self.check_webhook(event, payload))

    def take(self) -> list[Violation]:
        found, self.pending = self.pending, []
        return found


def _rebase(schema: Any, base: str) -> Any:
    """Point local ``#/components/...`` refs at the registered spec."""
    if isinstance(schema, dict):
        return {k: (f"{base}{v}" if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v, base))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rebase(s, base) for s in schema]
    return schema


def _errors(validator: jsonschema.Draft7Validator, instance: Any) -> list[jsonschema.ValidationError]:
    errors = list(validator.iter_errors(instance))
    return [jsonschema.exceptions.best_match(errors)] if errors else []


def _describe(err: jsonschema.ValidationError) -> str:
    path = "/".join(str(p) for p in err.absolute_path) or "<root>"
    ctx = err
    while ctx.context:  # follow anyOf/oneOf down to the most specific complaint
        ctx = max(ctx.context, key=lambda e: (len(e.absolute_path), -len(e.context or [])))
    if ctx is not err:  # the leaf is what a reader needs; the top message repeats the whole instance
        leaf = "/".join(str(p) for p in ctx.absolute_path) or "<root>"
        return f"at {leaf}: {ctx.message[:400]} (under {err.validator} at {path})"
    return f"at {path}: {err.message[:400]}"
