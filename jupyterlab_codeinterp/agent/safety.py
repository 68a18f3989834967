"""Spotting generated code that must wait for the user even when auto-run is on.

This is a tripwire, not a sandbox: it catches the common destructive idioms a model
produces (often after reading injected instructions in a file) so a person sees them
before they run. SECURITY.md says what it does and does not promise.
"""

from __future__ import annotations

import os
import re
from typing import Optional

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\brm\s+(-[a-zA-Z]*[rf][a-zA-Z]*\s+)+"), "deletes files recursively (rm -rf)"),
    (re.compile(r"(^|[;&|!\s])rm\s+\S"), "deletes files (rm)"),
    (re.compile(r"\bshutil\s*\.\s*rmtree\b|\brmtree\s*\("), "deletes a directory tree (shutil.rmtree)"),
    (re.compile(r"\bos\s*\.\s*(remove|unlink|rmdir|removedirs)\s*\("), "deletes files (os.remove/unlink)"),
    (re.compile(r"\.\s*(unlink|rmdir)\s*\("), "deletes files (Path.unlink/rmdir)"),
    (re.compile(r"\bsend2trash\b"), "moves files to the trash"),
    (re.compile(r"(^|[;&|!\s])sudo\b"), "runs a command as root (sudo)"),
    (re.compile(r"\b(DROP|TRUNCATE)\s+(TABLE|DATABASE|SCHEMA)\b", re.I), "drops database tables"),
    (re.compile(r"\bDELETE\s+FROM\s+\w+\s*(;|\"|'|$)", re.I), "deletes every row of a table"),
    (re.compile(r"\bmkfs\b|\bdd\s+if=|\bformat\s+[a-zA-Z]:"), "writes to a raw disk"),
    (re.compile(r"\bchmod\s+-R\b|\bchown\s+-R\b"), "changes permissions recursively"),
    (re.compile(r"\bgit\s+(push\s+.*--force|reset\s+--hard|clean\s+-[a-z]*f)"), "rewrites or discards git history"),
    (re.compile(r"\bkill(all)?\s+-9\b|\bos\s*\.\s*kill\s*\("), "kills processes"),
    (re.compile(r"\bshutdown\b\s+(-h|now)|\breboot\b"), "shuts the machine down"),
    (re.compile(r"\bcurl\b[^\n|]*\|\s*(ba|z)?sh\b|\bwget\b[^\n|]*\|\s*(ba|z)?sh\b"), "pipes a download into a shell"),
    # the same deletions in the spellings models also write
    (re.compile(r"""[\[(,]\s*['"](rm|rmdir|shred|unlink)['"]\s*[,\])]"""), "deletes files (rm in a command list)"),
    (re.compile(r"""\bfind\b[^\n]*\s-(delete|exec\s+rm)\b|['"]-delete['"]"""), "deletes files (find -delete)"),
    (re.compile(r"\bshred\b"), "destroys files (shred)"),
    (re.compile(r"\bfrom\s+(os|shutil|pathlib|send2trash)\s+import\b[^\n]*\b(remove|unlink|rmdir|removedirs|rmtree)\b"),
     "deletes files (imported remove/rmtree)"),
    (re.compile(r"""__import__\s*\(\s*['"](os|shutil)['"]\s*\)\s*\.\s*(remove|unlink|rmdir|removedirs|rmtree)\b"""),
     "deletes files (os.remove/shutil.rmtree)"),
    (re.compile(r"\bos\s*\.\s*truncate\s*\("), "empties files (os.truncate)"),
]

# moving or renaming a file to a place outside the workspace takes it away from the user
_MOVE_CALL = re.compile(r"\b(?:shutil\s*\.\s*move|os\s*\.\s*(?:rename|renames|replace))\s*\(")
_QUOTED = re.compile(r"""(?P<q>['"])(?P<path>[^'"\n]+)(?P=q)""")

# open(<absolute or home path>, 'w'/'a'/'x') or .to_csv('/abs/...') etc.
_WRITE_PATH = re.compile(
    r"""(?:open\s*\(\s*|\.to_\w+\s*\(\s*|\.write_(?:text|bytes)\s*\(|Path\s*\(\s*)
        (?P<q>['"])(?P<path>[^'"]+)(?P=q)""",
    re.X,
)
_OPEN_MODE_WRITE = re.compile(r"""['"][wax]b?\+?['"]""")


def _outside(path: str, workspace: Optional[str]) -> bool:
    if not workspace:
        return False
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded) and not path.startswith("~") and ".." not in path.split("/"):
        return False
    full = os.path.realpath(os.path.join(workspace, expanded))
    root = os.path.realpath(workspace)
    return not (full == root or full.startswith(root + os.sep))


def destructive_reason(code: str, workspace: Optional[str] = None) -> Optional[str]:
    """Why ``code`` should wait for approval, or None when it looks harmless."""
    for pattern, reason in _RULES:
        if pattern.search(code):
            return reason
    for m in _MOVE_CALL.finditer(code):
        line_end = code.find("\n", m.end())
        args = code[m.end(): line_end if line_end != -1 else len(code)]
        if "expanduser" in args or any(_outside(q.group("path"), workspace) for q in _QUOTED.finditer(args)):
            return "moves files out of the workspace"
    for m in _WRITE_PATH.finditer(code):
        line_end = code.find("\n", m.end())
        rest = code[m.end(): line_end if line_end != -1 else len(code)]
        is_open = m.group(0).lstrip().startswith("open")
        if is_open and not _OPEN_MODE_WRITE.search(rest):
            continue
        if _outside(m.group("path"), workspace):
            return f"writes outside the workspace ({m.group('path')})"
    return None
