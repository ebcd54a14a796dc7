"""The BPE assignment's cleaning of a play's text (data.drop_speaker_lines, data.drop_blank_lines).

Tiny Shakespeare is speeches separated by blank lines, each opening with its speaker ("First
Citizen:"). The assignment drops the blank lines and, by position, the line after each blank line and
the very first line: the speaker names. Applied to the text before it is tokenized and split.
"""

from __future__ import annotations


def drop_lines(text: str, speaker_lines: bool, blank_lines: bool) -> str:
    """`text` without the lines asked for, the kept lines joined by "\\n" (no newline at the end).

    A line is what lies between newlines; a newline at the very end opens no further line. A blank
    line is an empty one (spaces make it a line of text). A speaker line is the first non-blank line
    of the text and the first non-blank line after each run of blank lines, as the assignment reads it.
    """
    if not (speaker_lines or blank_lines):
        return text
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline ending the last line
    kept = []
    after_blank = True  # the first line counts as one after a blank line
    for line in lines:
        if line == "":
            after_blank = True
            if not blank_lines:
                kept.append(line)
            continue
        if after_blank:
            after_blank = False
            if speaker_lines:
                continue
        kept.append(line)
    return "\n".join(kept)
