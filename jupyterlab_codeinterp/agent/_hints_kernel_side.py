# Kernel-side half of the repair hints (agent/hints.py).
#
# This file is NOT imported by the server: its text is sent to the user's kernel and
# exec'd in a fresh dict (see hints.kernel_facts_expression), so its functions never reach
# the user's namespace. It reads only: names and types in user_ns, DataFrame.columns,
# dir() of an object or module, inspect.signature of a function the cell called,
# importlib.util.find_spec (which does not import top-level packages). It never raises; it
# sets __ci_out__ (JSON) from __ci_ns__ (the user namespace) and __ci_args__.
# ruff: noqa: F821
def __ci_facts(ns, args):
    import sys, importlib.util
    out = {}
    kind = args.get("kind")
    pd = sys.modules.get("pandas")
    def user_names():
        return [k for k in ns if not k.startswith("_") and k not in ("In", "Out", "exit", "quit", "get_ipython")]
    if kind == "columns":
        frames = []
        wanted = [n for n in args.get("names", []) if n in ns]
        pool = wanted or [k for k in user_names()][-200:]
        for name in pool:
            v = ns.get(name)
            if pd is not None and isinstance(v, pd.DataFrame):
                cols = [str(c) for c in list(v.columns[:300])]
                frames.append({"name": name, "columns": cols, "ncols": int(v.shape[1])})
            elif pd is not None and isinstance(v, pd.Series) and name in wanted:
                frames.append({"name": name, "index": [str(i) for i in list(v.index[:100])]})
            if len(frames) >= 4:
                break
        out["frames"] = frames
    elif kind == "text_columns":
        frames = []
        for name in [n for n in args.get("names", []) if n in ns]:
            v = ns.get(name)
            if pd is None or not isinstance(v, pd.DataFrame):
                continue
            text = []
            for c in list(v.columns[:300]):
                col = v[c]
                if isinstance(col, pd.DataFrame) or pd.api.types.is_numeric_dtype(col) \
                        or pd.api.types.is_datetime64_any_dtype(col):
                    continue
                text.append([str(c), [str(x)[:24] for x in col.dropna().unique()[:3]]])
                if len(text) >= 12:
                    break
            frames.append({"name": name, "text": text})
            if len(frames) >= 2:
                break
        out["frames"] = frames
    elif kind == "names":
        out["names"] = user_names()[-500:]
    elif kind == "attrs":
        objs = []
        for name in args.get("names", []):
            if name in ns:
                v = ns[name]
                objs.append({"name": name, "type": type(v).__name__, "attrs": [a for a in dir(v) if not a.startswith("_")][:600]})
        tname = args.get("type")
        mod = args.get("module")
        if mod and mod in sys.modules:
            objs.append({"name": mod, "type": "module", "attrs": [a for a in dir(sys.modules[mod]) if not a.startswith("_")][:600]})
        if not objs and tname:
            for name in user_names():
                v = ns.get(name)
                if type(v).__name__ == tname:
                    objs.append({"name": name, "type": tname, "attrs": [a for a in dir(v) if not a.startswith("_")][:600]})
                    break
        out["objects"] = objs[:3]
    elif kind == "where":
        # which well-known module has the function the code called on the wrong owner; a
        # module not imported yet is imported (into sys.modules only: the user's names stay)
        name, hits = args.get("name", ""), []
        for m in args.get("modules", []):
            try:
                mod = sys.modules.get(m)
                if mod is None and importlib.util.find_spec(m.split(".")[0]) is not None:
                    mod = importlib.import_module(m)
                if mod is not None and callable(getattr(mod, name, None)):
                    hits.append(m)
            except Exception:
                continue
            if len(hits) >= 3:
                break
        out["where"] = hits
    elif kind == "signature":
        # the function a call with an unknown keyword reached (a name or a dotted path from a
        # user variable or module), its parameters, and functions of its module named like it
        import inspect
        parts = args.get("path", "").split(".")
        f = ns.get(parts[0], sys.modules.get(parts[0]))
        for p in parts[1:]:
            f = getattr(f, p, None) if f is not None else None
        if f is not None and callable(f):
            called, f = f, getattr(f, "__wrapped__", f)
            try:
                out["signature"] = str(inspect.signature(f))[:400]
            except (TypeError, ValueError):
                pass
            mod = sys.modules.get(getattr(f, "__module__", "") or "")
            name = getattr(f, "__name__", parts[-1])
            if mod is not None and "." in mod.__name__ and mod.__name__.rsplit(".", 1)[1].startswith("_"):
                public = sys.modules.get(mod.__name__.rsplit(".", 1)[0])  # sklearn.metrics, not ._regression
                mod = public if getattr(public, name, None) is called else mod
            if mod is not None:
                out["module"] = mod.__name__
                out["related"] = [a for a in dir(mod) if not a.startswith("_") and a != name
                                  and (name in a or a in name) and len(a) > 3 and callable(getattr(mod, a, None))][:6]
    elif kind == "modules":
        found = {}
        for m in args.get("modules", []):
            try:
                found[m] = importlib.util.find_spec(m) is not None
            except Exception:
                found[m] = False
        out["modules"] = found
    return out
try:
    __ci_out__ = __import__("json").dumps(__ci_facts(__ci_ns__, __ci_args__))
except Exception as exc:
    __ci_out__ = __import__("json").dumps({"error": type(exc).__name__})
