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

# The duty-officer screen's responses (docs/web.md): not records, so no
# `type`; serve/tests/web_api.rs validates real responses against them.
N = lambda t: {"type": [t, "null"]}
NS, NTS, NI = N("string"), {"type": ["string", "null"], "format": "date-time"}, N("integer")


def obj(props, required=None):
    return {"type": "object", "additionalProperties": False,
            "required": list(props.keys()) if required is None else required,
            "properties": props}


LEVEL = {"enum": ["none", "blue", "yellow", "orange", "red"]}
SIGNAL = obj({"signal": S, "key": S, "level": LEVEL, "since": TS})
ENTRY = obj({"seq": {"type": "integer", "minimum": 1}, "ts": S, "type": S, "township": NS,
             "signal": NS, "text": S, "output": {"type": "object"}})
responses = {
    "web_entry": ENTRY,
    "web_view": obj({
        "boot": S, "seq": I, "clock": NTS, "updated": NTS,
        "townships": {"type": "array", "items": obj({
            "code": S, "name": S, "level": LEVEL,
            "signals": {"type": "array", "items": SIGNAL},
            "absent": AS,
            "tile": {"type": ["object", "null"], "additionalProperties": False,
                     "required": ["row", "col"], "properties": {"row": I, "col": I}},
            "geo_missing": B,
        }, ["code", "name", "level", "signals", "absent", "tile"])},
        "other_signals": {"type": "array", "items": SIGNAL},
        "stations": {"type": "array", "items": obj({
            "id": S, "township": NS, "absent": B, "absent_since": NTS, "last": NTS})},
        "calls": {"type": "array", "items": obj({
            "ref": S, "instance": S, "plan": S, "area": S, "township": NS, "chain": NS,
            "tier": I, "step": S,
            "people": {"type": "array", "items": obj({
                "id": S, "name": S, "role": S, "tier": I, "channels": AS, "called": TS,
                "deadline": NTS,
                "answered": NTS, "response_s": NI, "in_time": N("boolean"), "overdue": B})},
            "deadline": NTS, "answered": B, "pending": AS, "overdue": B,
            "escalations": {"type": "array", "items": obj({
                "from_tier": I, "to_tier": I, "ts": TS,
                "reason": {"enum": ["timeout", "declined"]}})},
        })},
        "plans": {"type": "array", "items": obj({
            "instance": S, "plan": S, "area": S, "township": NS, "started": TS, "step": S,
            "tier": I, "response": {"enum": ["Ⅳ级", "Ⅲ级", "Ⅱ级", "Ⅰ级", None]},
            "response_level": {"enum": ["IV", "III", "II", "I", "None", None]},
            "measures": {"type": "array", "items": obj({
                "measure": S, "target": S, "ts": TS, "step": S, "text": S})},
            "pending": I,
            "graph": {"type": ["object", "null"], "additionalProperties": False,
                      "required": ["nodes", "edges"], "properties": {
                "nodes": {"type": "array", "items": obj({
                    "id": S, "label": S,
                    "kind": {"enum": ["start", "notify", "await_ack", "measures",
                                      "declare_response", "branch", "wait", "close",
                                      "parallel", "join", "check", "start_plan", "supplies"]},
                    "response": {"enum": ["Ⅳ", "Ⅲ", "Ⅱ", "Ⅰ", None]}})},
                "edges": {"type": "array", "items": obj({
                    "from": S, "to": S, "label": S,
                    "kind": {"enum": ["start", "next", "guard", "else", "done",
                                      "timeout", "fork"]}})}}},
        })},
        "geo": obj({"configured": B, "missing": AS}),
        "timeline": {"type": "array", "items": ENTRY},
    }),
    "web_replay": obj({"replay": S, "speed": {"type": "number"}, "lines": I,
                       "view": S, "stream": S}),
}
for name, body in responses.items():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://yingji.example/schemas/serve/{name}.schema.json",
        "title": name,
    }
    schema.update(body)
    with open(os.path.join(here, f"{name}.schema.json"), "w", encoding="utf-8") as f:
        json.dump(schema, f, ensure_ascii=False, indent=2)
        f.write("\n")
