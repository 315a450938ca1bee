"""Unit tests of :func:`airflow_provider_lambda_ue.logtail.decode_log_tail`."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_lambda_ue.logtail import decode_log_tail

REST = "rest of the line\nEND RequestId: 1234\nREPORT Duration: 1.2 ms"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_valid_tail_decodes_to_lines() -> None:
    text = "START RequestId: 1 Version: $LATEST\nhello wörld 🎉\r\nEND RequestId: 1\n"
    assert decode_log_tail(b64(text.encode("utf-8"))) == [
        "START RequestId: 1 Version: $LATEST",
        "hello wörld 🎉",
        "END RequestId: 1",
    ]


def test_surrounding_whitespace_is_ignored() -> None:
    assert decode_log_tail("  " + b64(b"line") + "\n") == ["line"]


@pytest.mark.parametrize(
    ("char", "dropped"),
    [
        ("é", 1),  # 2-byte character: 1 continuation byte left after the cut
        ("€", 1),  # 3-byte character cut after 1 byte: 2 continuation bytes left
        ("€", 2),  # cut after 2 bytes: 1 continuation byte left
        ("🎉", 1),  # 4-byte character cut after 1 byte: 3 continuation bytes left
        ("🎉", 2),  # 2 left
        ("🎉", 3),  # 1 left
    ],
)
def test_tail_cut_mid_character_drops_the_fragment(char: str, dropped: int) -> None:
    encoded = (char + REST).encode("utf-8")
    cut = encoded[dropped:]
    continuation = len(char.encode("utf-8")) - dropped
    assert all(0x80 <= b <= 0xBF for b in cut[:continuation])
    lines = decode_log_tail(b64(cut))
    assert lines == REST.splitlines()
    assert "\ufffd" not in "".join(lines or [])


@pytest.mark.parametrize("continuation", [1, 2, 3])
def test_leading_continuation_bytes_dropped_rest_intact(continuation: int) -> None:
    # Multi-byte text right after the fragment stays intact.
    cut = b"\x80" * continuation + "Zoë 🎉\nnext".encode()
    assert decode_log_tail(b64(cut)) == ["Zoë 🎉", "next"]


def test_more_than_three_leading_continuation_bytes_are_not_all_dropped() -> None:
    # No UTF-8 character leaves four continuation bytes behind: the fourth is not a cut fragment.
    assert decode_log_tail(b64(b"\x80\x80\x80\x80ok")) == ["\ufffdok"]


def test_invalid_bytes_later_become_replacement_characters() -> None:
    assert decode_log_tail(b64(b"ok \xff\xfe here\nnext")) == ["ok \ufffd\ufffd here", "next"]


@pytest.mark.parametrize(
    "text",
    [
        "not base64!!",
        "%%%%",
        "aGVsbG8",  # missing padding
        "aGVs bG8=",  # space inside
        "aGVsbG8=\naGVsbG8=",  # newline inside
        "héllo===",  # not ASCII
        "SGVsbG8=garbage",
        "=",
    ],
)
def test_not_base64_gives_none(text: str) -> None:
    assert decode_log_tail(text) is None


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_tail_has_no_lines(text: str) -> None:
    assert decode_log_tail(text) == []


def test_tail_of_only_a_fragment_has_no_lines() -> None:
    assert decode_log_tail(b64("€".encode()[1:])) == []


@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    lines = decode_log_tail(text)
    assert lines is None or all(isinstance(line, str) for line in lines)


@given(st.binary())
def test_any_base64_bytes_decode_to_lines(data: bytes) -> None:
    lines = decode_log_tail(b64(data))
    assert isinstance(lines, list)


@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_round_trip_of_utf8_text_not_starting_with_a_fragment(text: str) -> None:
    assert decode_log_tail(b64(text.encode("utf-8"))) == text.splitlines()


@given(
    st.characters(codec="utf-8", min_codepoint=0x80),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.data(),
)
def test_any_cut_of_a_leading_multibyte_character_decodes_the_rest(
    char: str, rest: str, data: st.DataObject
) -> None:
    width = len(char.encode("utf-8"))
    dropped = data.draw(st.integers(min_value=1, max_value=width - 1))
    cut = (char + rest).encode("utf-8")[dropped:]
    assert decode_log_tail(b64(cut)) == rest.splitlines()
