#!/usr/bin/python3
"""Keeps docs/api/openapi.yaml true to the daemon.

  openapi_check.py routes SOURCE_DIR         the routes in daemon/api_*.cc == the spec's, both ways
  openapi_check.py spec SOURCE_DIR           the spec is OpenAPI 3.1; its schemas and examples hold
  openapi_check.py answers SOURCE_DIR DIR    answers recorded by openapi_test.sh match the spec

Debian's python3-jsonschema and python3-yaml (scripts/install-deps.sh).
"""
import json
import pathlib
import re
import sys

import jsonschema
import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
failures = []


def fail(message):
    failures.append(message)
    print("FAIL:", message, file=sys.stderr)


def load_spec(src):
    return yaml.safe_load((src / "docs/api/openapi.yaml").read_text())


def template(path):
    """A path with its parameters' names dropped: /api/v1/runs/{} ."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def source_routes(src):
    """(METHOD, path template) of every s.Get/Put/Post/Delete in daemon/api_*.cc."""
    routes = set()
    call = re.compile(r'\bs\.(Get|Put|Post|Delete|Patch|Options)\(\s*(?:R"\((.*?)\)"|"([^"]*)")')
    for f in sorted((src / "daemon").glob("api*.cc")):
        for m in call.finditer(f.read_text()):
            method, path = m.group(1).upper(), m.group(2) or m.group(3)
            routes.add((method, path.replace("([^/]+)", "{}")))
    return routes


def spec_routes(spec):
    return {(m.upper(), template(p)) for p, item in spec["paths"].items() for m in item
            if m in METHODS}


def check_routes(src):
    in_source, in_spec = source_routes(src), spec_routes(load_spec(src))
    if len(in_source) < 10:
        fail(f"only {len(in_source)} routes found in daemon/api_*.cc: the extraction is broken")
    for method, path in sorted(in_source - in_spec):
        fail(f"{method} {path} is served (daemon/api_*.cc) but not in docs/api/openapi.yaml")
    for method, path in sorted(in_spec - in_source):
        fail(f"{method} {path} is in docs/api/openapi.yaml but not served")
    print(f"routes: {len(in_source)} served, {len(in_spec)} documented")


class Spec:
    """The spec with its $refs resolvable: internal ones and ../result.schema.json."""

    def __init__(self, src):
        self.spec_path = (src / "docs/api/openapi.yaml").resolve()
        self.result_path = (src / "docs/result.schema.json").resolve()
        self.doc = load_spec(src)
        self.result = json.loads(self.result_path.read_text())
        self.base = self.spec_path.as_uri()
        store = {self.base: self.doc, self.result_path.as_uri(): self.result,
                 self.result["$id"]: self.result}
        self.resolver = jsonschema.RefResolver(self.base, self.doc, store=store)

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            _, node = self.resolver.resolve(node["$ref"])
        return node

    def validate(self, instance, schema):
        """The error messages of `instance` against `schema` (a node of the spec)."""
        v = jsonschema.Draft202012Validator(schema, resolver=self.resolver,
                                            format_checker=jsonschema.FormatChecker())
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
                for e in v.iter_errors(instance)]


def walk_schemas(node, where):
    """Every schema object in the spec: components/schemas and each media type's schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                yield f"{where}/schema", value
            elif key == "schemas" and where.endswith("components"):
                for name, s in value.items():
                    yield f"{where}/schemas/{name}", s
            else:
                yield from walk_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_schemas(value, f"{where}/{i}")


def check_spec(src):
    s = Spec(src)
    doc = s.doc
    if not re.fullmatch(r"3\.1\.\d+", str(doc.get("openapi", ""))):
        fail(f"openapi is {doc.get('openapi')!r}, not 3.1.x")
    for key in ("title", "version"):
        if not isinstance(doc.get("info", {}).get(key), str):
            fail(f"info.{key} is missing")
    if not isinstance(doc.get("paths"), dict) or not doc["paths"]:
        fail("paths is missing")
    jsonschema.Draft202012Validator.check_schema(s.result)
    schemas = 0
    for where, schema in walk_schemas(doc, ""):
        schemas += 1
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            fail(f"{where}: not a JSON Schema 2020-12: {e.message}")
    op_ids = set()
    for path, item in doc["paths"].items():
        declared = set(re.findall(r"\{([^}]*)\}", path))
        for method, op in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            params = [s.deref(p) for p in item.get("parameters", []) + op.get("parameters", [])]
            in_path = {p["name"] for p in params if p["in"] == "path"}
            if in_path != declared:
                fail(f"{where}: path parameters {sorted(in_path)} != {sorted(declared)}")
            if op.get("operationId") in op_ids:
                fail(f"{where}: operationId {op.get('operationId')} repeated")
            op_ids.add(op.get("operationId"))
            if not op.get("responses"):
                fail(f"{where}: no responses")
            for status, response in op.get("responses", {}).items():
                if not re.fullmatch(r"[1-5]\d\d", str(status)):
                    fail(f"{where}: response {status} is not an explicit status")
                check_examples(s, f"{where} {status}", s.deref(response))
            body = op.get("requestBody")
            if body:
                check_examples(s, f"{where} request", s.deref(body))
    print(f"spec: {len(op_ids)} operations, {schemas} schemas checked")


def check_examples(s, where, holder):
    for media, content in holder.get("content", {}).items():
        if "example" in content and "schema" in content and media.endswith("json"):
            for error in s.validate(content["example"], content["schema"]):
                fail(f"{where} {media}: its example does not match its schema: {error}")


def operation(s, method, path):
    """The spec's operation for a concrete request path, or None."""
    for template_path, item in s.doc["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template_path)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template_path, item[method.lower()]
    return None, None


def check_answers(src, record_dir):
    s = Spec(src)
    answers = sorted(pathlib.Path(record_dir).glob("*.answer"))
    if len(answers) < 20:
        fail(f"only {len(answers)} answers recorded in {record_dir}")
    seen = set()
    for f in answers:
        head, _, body = f.read_text().partition("\n")
        method, url, status, ctype = head.split(" ", 3)
        path = url.split("?", 1)[0]
        where = f"{f.stem}: {method} {url} -> {status}"
        template_path, op = operation(s, method, path)
        if op is None:
            if status == "404" and json.loads(body)["error"]["field"] == "path":
                continue  # An unknown path: the one answer no operation describes.
            fail(f"{where}: no such operation in the spec")
            continue
        seen.add((method, template_path, status))
        response = op.get("responses", {}).get(status)
        if response is None:
            fail(f"{where}: status {status} is not documented for {method} {template_path}")
            continue
        response = s.deref(response)
        content = response.get("content", {})
        if not content:
            if body.strip():
                fail(f"{where}: documented without a body, got {body[:100]!r}")
            continue
        media = ctype.split(";")[0].strip()
        if media not in content:
            fail(f"{where}: Content-Type {media} is not documented ({sorted(content)})")
            continue
        schema = content[media].get("schema")
        if media == "application/json" and schema is not None:
            for error in s.validate(json.loads(body), schema):
                fail(f"{where}: {error}")
    print(f"answers: {len(answers)} validated, {len(seen)} distinct (operation, status)")


def main():
    command, src = sys.argv[1], pathlib.Path(sys.argv[2])
    if command == "routes":
        check_routes(src)
    elif command == "spec":
        check_spec(src)
    elif command == "answers":
        check_answers(src, sys.argv[3])
    else:
        sys.exit(__doc__)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
