# Kernel-side half of the variable probe.
#
# This file is NOT imported by the server: its text is sent to the user's kernel
# and exec'd in a throw-away dict (see kernel_probe.py), so it must
#   * run on any Python >= 3.8 with only the standard library,
#   * never import heavy libraries itself (pandas/numpy are used only if the user
#     already imported them: sys.modules lookups),
#   * never raise (an exception escaping user_expressions would set sys.last_*
#     and change what %debug / %tb show), and
#   * do work independent of the size of the data: only O(1) attributes (shape,
#     dtype, len, first element, a 3-row head), never repr() of unknown objects.
# The wrapper calls __ci_main__(user_namespace, args) and reads __ci_out__.
# How one value is described (_describe, _category, _short...) comes from
# _probe_kernel_describe.py, which is sent ahead of this file as part of one script.

import sys as _sys
import json as _json
import time as _time
import re as _re

_SKIP_NAMES = frozenset(
    ["In", "Out", "get_ipython", "exit", "quit", "open"]
)
_ASSIGN_RE = _re.compile(
    r"^[ \t]*((?:[A-Za-z_]\w*[ \t]*,[ \t]*)*[A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?"
    r"(?:\+|-|\*\*|\*|//|/|%|@|&|\||\^|>>|<<)?=(?!=)",
    _re.M,
)
_OTHER_BIND_RE = _re.compile(
    r"^[ \t]*(?:for[ \t]+((?:[A-Za-z_]\w*[ \t]*,?[ \t]*)+)[ \t]+in\b"
    r"|(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)"
    r"|class[ \t]+([A-Za-z_]\w*)"
    r"|(?:from[ \t]+\S+[ \t]+)?import[ \t]+(.+)$)"
    r"|\bas[ \t]+([A-Za-z_]\w*)",
    _re.M,
)
# df["x"] = ..., df.loc[...] = ..., model.fit(...) is not an assignment but df.attr = is
_MUTATE_RE = _re.compile(r"^[ \t]*([A-Za-z_]\w*)[ \t]*[\[.][^\n=]*[^=!<>\n]=(?!=)", _re.M)
_IDENT_RE = _re.compile(r"[A-Za-z_]\w*")
_DIGITS_RE = _re.compile(r"(\d+)")


def _recent_names(ns, k=20):
    """Names bound in the last k input cells, most recent first (from IPython's In)."""
    hist = ns.get("In")
    if not isinstance(hist, list):
        hist = ns.get("_ih")
    if not isinstance(hist, list):
        return {}, {}
    assigned, mentioned = {}, {}
    cells = hist[-k:]
    n = len(cells)
    for age, src in enumerate(reversed(cells)):
        if not isinstance(src, str) or not src:
            continue
        src = src[-20000:]
        for m in _ASSIGN_RE.finditer(src):
            for name in m.group(1).split(","):
                assigned.setdefault(name.strip(), age)
        for m in _MUTATE_RE.finditer(src):
            assigned.setdefault(m.group(1), age)
        for m in _OTHER_BIND_RE.finditer(src):
            grp = m.group(1) or m.group(2) or m.group(3) or m.group(5)
            if m.group(4):
                for part in m.group(4).split(","):
                    part = part.strip().strip("()")
                    bits = part.split(" as ")
                    grp2 = bits[-1].strip().split(".")[0]
                    if grp2:
                        assigned.setdefault(grp2, age)
                continue
            if grp:
                for name in grp.split(","):
                    name = name.strip()
                    if name:
                        assigned.setdefault(name, age)
        if age < 5:
            for name in _IDENT_RE.findall(src[-5000:]):
                mentioned.setdefault(name, age)
    del n
    return assigned, mentioned


def _natural(name):
    """Sort key putting v2 before v10."""
    return [int(p) if p.isdigit() else p for p in _DIGITS_RE.split(name)]


def _dumps(obj):
    return _json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def _size(obj):
    return len(_dumps(obj).encode("utf-8"))


