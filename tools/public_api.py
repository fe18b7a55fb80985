#!/usr/bin/env python3
"""The public API of a crate, one item per line, from rustdoc's JSON output
(nightly: `cargo +nightly rustdoc -p CRATE --lib -- -Z unstable-options
--output-format json`). scripts/public-api writes it to CRATE/public-api.txt
and checks that the committed file is current, so that any change to what a
crate exposes shows as a diff in review.

Each line is `kind path`, and for a signature-carrying item its signature:
functions and methods with their parameters' names and types and their
return type; fields with their types; enum variants; trait items; trait
impls with their type arguments (`impl From<&str> for ...`); re-exports
with their source. A change of a type in a signature is a diff too. Items
marked #[doc(hidden)] are left out, as rustdoc leaves them out; so are
auto-trait impls (Send, Sync...), which follow from the fields.

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


def render_args(args: Any) -> str:
    if not args:
        return ""
    if "angle_bracketed" in args:
        a = args["angle_bracketed"]
        parts = []
        for arg in a.get("args", []):
            if "type" in arg:
                parts.append(render(arg["type"]))
            elif "lifetime" in arg:
                parts.append(arg["lifetime"])
            elif "const" in arg:
                parts.append(str(arg["const"].get("expr", "_")))
            else:
                parts.append("_")
        for c in a.get("constraints", []):
            binding = c.get("binding", {})
            if "equality" in binding:
                eq = binding["equality"]
                value = render(eq["type"]) if "type" in eq else "_"
                parts.append(f"{c['name']} = {value}")
            else:
                parts.append(f"{c['name']}: _")
        return f"<{', '.join(parts)}>" if parts else ""
    if "parenthesized" in args:
        p = args["parenthesized"]
        inputs = ", ".join(render(t) for t in p.get("inputs", []))
        output = p.get("output")
        return f"({inputs})" + (f" -> {render(output)}" if output else "")
    return ""


def render_path(path: dict[str, Any]) -> str:
    return path["path"] + render_args(path.get("args"))


def render_bounds(bounds: list[Any]) -> str:
    parts = []
    for b in bounds:
        if "trait_bound" in b:
            modifier = "?" if b["trait_bound"].get("modifier") == "maybe" else ""
            parts.append(modifier + render_path(b["trait_bound"]["trait"]))
        elif "outlives" in b:
            parts.append(b["outlives"])
    return " + ".join(parts)


def render(ty: Any) -> str:
    """A type as Rust spells it, in short (paths as rustdoc gives them)."""
    if ty is None:
        return "()"
    if isinstance(ty, str):
        return "_" if ty == "infer" else ty
    (kind, value), = ty.items()
    if kind == "resolved_path":
        return render_path(value)
    if kind == "primitive" or kind == "generic":
        return value
    if kind == "borrowed_ref":
        lifetime = f"{value['lifetime']} " if value.get("lifetime") else ""
        mutable = "mut " if value.get("is_mutable") else ""
        return f"&{lifetime}{mutable}{render(value['type'])}"
    if kind == "raw_pointer":
        return f"*{'mut' if value.get('is_mutable') else 'const'} {render(value['type'])}"
    if kind == "tuple":
        return f"({', '.join(render(t) for t in value)})"
    if kind == "slice":
        return f"[{render(value)}]"
    if kind == "array":
        return f"[{render(value['type'])}; {value['len']}]"
    if kind == "impl_trait":
        return f"impl {render_bounds(value)}"
    if kind == "dyn_trait":
        traits = " + ".join(render_path(t["trait"]) for t in value.get("traits", []))
        lifetime = f" + {value['lifetime']}" if value.get("lifetime") else ""
        return f"dyn {traits}{lifetime}"
    if kind == "qualified_path":
        trait = value.get("trait")
        self_type = render(value["self_type"])
        if trait:
            return f"<{self_type} as {render_path(trait)}>::{value['name']}"
        return f"{self_type}::{value['name']}"
    if kind == "function_pointer":
        sig = value.get("sig", {})
        inputs = ", ".join(render(t) for _, t in sig.get("inputs", []))
        output = sig.get("output")
        return f"fn({inputs})" + (f" -> {render(output)}" if output else "")
    return "_"


def signature(item: dict[str, Any]) -> str:
    sig = item["inner"]["function"]["sig"]
    params = []
    for name, ty in sig["inputs"]:
        if name == "self":
            params.append(render(ty).replace("Self", "self") if ty != {"generic": "Self"} else "self")
        else:
            params.append(f"{name}: {render(ty)}")
    output = sig.get("output")
    return f"({', '.join(params)})" + (f" -> {render(output)}" if output else "")


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
                    lines.add(f"field {prefix}::{field['name']}: {render(field['inner']['struct_field'])}")
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
                    lines.add(f"impl {render_path(body['trait'])} for {prefix}")
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
