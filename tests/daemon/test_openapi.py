#!/usr/bin/env python3
"""tests/daemon/test_openapi.py - proto/openapi.json against docs/api.md.

Python 3 standard library only (no torch, no OpenAPI package); prints TAP.
The contract is docs/api.md, so the endpoints and the error table are read
from it, not restated here:
  * the document is JSON with "openapi": "3.x.y";
  * every "## METHOD /path" heading of docs/api.md is an operation, and every
    operation has such a heading;
  * every operation has responses, and every response body (and request
    body) carries an example;
  * every "$ref" resolves inside the document;
  * the error table of docs/api.md (code -> status) is the document's
    x-s2s-errors and its Error.code enum, and every error example sits under
    the status the table gives its code.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("S2S_SRCDIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

results = []


def check(ok, name, diag=()):
    results.append((bool(ok), name, list(diag)))


def api_md():
    with open(os.path.join(SRCDIR, "docs", "api.md"), encoding="utf-8") as f:
        return f.read()


def md_operations(text):
    """{(method, path)} from the '## METHOD /path' headings."""
    ops = set()
    for m in re.finditer(r"^## (GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS) (/\S*)", text, re.M):
        ops.add((m.group(1).lower(), m.group(2)))
    return ops


def md_errors(text):
    """[(code, status)] from the table under '## Errors'."""
    sec = text.split("\n## Errors", 1)
    if len(sec) < 2:
        return []
    rows = []
    for m in re.finditer(r"^\| `([a-z_]+)` \| (\d{3}) \|", sec[1], re.M):
        rows.append((m.group(1), int(m.group(2))))
    return rows


def resolve(doc, ref):
    """The object a local '#/a/b' reference names, or None."""
    if not ref.startswith("#/"):
        return None
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def deref(doc, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 16:
        node = resolve(doc, node["$ref"])
        seen += 1
    return node


def all_refs(node, where="#"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield where, v
            else:
                yield from all_refs(v, where + "/" + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from all_refs(v, "%s/%d" % (where, i))


def operations(doc):
    for path, item in sorted(doc.get("paths", {}).items()):
        for method in METHODS:
            if isinstance(item, dict) and method in item:
                yield method, path, item[method]


def has_example(media):
    if not isinstance(media, dict):
        return False
    if "example" in media:
        return True
    ex = media.get("examples")
    return isinstance(ex, dict) and len(ex) > 0 and all(
        isinstance(e, dict) and ("value" in e or "externalValue" in e) for e in ex.values())


def media_examples(media):
    if "example" in media:
        yield media["example"]
    for e in (media.get("examples") or {}).values():
        if isinstance(e, dict) and "value" in e:
            yield e["value"]


def main():
    path = os.path.join(SRCDIR, "proto", "openapi.json")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        check(isinstance(doc, dict), "proto/openapi.json is one JSON object")
    except (OSError, ValueError) as e:
        check(False, "proto/openapi.json is valid JSON", [str(e)])
        return finish()
    text = api_md()

    ver = doc.get("openapi")
    check(isinstance(ver, str) and re.fullmatch(r"3\.\d+\.\d+", ver),
          "openapi is 3.x.y", ["openapi: %r" % (ver,)])
    check(isinstance(doc.get("info"), dict) and "title" in doc["info"] and "version" in doc["info"],
          "info has title and version")

    md_ops = md_operations(text)
    doc_ops = {(m, p) for m, p, _ in operations(doc)}
    check(len(md_ops) >= 8, "docs/api.md has its endpoint headings", ["found %d" % len(md_ops)])
    missing = sorted(md_ops - doc_ops)
    check(not missing, "every endpoint of docs/api.md is in the document",
          ["missing: %s %s" % (m.upper(), p) for m, p in missing])
    extra = sorted(doc_ops - md_ops)
    check(not extra, "every operation of the document is in docs/api.md",
          ["undocumented: %s %s" % (m.upper(), p) for m, p in extra])

    bad_refs = [(w, r) for w, r in all_refs(doc) if resolve(doc, r) is None]
    check(not bad_refs, "every $ref resolves", ["%s -> %s" % wr for wr in bad_refs])

    no_resp, no_ex, no_2xx = [], [], []
    for m, p, op in operations(doc):
        resps = op.get("responses")
        if not isinstance(resps, dict) or not resps:
            no_resp.append("%s %s" % (m.upper(), p))
            continue
        if not any(str(s).startswith("2") for s in resps):
            no_2xx.append("%s %s" % (m.upper(), p))
        for status, r in resps.items():
            if str(status) in ("204", "304"):
                continue  # no body by definition (RFC 9110), so nothing to exemplify
            r = deref(doc, r)
            content = r.get("content") if isinstance(r, dict) else None
            if not content:
                no_ex.append("%s %s %s: no content" % (m.upper(), p, status))
                continue
            for ctype, media in content.items():
                if not has_example(media):
                    no_ex.append("%s %s %s %s" % (m.upper(), p, status, ctype))
        body = deref(doc, op.get("requestBody"))
        if body is not None:
            for ctype, media in (body.get("content") or {}).items():
                if not has_example(media):
                    no_ex.append("%s %s request %s" % (m.upper(), p, ctype))
    check(not no_resp, "every operation has responses", no_resp)
    check(not no_2xx, "every operation has a success response", no_2xx)
    check(not no_ex, "every response and request body has examples", no_ex)

    table = md_errors(text)
    check(len(table) >= 10, "docs/api.md has its error table", ["found %d rows" % len(table)])
    xerr = [(e.get("code"), e.get("status")) for e in doc.get("x-s2s-errors", [])]
    check(sorted(xerr) == sorted(table), "x-s2s-errors is the error table of docs/api.md",
          ["only in docs: %s" % sorted(set(table) - set(xerr)),
           "only in openapi: %s" % sorted(set(xerr) - set(table))])
    err = deref(doc, resolve(doc, "#/components/schemas/Error") or {})
    enum = []
    try:
        enum = err["properties"]["error"]["properties"]["code"]["enum"]
    except (KeyError, TypeError):
        pass
    check(sorted(enum) == sorted(c for c, _ in table), "Error.code enum lists every error code",
          ["enum: %s" % sorted(enum)])

    status_of = dict(table)
    wrong, used = [], set()
    for m, p, op in operations(doc):
        for status, r in (op.get("responses") or {}).items():
            r = deref(doc, r)
            for media in ((r or {}).get("content") or {}).values():
                for ex in media_examples(media):
                    if not (isinstance(ex, dict) and isinstance(ex.get("error"), dict)):
                        continue
                    code = ex["error"].get("code")
                    used.add(code)
                    if str(status_of.get(code)) != str(status) or not ex["error"].get("message"):
                        wrong.append("%s %s %s: %r" % (m.upper(), p, status, ex["error"]))
    check(not wrong, "every error example has a message and the status of its code", wrong)
    # not_found (unknown route) and method_not_allowed belong to no single
    # operation; they must still be described, as components/responses.
    comp = []
    for r in (doc.get("components", {}).get("responses") or {}).values():
        for media in (r.get("content") or {}).values():
            comp.extend(ex["error"].get("code") for ex in media_examples(media)
                        if isinstance(ex, dict) and isinstance(ex.get("error"), dict))
    unused = sorted(set(status_of) - used - set(comp))
    check(not unused, "every error code has an example response", unused)
    error_statuses = {s for _, s in table}
    documented = {int(s) for _, _, op in operations(doc) for s in (op.get("responses") or {})
                  if str(s).isdigit()}
    check(error_statuses <= documented, "every error status of docs/api.md is a documented response",
          ["missing: %s" % sorted(error_statuses - documented)])
    return finish()


def finish():
    print("1..%d" % len(results))
    failed = 0
    for i, (ok, name, diag) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
        if not ok:
            failed += 1
            for d in diag:
                print("# " + d)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