def __ci_main__(ns, args):
    t0 = _time.perf_counter()
    max_bytes = int(args.get("max_bytes", 16000))
    max_entries = int(args.get("max_entries", 60))
    max_rest = int(args.get("max_rest", 20))
    soft_ms = float(args.get("soft_ms", 40.0))
    ctx = _Ctx(args)
    hidden = {}
    try:
        ip = ns.get("get_ipython")
        if callable(ip):
            hidden = dict(ip().user_ns_hidden)
    except Exception:
        hidden = {}
    assigned, mentioned = _recent_names(ns)

    data, recent, rest = [], [], []
    modules, functions, classes = [], [], []
    type_counts = {}
    cat_cache = {}
    for name, v in list(ns.items()):
        if not isinstance(name, str) or name.startswith("_") or name in _SKIP_NAMES:
            continue
        if name in hidden and hidden[name] is v:
            continue  # IPython's own names (%who hides them too) unless the user rebound them
        t = type(v)
        cat = cat_cache.get(t)
        if cat is None:
            try:
                cat = _category(v, t, ctx)
            except Exception:  # hostile metaclasses, proxies: list by name only
                cat = "value"
            cat_cache[t] = cat
        if cat == "module":
            modules.append(name)
            continue
        if cat == "class":
            classes.append(name)
            continue
        if cat == "function":
            functions.append(name)
            continue
        age = assigned.get(name)
        if cat == "data":
            data.append((0 if age is not None else 1, age if age is not None else 99,
                         mentioned.get(name, 99), _natural(name), name, v))
        elif age is not None:
            recent.append((age, _natural(name), name, v))
        else:
            rest.append((mentioned.get(name, 99), _natural(name), name, v))
    data.sort(key=lambda x: x[:4])
    recent.sort(key=lambda x: x[:2])
    rest.sort(key=lambda x: x[:2])
    ordered = [(x[4], x[5]) for x in data] + [(x[2], x[3]) for x in recent]
    n_prio = len(ordered)
    # of the remaining names, list only a few of each type: 1,000 dicts say little one by one
    per_type = {}
    for x in rest:
        tn = type(x[3])
        per_type[tn] = per_type.get(tn, 0) + 1
        if per_type[tn] <= 3:
            ordered.append((x[2], x[3]))
    rest_names = [(x[2], x[3]) for x in rest]

    out = {"ok": True, "language": "python",
           "python": "%d.%d" % _sys.version_info[:2],
           "total_names": len(data) + len(recent) + len(rest) + len(modules)
           + len(functions) + len(classes)}
    # reserve room for the envelope and the summary of what is not listed
    reserve = min(900, max_bytes // 4)
    budget = max(max_bytes - reserve, 100)

    chosen = []   # [name, value, level, dict, size]
    used = 0
    listed = 0
    for i, (name, v) in enumerate(ordered):
        if listed >= max_entries or (i >= n_prio and i - n_prio >= max_rest):
            break
        try:
            d = _describe(name, v, ctx, 0)
        except Exception as e:
            d = {"name": name, "kind": "object", "type": _type_name(type(v)),
                 "error": _short(type(e).__name__, 40)}
        s = _size(d) + 1
        lvl = 0
        if used + s > budget and i < len(data):
            try:  # frames and arrays: at least name, type and shape
                d = _describe(name, v, ctx, -1)
                s = _size(d) + 1
                lvl = -1
            except Exception:
                pass
        if used + s > budget:
            if i < len(data):
                continue  # a later, smaller frame may still fit
            break
        chosen.append([name, v, lvl, d, s])
        used += s
        listed += 1
    # upgrade in priority order while time and bytes allow: first every frame cut to
    # name+shape gets its columns back, then each entry gets the richest level that fits
    for targets in ((0,), (2, 1)):
        for entry in chosen:
            if (_time.perf_counter() - t0) * 1000.0 > soft_ms:
                out["note"] = "probe time limit reached; some variables shown briefly"
                break
            for level in targets:
                if entry[2] >= level:
                    break
                try:
                    d = _describe(entry[0], entry[1], ctx, level)
                except Exception:
                    continue
                s = _size(d) + 1
                if used - entry[4] + s <= budget:
                    used += s - entry[4]
                    entry[2], entry[3], entry[4] = level, d, s
                    break
    listed_names = set(e[0] for e in chosen)
    out["variables"] = [e[3] for e in chosen]
    for e in chosen:
        e[1] = None

    omitted = []
    seen = set()
    for name, v in ordered + rest_names:
        if name not in listed_names and name not in seen:
            seen.add(name)
            omitted.append(name)
            tn = _type_name(type(v))
            type_counts[tn] = type_counts.get(tn, 0) + 1
    summary = {}
    if omitted:
        summary["omitted"] = len(omitted)
        summary["omitted_types"] = dict(
            sorted(type_counts.items(), key=lambda kv: -kv[1])[:12])
        summary["omitted_names"] = [_short(n, 30) for n in omitted[:20]]
    if modules:
        summary["modules"] = [_short(n, 30) for n in sorted(modules)[:25]]
        if len(modules) > 25:
            summary["modules_omitted"] = len(modules) - 25
    if functions:
        summary["functions"] = [_short(n, 30) for n in sorted(functions)[:25]]
        if len(functions) > 25:
            summary["functions_omitted"] = len(functions) - 25
    if classes:
        summary["classes"] = [_short(n, 30) for n in sorted(classes)[:15]]
        if len(classes) > 15:
            summary["classes_omitted"] = len(classes) - 15
    out["summary"] = summary
    out["elapsed_ms"] = round((_time.perf_counter() - t0) * 1000.0, 2)
    text = _dumps(out)
    # hard bound: shrink the summary, then drop listed variables from the end
    while len(text.encode("utf-8")) > max_bytes:
        if summary.get("omitted_names"):
            summary["omitted_names"] = summary["omitted_names"][: len(summary["omitted_names"]) // 2]
        elif summary.get("functions") or summary.get("classes") or summary.get("modules"):
            for key in ("functions", "classes", "modules"):
                summary.pop(key, None)
        elif out["variables"]:
            out["variables"].pop()
            out["truncated"] = True
        else:
            out = {"ok": True, "language": "python", "variables": [], "truncated": True}
            text = _dumps(out)
            break
        text = _dumps(out)
    return text


def __ci_safe_main__(ns, args):
    try:
        return __ci_main__(ns, args)
    except BaseException as e:  # never let anything reach IPython's error handler
        return _dumps({"ok": False, "error": _short(type(e).__name__ + ": " + str(e), 300)})


__ci_out__ = __ci_safe_main__(__ci_ns__, __ci_args__)  # noqa: F821 (provided by the wrapper)
