from __future__ import annotations

import pytest

from classifiers.extract.context import Context, Where
from classifiers.extract.dispatch import dispatch
from classifiers.limits import Deadline, Limits
from tests.classifiers.extract.builders import docx_bytes, message, pdf_bytes, pptx_bytes, xlsx_bytes, zip_of


def run(data: bytes, truncated: tuple[str, ...] = (), limits: Limits | None = None) -> Context:
    limits = limits or Limits(max_seconds=5)
    ctx = Context(limits, Deadline(limits.max_seconds), dispatch)
    dispatch(ctx, data, Where("f", "attachment", 0, "f"), truncated)
    return ctx


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"text", "text/plain"),
        (b"a,b,c\n1,2,3\n4,5,6\n", "text/csv"),
        (pdf_bytes(["x"]), "application/pdf"),
        (docx_bytes(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (xlsx_bytes(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (pptx_bytes(), "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ],
    ids=["text", "csv", "pdf", "docx", "xlsx", "pptx"],
)
def test_routes_by_content(data, content_type):
    ctx = run(data)
    assert ctx.parts[0].content_type == content_type
    assert all(p.kind in ("attachment", "metadata") for p in ctx.parts)


def test_message_content_is_nested():
    ctx = run(message("件名", "本文"))
    assert [p.location for p in ctx.parts] == [
        "attachment:f/subject",
        "attachment:f/body",
        "attachment:f/headers",
    ]


def test_unknown_binary_is_unsupported_and_empty_is_fine():
    assert run(b"MZ\x90\x00" + bytes(range(256)) * 4).parts[0].truncated == ("unsupported",)


def test_pictures_are_listed_but_not_flagged():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00"
    part = run(png + b"\0" * 64).parts[0]
    assert part.content_type == "image/png"
    assert part.truncated == ()
    assert run(b"").parts[0].truncated == ()


def test_known_reasons_are_kept():
    assert run(b"partial text", ("member_bytes",)).parts[0].truncated == ("member_bytes",)
    ctx = run(zip_of({"a.txt": b"x"})[:-10], ("member_bytes",))
    assert ctx.parts[0].truncated == ("member_bytes", "corrupt")


def test_nothing_after_the_deadline():
    ctx = run(b"text", limits=Limits(max_seconds=0))
    assert [(p.location, p.truncated) for p in ctx.parts] == [("f", ("time",))]
