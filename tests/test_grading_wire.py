"""The parent's readers of child data: the event pipe and the values of converted tests.

Everything here is what a submission controls in the child (it can reach the signing key), so the
parent must read it in bounded time and memory and take nothing from it but plain data.
"""

import base64
import hashlib
import hmac
import json
import os
import time

import numpy as np
import pytest

from mtl_tf.grading import checks, report, sandbox, wire

KEY = b"k" * 32


def signed(seq, **event):
    body = json.dumps(dict(event, seq=seq))
    return (json.dumps({"body": body, "mac": hmac.new(KEY, body.encode(), hashlib.sha256).hexdigest()}) + "\n").encode()


def kinds(events):
    return [{k: v for k, v in e.items() if k != "_bytes"} for e in events]


def reader():
    r, w = os.pipe()
    os.close(w)
    return sandbox.EventReader(r, KEY)


def test_a_megabyte_of_newlines_and_a_deep_bracket_line_cost_little_and_break_nothing():
    r = reader()
    start = time.time()
    events = r.feed(b"\n" * 1_000_000 + b"[" * 100_000 + b"\n" + b'{"body": "' + b"[" * 100_000 + b'"}\n'
                    + signed(1, kind="done"))
    assert time.time() - start < 2, "line splitting is not linear"
    assert [e["kind"] for e in events] == ["done"]


def test_a_deeply_nested_signed_body_is_dropped_not_raised():
    r = reader()
    body = "[" * 100_000 + "]" * 100_000
    line = json.dumps({"body": body, "mac": hmac.new(KEY, body.encode(), hashlib.sha256).hexdigest()}).encode() + b"\n"
    assert kinds(r.feed(line + signed(1, kind="done"))) == [{"kind": "done", "seq": 1}]


def test_an_endless_line_is_dropped_up_to_its_newline_in_bounded_memory():
    r = reader()
    for _ in range(12):
        assert r.feed(b"x" * 1_000_000) == []
        assert len(r.partial) <= sandbox.MAX_EVENT_LINE
    assert kinds(r.feed(b"tail\n" + signed(1, kind="done"))) == [{"kind": "done", "seq": 1}]


def test_unsigned_replayed_or_out_of_order_events_are_ignored():
    r = reader()
    good = signed(2, kind="start", nodeid="tests/test_x.py::test_y")
    forged = good.replace(b"test_y", b"test_z")
    assert kinds(r.feed(forged + good + good + signed(1, kind="done"))) == [json.loads(json.loads(good)["body"])]


def test_forged_collect_errors_do_not_grow_the_notes():
    run = sandbox._Run(hidden=False, hidden_visibility="after_published")
    for i in range(10_000):
        run.handle({"kind": "collect_error", "nodeid": f"tests/x{i}.py", "output": "e" * 4000}, set())
    assert len(run.notes) <= sandbox.MAX_NOTES and sum(map(len, run.notes)) < 50_000


def test_forged_collected_cases_are_typed_and_bounded():
    run = sandbox._Run(hidden=False, hidden_visibility="after_published")
    run.handle({"kind": "collected", "cases": [
        {"nodeid": "tests/test_a.py::test_ok", "name": "ok\x00\ud800", "points": 1, "visibility": "visible"},
        {"nodeid": "tests/test_a.py::test_nan", "points": float("nan")},
        {"nodeid": "tests/test_a.py::test_huge", "points": 1e9},
        {"nodeid": "tests/hidden/test_h.py::test_h", "points": 1},  # a hidden test in the public part
        {"nodeid": "elsewhere.py::test", "points": 1},
        "not a dict"]}, set())
    assert [c["nodeid"] for c in run.cases] == ["tests/test_a.py::test_ok"]
    assert run.cases[0]["name"] == "ok?"


def test_report_strings_are_strict_json():
    text = report.truncate("a\x00b\x07c\ud800d\udfffe" + "\x00" * 10)
    json.dumps(text, ensure_ascii=False).encode("utf-8")
    assert text == "abc?d?e"


@pytest.mark.parametrize("value", [
    np.arange(6, dtype=np.float32).reshape(2, 3), np.array(True), np.int64(7), 3.5, float("nan"), "s", None,
    {"a": [1, 2.0, {"b": np.zeros((0, 4), np.int32)}]}])
def test_values_round_trip_as_plain_data(value):
    sent = json.loads(json.dumps(wire.encode(value)))
    got = wire.decode(sent)
    if isinstance(value, (np.ndarray, np.generic)):
        assert type(got) is np.ndarray and got.dtype == np.asarray(value).dtype and got.shape == np.shape(value)
        np.testing.assert_array_equal(got, value)
    elif isinstance(value, float) and value != value:
        assert got != got
    else:
        assert json.dumps(wire.encode(got)) == json.dumps(wire.encode(value))


def test_subclasses_and_masked_arrays_arrive_as_plain_arrays_of_their_data():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

    got = wire.decode(wire.encode(np.zeros(3).view(Liar)))
    assert type(got) is np.ndarray and not (got == 1).any()
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    got = wire.decode(wire.encode(masked))
    assert type(got) is np.ndarray and got.tolist() == [1.0, 2.0]


def test_objects_of_the_submission_cannot_be_sent():
    class Anything:
        def __eq__(self, other):
            return True

    with pytest.raises(wire.WireError):
        wire.encode({"v": Anything()})
    with pytest.raises(wire.WireError):
        wire.encode(np.array([Anything()], dtype=object))


@pytest.mark.parametrize("data", [
    {"__ndarray__": ["object", [1], base64.b64encode(b"x" * 8).decode()]},
    {"__ndarray__": ["float64", [2], base64.b64encode(b"x" * 8).decode()]},   # bytes do not match the shape
    {"__ndarray__": ["float64", [-1], ""]},
    {"__ndarray__": ["float64", [1 << 40], ""]},
    {"__ndarray__": ["float64", [1], "not base64!"]},
    {"__float__": "1e308"},
    {"__ndarray__": ["float64", [1], base64.b64encode(b"x" * 8).decode()], "extra": 1},
    1e400, [[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]],
])
def test_malformed_values_are_refused(data):
    with pytest.raises(wire.WireError):
        wire.decode(json.loads(json.dumps(data)) if data != 1e400 else float("inf"))


def test_checks_look_at_type_shape_and_dtype_before_values():
    with pytest.raises(AssertionError, match="shape"):
        checks.close(np.zeros(3), np.zeros(2))
    with pytest.raises(AssertionError, match="expected an array"):
        checks.close("3.0", 3.0)
    with pytest.raises(AssertionError, match="bool"):
        checks.array(np.zeros(2), kind="b")
    with pytest.raises(AssertionError):
        checks.close(np.array(np.nan), np.nan)
    checks.close(np.array(3.0, np.float32), 3.0)


def test_values_kept_per_part_are_bounded():
    run = sandbox._Run(hidden=False, hidden_visibility="after_published")
    nodeids = {f"tests/test_a.py::test_{i}" for i in range(100)}
    for n in nodeids:
        run.handle({"kind": "start", "nodeid": n}, nodeids)
        run.handle({"kind": "values", "nodeid": n, "values": [0], "_bytes": 8_000_000}, nodeids)
    assert run.value_bytes <= sandbox.MAX_VALUE_BYTES
    assert sum("values" in run.entry(n) for n in nodeids) == sandbox.MAX_VALUE_BYTES // 8_000_000
