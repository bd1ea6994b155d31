"""Container text made safe to show (eunomia.sinks.escape)."""

from __future__ import annotations

import pytest

from eunomia.sinks.escape import FORMULA_PREFIXES, csv_cell, escape_text, format_argv


@pytest.mark.parametrize(("text", "expected"), [
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),          # terminal colours
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),              # OSC: set window title
    ("line1\nFAKE line2", "line1\\x0aFAKE line2"),          # forged output line
    ("a\rb", "a\\x0db"),
    ("tab\there", "tab\\x09here"),
    ("nul\0byte", "nul\\x00byte"),
    ("del\x7f", "del\\x7f"),
    ("c1\x85", "c1\\x85"),                                  # NEL, a C1 control
    ("invoice\u202egpj.exe", "invoice\\u202egpj.exe"),       # bidi override
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("para\u2028sep", "para\\u2028sep"),
])
def test_escape_text_makes_controls_visible(text, expected):
    assert escape_text(text) == expected


@pytest.mark.parametrize("text", ["", "plain ascii", "héllo wörld", "日本語", "emoji 😀", "Ωmega", "a b"])
def test_escape_text_keeps_printable_text(text):
    assert escape_text(text) == text


def test_escape_text_non_bmp_control():
    # U+E0001 LANGUAGE TAG (format character) is not printable
    assert escape_text("x\U000e0001y") == "x\\U000e0001y"


@pytest.mark.parametrize(("value", "expected"), [
    ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
    ("+1+2", "'+1+2"),
    ("-2+3", "'-2+3"),
    ("@cmd", "'@cmd"),
    ("-l", "'-l"),
    ("ls", "ls"),
    ("/usr/bin/ls", "/usr/bin/ls"),
    ("a=b", "a=b"),                    # only a leading formula character matters
])
def test_csv_cell_neutralises_formulas(value, expected):
    assert csv_cell(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("\t=1+2", "\\x09=1+2"),
    ("\r=1+2", "\\x0d=1+2"),
])
def test_csv_cell_tab_and_cr_prefix_are_escaped(value, expected):
    cell = csv_cell(value)
    assert cell == expected
    assert not cell.startswith(FORMULA_PREFIXES)


@pytest.mark.parametrize("value", [-1, 0, 42, 3.5, None, True])
def test_csv_cell_leaves_non_text_alone(value):
    assert csv_cell(value) is value


def test_csv_cell_escapes_controls():
    assert csv_cell("a\nb\x1b") == "a\\x0ab\\x1b"


@pytest.mark.parametrize(("argv", "expected"), [
    (["ls", "-l", "/tmp"], "ls -l /tmp"),
    (["echo", "hello world"], "echo 'hello world'"),
    (["sh", "-c", "echo $HOME; id"], "sh -c 'echo $HOME; id'"),
    (["echo", "it's"], "echo 'it'\"'\"'s'"),
    (["printf", "a\nb"], "printf 'a\\x0ab'"),
    (["cat", "\x1b[2J"], "cat '\\x1b[2J'"),
    (["touch", ""], "touch ''"),
    ([], ""),
])
def test_format_argv(argv, expected):
    assert format_argv(argv) == expected
