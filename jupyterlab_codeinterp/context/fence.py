"""Keeping workspace text inside its data fence.

Context, file heads and cell outputs reach the model inside ``<workspace_context>`` or
``<workspace-data>`` blocks that the system prompt declares to be data. Text from the
workspace must not be able to close (or open) such a block, in any spelling a model would
still read as the tag: any case, ``-`` or ``_``, spaces, attributes.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"<\s*(/?)\s*(workspace[\s_-]*(?:data|context))\b([^>]*)>", re.I)


def defang(text: str) -> str:
    """Workspace text with every workspace-data/context tag made inert (``<`` → ``‹``)."""
    return _TAG.sub(lambda m: "‹" + m.group(0)[1:], text)
