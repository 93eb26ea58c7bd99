from __future__ import annotations

from classifiers.extract.context import Context, TextSink, Where
from classifiers.limits import Deadline, Limits
from classifiers.model import Part


def _noop(ctx: Context, data: bytes, where: Where, truncated: tuple[str, ...]) -> None:
    return None


def make(limits: Limits) -> Context:
    return Context(limits, Deadline(limits.max_seconds), _noop)


def test_text_budget_is_shared_and_cut_on_character_boundaries():
    ctx = make(Limits(max_text_bytes=10))
    ctx.add(Part(location="a", text="abcd"))
    ctx.add(Part(location="b", text="あいう", segments=((0, "b!1"), (2, "b!2"))))  # 9 bytes, 6 left
    ctx.add(Part(location="c", text="more"))
    a, b, c = ctx.parts
    assert a.truncated == ()
    assert b.text == "あい" and b.truncated == ("text_bytes",)
    assert b.segments == ((0, "b!1"),)
    assert c.text == "" and c.truncated == ("text_bytes",)


def test_parts_limit_adds_one_marker_then_drops():
    ctx = make(Limits(max_parts=2))
    for n in range(5):
        ctx.add(Part(location=f"p{n}", text="x"))
    assert [p.location for p in ctx.parts] == ["p0", "p1", "p2"]
    assert ctx.parts[-1].truncated == ("parts",)
    assert ctx.stopped
    assert len(ctx.errors) == 1


def test_time_marker_once():
    ctx = make(Limits(max_seconds=0))
    assert ctx.stopped
    ctx.stop_marker(Where("x.zip/a"))
    ctx.stop_marker(Where("x.zip/b"))
    assert [(p.location, p.truncated) for p in ctx.parts] == [("x.zip/a", ("time",))]
    assert ctx.errors == ["time limit reached; the rest was not inspected"]


def test_alternative_ids_are_unique():
    ctx = make(Limits())
    assert ctx.new_alternative() != ctx.new_alternative()


def test_where_child():
    w = Where("a.zip", "attachment", 1, "a.zip")
    c = w.child("a.zip/b.txt", "b.txt")
    assert (c.location, c.kind, c.depth, c.filename) == ("a.zip/b.txt", "attachment", 2, "b.txt")


def test_text_sink():
    sink = TextSink(5)
    sink.mark("s1")
    sink.write("abc")
    sink.mark("s2")
    sink.write("defgh")
    sink.mark("s3")
    assert sink.text() == "abcde"
    assert sink.truncated and sink.full
    assert sink.segments == [(0, "s1"), (3, "s2")]
    assert len(sink) == 5
