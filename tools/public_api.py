#!/usr/bin/env python3
"""The public API of a crate, one item per line, from rustdoc's JSON output
(nightly: `cargo +nightly rustdoc -p CRATE --lib -- -Z unstable-options
--output-format json`). scripts/public-api writes it to CRATE/public-api.txt
and checks that the committed file is current, so that any change to what a
crate exposes shows as a diff in review.

Each line is `kind path`, and for a signature-carrying item its signature
in short: functions and methods with their parameter names and whether they
take self; fields; enum variants; trait items; re-exports with their source.
Items marked #[doc(hidden)] are left out, as rustdoc leaves them out.

    tools/public_api.py target/doc/aires_core.json
"""

from __future__ import annotations

import json
import sys
from typing import Any


def kind_of(item: dict[str, Any]) -> str:
    return next(iter(item["inner"]))


def hidden(item: dict[str, Any]) -> bool:
    attrs = item.get("attrs") or []
    return any("doc(hidden)" in str(a) for a in attrs)


def signature(item: dict[str, Any]) -> str:
    inner = item["inner"]["function"]
    params = [name for name, _ in inner["sig"]["inputs"]]
    return f"({', '.join(params)})"


def main(path: str) -> None:
    data = json.load(open(path))
    index = data["index"]
    lines: set[str] = set()

    def item(id_: Any) -> dict[str, Any] | None:
        return index.get(str(id_))

    def members(owner: dict[str, Any], prefix: str) -> None:
        """Public fields, variants, inherent methods and trait items."""
        kind = kind_of(owner)
        inner = owner["inner"][kind]
        if kind == "struct":
            fields = inner.get("kind", {}).get("plain", {}).get("fields", [])
            for f in fields:
                field = item(f)
                if field and field["visibility"] == "public" and not hidden(field):
                    lines.add(f"field {prefix}::{field['name']}")
        if kind == "enum":
            for v in inner.get("variants", []):
                variant = item(v)
                if variant and not hidden(variant):
                    lines.add(f"variant {prefix}::{variant['name']}")
        if kind == "trait":
            for t in inner.get("items", []):
                member = item(t)
                if member and not hidden(member):
                    if kind_of(member) == "function":
                        lines.add(f"trait-fn {prefix}::{member['name']}{signature(member)}")
                    else:
                        lines.add(f"trait-item {prefix}::{member['name']}")
        for impl_id in inner.get("impls", []):
            impl = item(impl_id)
            if not impl or hidden(impl):
                continue
            body = impl["inner"]["impl"]
            if body.get("trait") is not None:
                if not body.get("is_synthetic") and not body.get("blanket_impl"):
                    lines.add(f"impl {body['trait']['path']} for {prefix}")
                continue
            for m in body.get("items", []):
                method = item(m)
                if method and method["visibility"] == "public" and not hidden(method):
                    if kind_of(method) == "function":
                        lines.add(f"method {prefix}::{method['name']}{signature(method)}")
                    else:
                        lines.add(f"assoc {prefix}::{method['name']}")

    def walk(module: dict[str, Any], prefix: str) -> None:
        for id_ in module["inner"]["module"]["items"]:
            child = item(id_)
            if child is None or child["visibility"] != "public" or hidden(child):
                continue
            kind = kind_of(child)
            if kind == "use":
                use = child["inner"]["use"]
                name = use["name"]
                glob = "::*" if use.get("is_glob") else ""
                lines.add(f"use {prefix}::{name}{glob} = {use['source']}")
                target = item(use.get("id")) if use.get("id") is not None else None
                if target is not None and not use.get("is_glob"):
                    # An item of this crate, re-exported: listed at this path.
                    target_kind = kind_of(target)
                    if target_kind == "module":
                        walk(target, f"{prefix}::{name}")
                    elif target_kind == "function":
                        lines.add(f"fn {prefix}::{name}{signature(target)}")
                    elif target_kind in ("struct", "enum", "trait", "union"):
                        lines.add(f"{target_kind} {prefix}::{name}")
                        members(target, f"{prefix}::{name}")
                continue
            path = f"{prefix}::{child['name']}"
            if kind == "module":
                lines.add(f"mod {path}")
                walk(child, path)
            elif kind == "function":
                lines.add(f"fn {path}{signature(child)}")
            else:
                lines.add(f"{kind} {path}")
                if kind in ("struct", "enum", "trait", "union"):
                    members(child, path)

    root = item(data["root"])
    assert root is not None
    walk(root, root["name"])
    print("\n".join(sorted(lines)))


if __name__ == "__main__":
    main(sys.argv[1])
