"""Turn a message or a file into text parts, each with its location.

Every limit of ``classifiers.limits.Limits`` is enforced here; a tripped limit is reported on the
part concerned as ``truncated`` (reason names from ``TRUNCATION_REASONS``), damage as
``("corrupt",)`` plus a line in ``Extraction.errors``, and extraction goes on with the rest.
Module map: ``mime`` (messages), ``charset``, ``html``, ``text`` (plain/csv/json/xml),
``archive`` (zip), ``office`` (OOXML, OLE), ``pdf``, ``sniff``, ``dispatch``, ``context``.

Locations (``F`` is a file's own location; a segment refines a location inside a part's text):

- message: ``subject``, ``body``, ``body[2]``...; an attachment is its decoded file name, or
  ``attachment[<n>]``; a repeated name becomes ``<name>[<n>]``;
- attached message found at location ``L``: ``attachment:L/subject``, ``attachment:L/body``,
  ``attachment:L/<its attachment>`` (``L`` already starting with ``attachment:`` is not prefixed again);
- zip member: ``F/<member path>`` (nested: ``a.zip/b.zip/c.csv``);
- csv/tsv: part ``F``, segment per record ``F!R<n>`` (1-based);
- xlsx: part per sheet ``F!<sheet>``, segment per cell ``F!<sheet>!<cell>`` (``list.xlsx!顧客!C12``);
- docx: part ``F``, segments ``F``, ``F!header``, ``F!footer``, ``F!footnotes``, ``F!endnotes``,
  ``F!comments``;
- pptx: part ``F``, segments ``F!slide<n>``, ``F!slide<n>!notes``;
- pdf: part ``F``, segment per page ``F!p<n>``;
- document properties (Office, PDF): part ``F!properties`` of kind ``metadata``.

Top-level files have kind ``file``; everything inside a mail attachment has kind ``attachment``.

>>> ex = extract_file(b"name,tel\\r\\nA,03-1234-5678\\r\\n", "list.csv", Limits(), Deadline(5))
>>> [(p.location, p.segments) for p in ex.parts]
[('list.csv', ((0, 'list.csv!R1'), (10, 'list.csv!R2')))]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from classifiers.extract import mime
from classifiers.extract.context import Context, Where
from classifiers.extract.dispatch import dispatch
from classifiers.extract.sniff import sniff
from classifiers.limits import Deadline, Limits
from classifiers.model import Part


@dataclass(slots=True)
class Extraction:
    parts: list[Part] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def extract_message(
    raw: bytes, limits: Limits, deadline: Deadline, on_part: Callable[[Part], None] | None = None
) -> Extraction:
    """An RFC 5322 message: subject, every body and attachment. With ``on_part``, each part
    goes there as soon as it is extracted instead of into ``Extraction.parts``."""
    ctx = Context(limits, deadline, dispatch, on_part)
    try:
        mime.extract_mail(ctx, raw)
    except RecursionError:
        ctx.error("message", "structure nested too deeply")
        ctx.add(Part(location="message", text="", kind="body", size=len(raw), truncated=("depth",)))
    return Extraction(ctx.parts, ctx.errors)


def extract_file(
    data: bytes,
    name: str,
    limits: Limits,
    deadline: Deadline,
    on_part: Callable[[Part], None] | None = None,
    *,
    declared_type: str | None = None,
) -> Extraction:
    """A file of any supported type, read as what its content is and also as what its name or
    ``declared_type`` say it is, when they disagree (see :mod:`classifiers.extract.dispatch`)."""
    ctx = Context(limits, deadline, dispatch, on_part)
    try:
        sniffed = sniff(data)
        if sniffed.kind == "message" and declared_type is None:
            mime.extract_mail(ctx, data)
        else:
            dispatch(ctx, data, Where(name, "file", 0, name, declared=declared_type), sniffed=sniffed)
    except RecursionError:
        ctx.error(name, "structure nested too deeply")
        ctx.add(Part(location=name, text="", kind="file", size=len(data), truncated=("depth",)))
    return Extraction(ctx.parts, ctx.errors)


__all__ = ["Extraction", "extract_file", "extract_message"]
