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
_PLAIN_TYPES = frozenset([int, float, str, bool, complex, bytes, bytearray, list, tuple,
                          dict, set, frozenset, type(None)])
_DATA_MODULES = ("numpy", "torch", "jax", "jaxlib", "tensorflow", "cupy", "dask", "xarray")


def _short(s, n):
    s = str(s)
    return s if len(s) <= n else s[: max(n - 1, 0)] + "\u2026"


def _val(v, n=40):
    """A JSON-safe, short rendering of one scalar sample value."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v if -(2 ** 53) < v < 2 ** 53 else _short(v, n)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return str(v)
        return float("%.6g" % v)
    if isinstance(v, str):
        return _short(v, n)
    try:
        return _short(v, n)  # numpy scalars, Timestamps, Decimals: their str is O(1)
    except Exception:
        return "<" + type(v).__name__ + ">"


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


def _type_name(t):
    try:
        mod = getattr(t, "__module__", "") or ""
        name = getattr(t, "__qualname__", None) or getattr(t, "__name__", "?")
        if not isinstance(mod, str) or not isinstance(name, str):
            return "?"
    except Exception:
        return "?"
    if mod in ("builtins", "__main__"):
        return name
    return mod.split(".")[0] + "." + name


class _Ctx(object):
    def __init__(self, args):
        self.args = args
        mods = _sys.modules
        pd = mods.get("pandas")
        np = mods.get("numpy")
        self.DataFrame = getattr(pd, "DataFrame", None) if pd else None
        self.Series = getattr(pd, "Series", None) if pd else None
        self.Index = getattr(pd, "Index", None) if pd else None
        self.ndarray = getattr(np, "ndarray", None) if np else None
        self.generic = getattr(np, "generic", None) if np else None
        pl = mods.get("polars")
        self.PlDataFrame = getattr(pl, "DataFrame", None) if pl else None
        self.PlSeries = getattr(pl, "Series", None) if pl else None
        self.max_cols = int(args.get("max_columns", 40))
        self.head_cols = int(args.get("head_columns", 12))
        self.head_rows = int(args.get("head_rows", 3))


def _sub(t, cls):
    try:
        return cls is not None and issubclass(t, cls)
    except Exception:
        return False


def _dtype_str(dt):
    try:
        s = str(dt)
        if s == "category":
            try:
                s = "category(%d)" % len(dt.categories)
            except Exception:
                pass
        return _short(s, 40)
    except Exception:
        return "?"


def _frame_memory(df):
    """Shallow memory of a DataFrame without one Series per column (slow on wide frames)."""
    try:
        mgr = df._mgr
        total = 0
        for b in mgr.blocks:
            total += int(getattr(b.values, "nbytes", 0) or 0)
        try:
            total += int(df.index.memory_usage(deep=False))
        except Exception:
            pass
        return total
    except Exception:
        pass
    try:
        if df.shape[1] <= 200:
            return int(df.memory_usage(index=True, deep=False).sum())
    except Exception:
        pass
    return None


def _describe_pandas_frame(name, df, ctx, level):
    nrows, ncols = len(df.index), len(df.columns)
    d = {"name": name, "kind": "DataFrame", "type": "pandas.DataFrame", "shape": [nrows, ncols]}
    mem = _frame_memory(df)
    if mem is not None:
        d["memory"] = mem
    cap = ctx.max_cols if level >= 1 else (min(20, ctx.max_cols) if level == 0 else 0)
    cap = min(cap, ncols)
    dtypes = df.dtypes
    dvals = dtypes.values
    cols = {}
    colnames = df.columns
    for j in range(cap):
        cols[_short(colnames[j], 60)] = _dtype_str(dvals[j])
    d["columns"] = cols
    if ncols > cap:
        d["columns_omitted"] = ncols - cap
        counts = {}
        for dt in dvals:
            counts[dt] = counts.get(dt, 0) + 1
        d["dtype_counts"] = dict((_dtype_str(k), v) for k, v in counts.items())
    try:
        idx = df.index
        if type(idx).__name__ != "RangeIndex":
            d["index"] = _short(type(idx).__name__ + "[" + str(idx.dtype) + "]", 60)
    except Exception:
        pass
    if level >= 2 and nrows:
        hc = min(ctx.head_cols, cap)
        try:
            sub = df.iloc[: ctx.head_rows, :hc]
            rows = sub.to_numpy(dtype=object).tolist()
            d["head"] = [[_val(v, 24) for v in row] for row in rows]
        except Exception:
            pass
    return d


def _describe(name, v, ctx, level):
    """One variable as a small dict; level 0 = minimal, 2 = richest."""
    t = type(v)
    if _sub(t, ctx.DataFrame):
        return _describe_pandas_frame(name, v, ctx, level)
    if _sub(t, ctx.Series):
        d = {"name": name, "kind": "Series", "type": "pandas.Series", "shape": [len(v)],
             "dtype": _dtype_str(v.dtype)}
        try:
            d["memory"] = int(v.memory_usage(index=True, deep=False))
        except Exception:
            pass
        if v.name is not None:
            d["series_name"] = _short(v.name, 60)
        if level >= 1 and len(v):
            try:
                d["head"] = [_val(x, 24) for x in v.iloc[: ctx.head_rows].tolist()]
            except Exception:
                pass
        return d
    if _sub(t, ctx.ndarray):
        d = {"name": name, "kind": "ndarray", "type": "numpy.ndarray", "shape": list(v.shape),
             "dtype": _dtype_str(v.dtype), "memory": int(v.nbytes)}
        if level >= 1 and v.size and v.dtype.kind in "biufcmMUS?":
            try:
                d["head"] = [_val(x, 24) for x in v.flat[: ctx.head_rows].tolist()]
            except Exception:
                pass
        return d
    if _sub(t, ctx.PlDataFrame):
        d = {"name": name, "kind": "DataFrame", "type": "polars.DataFrame",
             "shape": list(v.shape)}
        schema = v.schema
        cap = min(ctx.max_cols if level >= 2 else 12, len(schema))
        cols = {}
        for j, (k, dt) in enumerate(schema.items()):
            if j >= cap:
                break
            cols[_short(k, 60)] = _short(dt, 40)
        d["columns"] = cols
        if len(schema) > cap:
            d["columns_omitted"] = len(schema) - cap
        try:
            d["memory"] = int(v.estimated_size())
        except Exception:
            pass
        return d
    if _sub(t, ctx.PlSeries):
        return {"name": name, "kind": "Series", "type": "polars.Series", "shape": [len(v)],
                "dtype": _short(v.dtype, 40)}
    mod = (getattr(t, "__module__", "") or "").split(".")[0]
    if mod in _DATA_MODULES and hasattr(t, "shape") and hasattr(t, "dtype"):
        # tensors and other array-likes of well-known libraries: shape/dtype are O(1)
        d = {"name": name, "kind": "array", "type": _type_name(t)}
        try:
            shape = getattr(v, "shape", None)
            if shape is not None:
                d["shape"] = [s if isinstance(s, int) else _short(s, 20) for s in tuple(shape)]
            dt = getattr(v, "dtype", None)
            if dt is not None:
                d["dtype"] = _dtype_str(dt)
            dev = getattr(v, "device", None)
            if dev is not None and mod == "torch":
                d["device"] = _short(dev, 20)
        except Exception:
            pass
        return d
    if t is str or t is bytes or t is bytearray:
        d = {"name": name, "kind": "str" if t is str else "bytes", "type": t.__name__,
             "len": len(v)}
        n = 80 if level >= 1 else 30
        d["value" if len(v) <= n else "prefix"] = _short(v[:n] if t is str else repr(v[:n]), n + 1)
        return d
    if t is bool or t is int or t is float or t is complex or v is None or _sub(t, ctx.generic):
        return {"name": name, "kind": "scalar", "type": _type_name(t), "value": _val(v, 60)}
    if t in (list, tuple, set, frozenset, dict) or (
        _sub(t, dict) or _sub(t, list) or _sub(t, tuple) or _sub(t, set)
    ) and mod in ("builtins", "collections"):
        d = {"name": name, "kind": "container", "type": _type_name(t), "len": len(v)}
        if len(v):
            try:
                if _sub(t, dict):
                    k0 = next(iter(v))
                    d["first"] = _type_name(type(k0)) + " -> " + _type_name(type(v[k0]))
                    if level >= 1:
                        keys = []
                        for i, k in enumerate(v):
                            if i >= 8:
                                break
                            keys.append(_val(k, 30))
                        d["keys"] = keys
                else:
                    first = v[0] if _sub(t, (list, tuple)) else next(iter(v))
                    d["first"] = _type_name(type(first))
                    if level >= 1:
                        if type(first) is dict:
                            d["first_keys"] = [_val(k, 30) for i, k in zip(range(8), first)]
                        elif type(first) in (int, float, bool, str) or first is None:
                            d["first_value"] = _val(first, 40)
            except Exception:
                pass
        return d
    # anything else: its type only (repr of unknown objects can be arbitrarily slow)
    return {"name": name, "kind": "object", "type": _type_name(t)}


def _category(v, t, ctx):
    """'data' (frames/arrays), 'module', 'function', 'class' or 'value'."""
    if t in _PLAIN_TYPES:
        return "value"
    if (_sub(t, ctx.DataFrame) or _sub(t, ctx.Series) or _sub(t, ctx.ndarray)
            or _sub(t, ctx.PlDataFrame) or _sub(t, ctx.PlSeries)):
        return "data"
    mod = (getattr(t, "__module__", "") or "").split(".")[0]
    if mod in _DATA_MODULES and hasattr(t, "shape") and not isinstance(v, type):
        return "data"
    if t.__name__ == "module" and mod == "builtins":
        return "module"
    if isinstance(v, type):
        return "class"
    if t.__name__ in ("function", "builtin_function_or_method", "partial", "method",
                      "cython_function_or_method", "method-wrapper"):
        return "function"
    return "value"


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
