#!/usr/bin/env python3
"""Renders every chat template in ../shared/data/templates (and the built-in fallback template of
providers/local/chat/chat_format.cpp) with Python's jinja2, the way Hugging Face's
apply_chat_template does, for the conversations in conversations.json. The C++ test
(chat_template_test.cpp) must reproduce each expected file byte for byte.

Usage: python3 tests/chat_template/make_expected.py   (from the repository root; jinja2 3.1)
Writes tests/chat_template/expected/<template>/<conversation>.gen<0|1>.txt, or .err when jinja2
raised: first line "raise" (raise_exception) or "error", second line the message.
"""
import json
import os
import re
import shutil
import sys
from datetime import datetime, timezone

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("FH_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
if not os.path.isdir(SHARED):
    SHARED = "/work/shared"
TEMPLATES = os.path.join(SHARED, "data", "templates")
NOW = 1768478400  # 2026-01-15 12:00:00 UTC; the C++ test passes the same clock
BOS, EOS = "<s>", "</s>"


class Raised(Exception):
    pass


def raise_exception(message):
    raise Raised(message)


def strftime_now(fmt):
    return datetime.fromtimestamp(NOW, tz=timezone.utc).strftime(fmt)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # Hugging Face replaces jinja2's tojson (which sorts keys and HTML-escapes) with this.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def sorted_json(v):
    """fh::json orders object keys; tool-call arguments reach C++ templates sorted."""
    if isinstance(v, dict):
        return {k: sorted_json(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [sorted_json(x) for x in v]
    return v


FIRST = ["type", "title", "description", "enum", "properties", "items", "required"]


def schema(node, depth=0):
    """The key order chat_format.cpp gives a tool's parameter schema."""
    if not isinstance(node, dict) or depth > 64:
        return sorted_json(node)
    def conv(k, v):
        if k == "properties" and isinstance(v, dict):
            return {p: schema(v[p], depth + 1) for p in sorted(v)}
        if k in ("items", "additionalProperties", "not"):
            return schema(v, depth + 1)
        if k in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(v, list):
            return [schema(x, depth + 1) for x in v]
        return sorted_json(v)
    out = {}
    for k in FIRST:
        if k in node:
            out[k] = conv(k, node[k])
    for k in sorted(node):
        if k not in FIRST:
            out[k] = conv(k, node[k])
    return out


def hf_messages(msgs):
    out = []
    for m in msgs:
        d = {"role": m["role"], "content": m.get("content", "")}
        if m["role"] == "assistant" and m.get("tool_calls"):
            d["tool_calls"] = [{"id": c.get("id", ""), "type": "function",
                                "function": {"name": c["name"], "arguments": sorted_json(c.get("arguments", {}))}}
                               for c in m["tool_calls"]]
        if m["role"] == "assistant" and m.get("reasoning"):
            d["reasoning_content"] = m["reasoning"]
        if m["role"] == "tool":
            d["tool_call_id"] = m["tool_call_id"]
            if m.get("name"):
                d["name"] = m["name"]
        out.append(d)
    return out


def string_arguments(messages):
    out = []
    for m in messages:
        m = dict(m)
        if "tool_calls" in m:
            m["tool_calls"] = [dict(c, function=dict(c["function"], arguments=c["function"]["arguments"]
                                                      if isinstance(c["function"]["arguments"], str)
                                                      else json.dumps(c["function"]["arguments"], ensure_ascii=False)))
                               for c in m["tool_calls"]]
        out.append(m)
    return out


def hf_tools(tools):
    return [{"type": "function", "function": {"name": t["name"], "description": t.get("description", ""),
                                              "parameters": schema(t["parameters"])}} for t in tools]


def fallback_template():
    src = open(os.path.join(ROOT, "providers", "local", "chat", "chat_format.cpp"), encoding="utf-8").read()
    m = re.search(r'kFallback =\s*R"\((.*?)\)";', src, re.S)
    return m.group(1)


def main():
    spec = json.load(open(os.path.join(HERE, "conversations.json"), encoding="utf-8"))
    templates = {}
    for f in sorted(os.listdir(TEMPLATES)):
        if f.endswith(".jinja"):
            templates[f[:-6]] = open(os.path.join(TEMPLATES, f), encoding="utf-8").read()
    templates["fallback"] = fallback_template()
    out_dir = os.path.join(HERE, "expected")
    shutil.rmtree(out_dir, ignore_errors=True)
    env = make_env()
    counts = {"ok": 0, "raise": 0, "error": 0}
    for name, src in templates.items():
        tdir = os.path.join(out_dir, name)
        os.makedirs(tdir)
        tmpl = env.from_string(src)
        for conv in spec["conversations"]:
            for gen in (False, True):
                ctx = {"messages": hf_messages(conv["messages"])}
                if conv["tools"]:
                    ctx["tools"] = hf_tools(spec["tools"])
                ctx.update(add_generation_prompt=gen, bos_token=BOS, eos_token=EOS)
                base = os.path.join(tdir, "%s.gen%d" % (conv["name"], int(gen)))
                try:
                    try:
                        text = tmpl.render(**ctx)
                    except Raised:
                        raise
                    except Exception:
                        # chat_format.cpp retries with arguments as JSON text (json.dumps form).
                        if not any(m.get("tool_calls") for m in ctx["messages"]):
                            raise
                        ctx2 = dict(ctx, messages=string_arguments(ctx["messages"]))
                        try:
                            text = tmpl.render(**ctx2)
                        except Exception:
                            tmpl.render(**ctx)  # report the first error
                            raise
                except Raised as e:
                    open(base + ".err", "w", encoding="utf-8").write("raise\n%s\n" % e)
                    counts["raise"] += 1
                    continue
                except Exception as e:  # a template bug the C++ side must also report as an error
                    open(base + ".err", "w", encoding="utf-8").write("error\n%s: %s\n" % (type(e).__name__, e))
                    counts["error"] += 1
                    continue
                with open(base + ".txt", "w", encoding="utf-8", newline="") as f:
                    f.write(text)
                counts["ok"] += 1
    snippets = json.load(open(os.path.join(HERE, "snippets.json"), encoding="utf-8"))
    results = {}
    for sn in snippets:
        try:
            results[sn["name"]] = {"out": env.from_string(sn["template"]).render(**sorted_json(sn["context"]))}
        except Raised as e:
            results[sn["name"]] = {"error": "raise", "message": str(e)}
        except Exception as e:
            results[sn["name"]] = {"error": "error", "message": "%s: %s" % (type(e).__name__, e)}
    with open(os.path.join(out_dir, "snippets.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")
    print("jinja2 %s: %d templates, %s" % (jinja2.__version__, len(templates), counts), file=sys.stderr)


if __name__ == "__main__":
    main()
