"""Text from users' files made safe to print: no terminal control sequences reach the terminal.

File, folder, class and model names come from the user's disk and YAML. An ANSI or OSC escape in
one (``\\x1b]8;;...``, ``\\x1b[2J``) would otherwise be obeyed by the terminal that prints the
summary: links that lie, cleared screens, a changed window title. Control characters (C0 and C1,
DEL) and Unicode's bidirectional overrides are shown as ``\\xNN`` / ``\\uNNNN`` escapes instead.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings/overrides/isolates
# that reorder what the reader sees.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``text`` with every control character escaped, newlines and tabs kept (for messages)."""
    return _UNSAFE.sub(_escape, str(text))


def printable_name(text: object) -> str:
    """``text`` on one line with every control character escaped, newlines and tabs included (for names)."""
    return _UNSAFE_IN_NAMES.sub(_escape, str(text))
