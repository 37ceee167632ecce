#!/usr/bin/env python3
"""Checks an OpenAPI document with tools independent of the code that generated it.

    .venv/bin/python scripts/check-openapi.py openapi/openapi.json

1. openapi-spec-validator validates it as OpenAPI 3.0 (the version the document declares;
   a 3.1-only keyword such as `info.summary` is an error).
2. Every example validates against the schema it illustrates: `example` on any schema
   (nested properties and items included), `example`/`examples` on media types and on
   parameters, with openapi-schema-validator's OpenAPI 3.0 dialect (nullable, formats).

Prints every failure and exits 1 when there is one. Run by tests/api/spec.rs.
"""

import json
import sys

from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import OpenAPIV30SpecValidator

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def main(document: str) -> int:
    with open(document, encoding="utf-8") as f:
        spec = json.load(f)
    failures = []

    if not str(spec.get("openapi", "")).startswith("3.0."):
        failures.append(f"openapi is {spec.get('openapi')!r}, not 3.0.x")
    for error in OpenAPIV30SpecValidator(spec).iter_errors():
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        failures.append(f"not valid OpenAPI 3.0 at {where}: {error.message.splitlines()[0]}")

    components = spec.get("components", {})

    def check(example, schema, where):
        # The schema's `$ref`s point into the document's components: resolve them there.
        # (OpenAPI 3.0 ignores keywords beside `$ref`, so `components` beside it is inert.)
        root = {**schema, "components": components}
        root.pop("example", None)
        validator = OAS30Validator(root, format_checker=OAS30Validator.FORMAT_CHECKER)
        for error in validator.iter_errors(example):
            at = "/".join(str(p) for p in error.absolute_path) or "(value)"
            failures.append(f"example of {where} at {at}: {error.message}")

    def walk_schema(schema, where):
        if not isinstance(schema, dict):
            return
        if "example" in schema and "$ref" not in schema:
            check(schema["example"], schema, where)
        for name, prop in schema.get("properties", {}).items():
            walk_schema(prop, f"{where}.{name}")
        if isinstance(schema.get("items"), dict):
            walk_schema(schema["items"], f"{where}[]")
        if isinstance(schema.get("additionalProperties"), dict):
            walk_schema(schema["additionalProperties"], f"{where}{{}}")
        for keyword in ("allOf", "anyOf", "oneOf"):
            for i, sub in enumerate(schema.get(keyword, [])):
                walk_schema(sub, f"{where}/{keyword}/{i}")

    def walk_examples(holder, where):
        schema = holder.get("schema")
        if schema is None:
            return
        walk_schema(schema, f"{where} schema")
        if "example" in holder:
            check(holder["example"], schema, where)
        for name, example in holder.get("examples", {}).items():
            if "value" in example:
                check(example["value"], schema, f"{where} examples.{name}")

    for name, schema in components.get("schemas", {}).items():
        walk_schema(schema, f"schema {name}")
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            name = f"{method.upper()} {path}"
            for param in op.get("parameters", []):
                walk_examples(param, f"{name} parameter {param.get('name')}")
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                walk_examples(content, f"{name} request body {media}")
            for status, response in op.get("responses", {}).items():
                for media, content in response.get("content", {}).items():
                    walk_examples(content, f"{name} response {status} {media}")
                for header, value in response.get("headers", {}).items():
                    walk_examples(value, f"{name} response {status} header {header}")

    for failure in failures:
        print(failure)
    if failures:
        print(f"check-openapi: {len(failures)} problem(s) in {document}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check-openapi.py OPENAPI.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
