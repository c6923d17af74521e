#!/usr/bin/env python3
"""Writes docs/schemas/serve/<type>.schema.json: the records `yingji serve`
adds to the engine's outputs (routing messages, service records). Their `id`
is a string with a namespace (`route-7`, `svc-2`), unlike the engine's
integer ids. serve/tests/serve_api.rs validates real records against them.

    python3 docs/schemas/serve/generate.py
"""
import json, os

S = {"type": "string"}
TS = {"type": "string", "format": "date-time"}
I = {"type": "integer", "minimum": 0}
B = {"type": "boolean"}
AS = {"type": "array", "items": S}
LABELS = {"type": "object", "additionalProperties": S}

types = {
    "route_message": ({
        "id": {"type": "string", "pattern": "^route-[0-9]+$"},
        "ts": TS, "group": LABELS, "receiver": S, "channel": S, "to": S, "text": S,
        "segments": {"type": "integer", "minimum": 1}, "truncated": B,
        "status": {"enum": ["send", "rate_limited"]},
        "state": {"enum": ["firing", "resolved"]},
        "alerts": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["signal", "key", "level"],
            "properties": {"signal": S, "key": S, "level": S}}},
    }),
    "definitions_reloaded": ({
        "id": {"type": "string", "pattern": "^svc-[0-9]+$"},
        "ts": TS, "kept": AS, "reset": AS, "files": I,
    }),
}

here = os.path.dirname(os.path.abspath(__file__))
for name, props in types.items():
    p = {"type": {"const": name}}
    p.update(props)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://yingji.example/schemas/serve/{name}.schema.json",
        "title": name,
        "type": "object",
        "required": ["type"] + list(props.keys()),
        "properties": p,
        "additionalProperties": False,
    }
    with open(os.path.join(here, f"{name}.schema.json"), "w", encoding="utf-8") as f:
        json.dump(schema, f, ensure_ascii=False, indent=2)
        f.write("\n")
print(len(types), "schemas")
