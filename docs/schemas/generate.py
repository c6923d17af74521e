#!/usr/bin/env python3
"""Writes docs/schemas/<type>.schema.json, one JSON Schema (draft 2020-12) per
output type. The field lists here are the output contract; tests/output_schemas.rs
validates every output of the bundled samples against these files.

    python3 docs/schemas/generate.py
"""
import json, os

S = {"type": "string"}
TS = {"type": "string", "format": "date-time"}
OTS = {"type": ["string", "null"], "format": "date-time"}
I = {"type": "integer", "minimum": 0}
B = {"type": "boolean"}
OS = {"type": ["string", "null"]}
OI = {"type": ["integer", "null"], "minimum": 0}
AS = {"type": "array", "items": S}
LEVEL = {"enum": ["none", "blue", "yellow", "orange", "red"]}
RESP = {"enum": ["None", "IV", "III", "II", "I"]}
CAUSE = {
    "type": "object",
    "description": "what made it happen: exactly one of event (input line), timer, level, plan",
    "minProperties": 1, "maxProperties": 1,
    "properties": {
        "event": I,
        "timer": {"type": "object", "required": ["what", "due"], "additionalProperties": False,
                  "properties": {"what": S, "due": TS}},
        "level": {"type": "object", "required": ["signal", "key", "event"], "additionalProperties": False,
                  "properties": {"signal": S, "key": S, "event": I}},
        "plan": {"type": "object", "required": ["instance"], "additionalProperties": False,
                 "properties": {"instance": S}},
    },
    "additionalProperties": False,
}
HEAD = {"ts": TS, "plan": S, "instance": S, "area": S, "step": S, "cause": CAUSE}

types = {
    "level_changed": ({"ts": TS, "signal": S, "key": S, "from": LEVEL, "to": LEVEL, "rule": OS,
                       "rule_at": OS, "values": {"type": "object"}, "event": I,
                       "reason": {"enum": ["raise", "clear", "step_down"]}, "since": TS}, True),
    "late": ({"ts": TS, "kind": S, "event": I, "watermark": TS, "signals": AS, "applied": B}, True),
    "absence": ({"ts": TS, "signal": S, "key": S, "last_seen": OTS, "missing": S}, True),
    "recovered": ({"ts": TS, "signal": S, "key": S, "last_seen": OTS, "event": I}, True),
    "table_miss": ({"ts": TS, "signal": S, "key": S, "table": S, "event": I}, True),
    "plan_started": (dict(HEAD, trigger=S, level=LEVEL), True),
    "notify": (dict(HEAD, chain=OS, tier=I, role=S, person=S, name=S, channels=AS, ref=S, deadline=OTS), True),
    "notify_failed": (dict(HEAD, chain=OS, tier=I, role=S, why={"enum": ["no_holder", "area_not_in_roster"]},
                           message=S), True),
    "escalated": (dict(HEAD, chain=S, from_tier=I, from_role=S, to_tier=I, to_role=S, timeout=S,
                       pending=AS), True),
    "acked": (dict(HEAD, person=S, ref=S, tier=I, after=S, in_time=B, answers_chain=B), True),
    "ack_rejected": ({"ts": TS, "instance": OS, "step": OS, "person": S, "ref": OS,
                      "reason": {"enum": ["unknown_call", "unknown_person", "duplicate", "closed",
                                          "ambiguous", "not_called_yet", "unknown_answer"]}, "cause": CAUSE}, True),
    "unanswered": (dict(HEAD, chain=S, roles=AS, pending=AS, fallback=AS), True),
    "measure": (dict(HEAD, measure=S, target=S, response=RESP, level=LEVEL), True),
    "response_declared": (dict(HEAD, level=RESP, **{"from": RESP}, warning=LEVEL), True),
    "timed_out": (dict(HEAD, timeout=S, to=S), True),
    "plan_closed": (dict(HEAD, verify={"type": "array", "items": {
        "type": "object", "additionalProperties": False,
        "required": ["stage", "at", "status", "event", "by"],
        "properties": {"stage": {"enum": ["预警", "响应", "反馈", "核实"]}, "at": OTS,
                       "status": {"enum": ["done", "missing"]}, "event": OI, "by": S}}},
        complete=B, unanswered=AS), True),
    "plan_start_rejected": ({"ts": TS, "plan": S, "area": S,
                             "reason": {"enum": ["unknown_plan", "unknown_area", "not_manual", "already_open"]},
                             "instance": OS, "known": AS, "cause": CAUSE}, True),
    "event_refused": ({"ts": TS, "kind": S, "area": OS, "reason": {"enum": ["no_open_instance", "not_awaited",
                                                                    "no_open_check", "already_done"]},
                       "open": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                             "required": ["instance", "step"],
                                                             "properties": {"instance": S, "step": S}}},
                       "cause": CAUSE}, True),
    "step_entered": (dict(HEAD, kind={"enum": ["notify", "await_ack", "measures", "declare_response",
                                                "branch", "wait", "close", "parallel", "join",
                                                "check", "start_plan", "supplies"]}), True),
    "area_joined": (dict(HEAD, joined=S, affected=AS), True),
    "joined": (dict(HEAD, mode={"enum": ["all", "any"]}, branches={"type": "array", "items": {
        "type": "object", "additionalProperties": False, "required": ["branch", "status"],
        "properties": {"branch": S, "status": {"enum": ["done", "stopped", "parked"]}}}}), True),
    "check_overdue": (dict(HEAD, check=S, opened=TS, due=TS), True),
    "check_done": (dict(HEAD, check=S, due=TS, in_time=B, after=S, by=OS), True),
    "declined": (dict(HEAD, person=S, ref=S, tier=I, role=S), True),
    "supply": (dict(HEAD, table=S, township=S, item=S, quantity=I, unit=OS), True),
    "script_error": ({"ts": TS, "function": S, "signal": S, "key": S, "event": I, "limit": OS, "message": S}, True),
    "script_suppressed": ({"ts": TS, "function": S, "suppressed": I, "since": TS}, True),
}
# reporting deadlines: the status part is flattened and varies with the status
for t in ["report_due", "report_late", "report_missing"]:
    types[t] = ({"ts": TS, "deadlines": S, "stage": S, "occurrence": OI, "subject": S, "unit": S,
                 "from": TS, "due": TS, "status": S, "rule": S, "rule_at": S}, False)

here = os.path.dirname(os.path.abspath(__file__))
for name, (props, closed) in types.items():
    p = {"type": {"const": name}, "id": {"type": "integer", "minimum": 1}}
    p.update(props)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://yingji.example/schemas/{name}.schema.json",
        "title": name,
        "type": "object",
        "required": ["type", "id"] + list(props.keys()),
        "properties": p,
        "additionalProperties": not closed,
    }
    with open(os.path.join(here, f"{name}.schema.json"), "w", encoding="utf-8") as f:
        json.dump(schema, f, ensure_ascii=False, indent=2)
        f.write("\n")
print(len(types), "schemas")
