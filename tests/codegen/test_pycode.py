"""pycode: literals read back as the same values; statements are laid out as `ruff format` keeps them."""

from __future__ import annotations

import ast
import keyword
import math
import random

from codegen_support import ruff
from hypothesis import given, settings
from hypothesis import strategies as st

from netspec.codegen import pycode
from netspec.codegen.pycode import Atom, Namer, Seq, call, literal, statement, string_literal

plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=5), inner,
                                                                                          max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(plain)
def test_literal_reads_back_as_the_same_value(value):
    text = pycode.flat(literal(value))
    assert ast.literal_eval(text) == value
    assert type(ast.literal_eval(text)) is type(value)


def test_special_floats():
    assert eval(pycode.flat(literal(math.inf))) == math.inf  # noqa: S307 - our own literal
    assert eval(pycode.flat(literal(-math.inf))) == -math.inf  # noqa: S307
    assert math.isnan(eval(pycode.flat(literal(math.nan))))  # noqa: S307
    assert pycode.flat(literal(1e20)) == "1e20"  # as ruff writes it


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_string_literal_is_one_line_and_reads_back(text):
    quoted = string_literal(text)
    assert "\n" not in quoted and "\r" not in quoted
    assert all(char.isprintable() for char in quoted)
    assert ast.literal_eval(quoted) == text


def test_string_literal_quotes_as_ruff_does():
    assert string_literal("plain") == '"plain"'
    assert string_literal('say "hi"') == """'say "hi"'"""
    assert string_literal("it's") == '"it\'s"'
    assert string_literal("\u202eevil\x00") == '"\\u202eevil\\x00"'  # bidi override and NUL escaped


def test_values_without_literal_form_are_refused():
    import datetime

    for value in (datetime.date(2024, 1, 1), b"bytes", object()):
        try:
            literal(value)
        except pycode.NotALiteral:
            continue
        raise AssertionError(f"{value!r} was accepted")


def test_namer_makes_safe_unique_names():
    namer = Namer({"keras", "main"}, max_length=12)
    names = [namer.name(n) for n in ("keras", "class", "input", "l", "main", "x", "x", "__init__", "a" * 50, "a" * 60)]
    assert names[:4] == ["keras_", "class_", "input_", "l_"]
    assert len(set(names)) == len(names)
    for name in names:
        assert name.isidentifier() and not keyword.iskeyword(name) and len(name) <= 14


def _random_statements(rng: random.Random) -> list[str]:
    chars = "ab_ '\"\\\n\t{}%é中😀\u0301\u202e"

    def text():
        return "".join(rng.choice(chars) for _ in range(rng.choice([0, 3, 20, 90, 200])))

    def var():
        return "v" + "".join(rng.choice("abc_12") for _ in range(rng.choice([1, 8, 30, 60, 100])))

    def value(depth=0):
        roll = rng.random()
        if roll < 0.3:
            return literal(rng.choice([1, -3, 0.001, 1e-7, 1e20, True, None, 12345678901234]))
        if roll < 0.55:
            return literal(text())
        if roll < 0.7 and depth < 2:
            return literal([rng.randint(0, 10 ** rng.randint(0, 9)) for _ in range(rng.randint(0, 12))])
        if roll < 0.8 and depth < 2:
            return literal({text(): rng.randint(0, 9) for _ in range(rng.randint(0, 3))})
        if depth < 2:
            return layer(depth + 1)
        return literal(rng.randint(0, 9))

    def layer(depth=0):
        kwargs = {var() if rng.random() < 0.95 else "class": value(depth) for _ in range(rng.randint(1, 5))}
        return call("keras.layers.Dense" + "x" * rng.choice([0, 0, 30, 60]), **kwargs)  # "class": **{...}

    lines = []
    for i in range(60):
        lines.append(f"def f{i}():")
        for _ in range(4):
            roll = rng.random()
            tensors = tuple(Atom(var()) for _ in range(rng.randint(1, 4)))
            args = Seq("(", ")", tensors[:1]) if roll < 0.4 else (
                Seq("(", ")", (Seq("[", "]", tensors),)) if roll < 0.7 else Seq("(", ")", tensors))
            lines += statement(pycode.Call(layer(), args), 1, var() + " = ")
        lines += statement(call("keras.Model", inputs=Seq("[", "]", tuple(Atom(var()) for _ in range(3))),
                                name=literal(text())), 1, "return ")
        lines += ["", ""]
        lines += statement(value(), 0, "CONSTANT_" + var().upper() + " = ")
        lines += ["", ""]
    return lines


def test_layout_is_what_ruff_format_keeps(tmp_path):
    """Random calls, lists, dicts and strings of every length: ruff format (default settings) changes nothing."""
    for seed in range(3):
        source = "\n".join(_random_statements(random.Random(seed))).rstrip("\n") + "\n"
        compile(source, "generated", "exec")
        path = tmp_path / f"layout_{seed}.py"
        path.write_text(source, encoding="utf-8")
    done = ruff("format", "--check", "--diff", str(tmp_path))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
