"""Generated field values, command lines and planted secrets for the property tests (issue 29).

Everything is drawn from the field specification (:data:`~airflow_provider_lambda_ue.fields.FIELDS`):
each field's values come from its ``kind`` (its ``choices``, its ``required`` and ``default``, the
shape AWS's model gives its ``api`` parameter), the command line's options from its ``cli_option``,
and which fields a flag turns on from ``implied_by``. A field added to the specification is
fuzzed without touching the tests; a new *kind* fails :func:`values` until it has a strategy here.

A generated value may carry a claim: ``bad`` says the value alone makes its field invalid (so the
run must be exit 20, name the field, and connect nowhere); ``if_used`` limits the claim to runs
where the field is used (a ``role_arn`` only with role-based access, a ``proxy`` only with
``use_proxy``: the fields whose ``implied_by`` names them). Values without a claim may be valid or
not; the tests check what every outcome must satisfy.

Runs are seeded (``derandomize``) and bounded for the suite; ``LAMBDA_UE_FUZZ_EXAMPLES=N`` asks
for N fresh random examples per test instead (:func:`fuzz_settings`).
"""

from __future__ import annotations

import atexit
import functools
import itertools
import json
import os
import re
import string
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, event, example, settings
from hypothesis import strategies as st

from airflow_provider_lambda_ue import aws_model
from airflow_provider_lambda_ue import fields as f
from airflow_provider_lambda_ue.fields import FIELDS, Field
from airflow_provider_lambda_ue.values import parse_bool
from tests.support.secrets import secret_forms

#: The contract's exit codes (the seed's table), written out rather than read from the package.
CONTRACT_EXIT_CODES = frozenset({0, 1, 2, 3, 10, 11, 20, 21})
#: Examples per property test for a longer, fresh (not seeded) run.
FUZZ_EXAMPLES = "LAMBDA_UE_FUZZ_EXAMPLES"
#: Stands for the counting endpoint's ``host:port`` in generated values (:func:`substitute`).
ENDPOINT = "<endpoint>"
#: A lone surrogate: how Python decodes the byte 0xff of argv (surrogateescape), a value that is not UTF-8.
NOT_UTF8 = "\udcff"
#: The id of the connection the tests define with the planted secret as its password.
SECRET_CONNECTION = "fuzz_conn"
_ARABIC_INDIC = str.maketrans("0123456789", "".join(map(chr, range(0x660, 0x66A))))
_FULLWIDTH = str.maketrans("0123456789", "".join(map(chr, range(0xFF10, 0xFF1A))))
#: An account id in Arabic-Indic digits, which Python's ``\d`` and ``int()`` would read.
_ACCOUNT = "123456789012".translate(_ARABIC_INDIC)


def _arabic(text: str) -> str:
    return text.translate(_ARABIC_INDIC)


def _fullwidth(text: str) -> str:
    return text.translate(_FULLWIDTH)


def fuzz_settings(fast: int) -> settings:
    """
    ``fast`` seeded examples; with :data:`FUZZ_EXAMPLES` set, that many fresh random ones.

    A failure of a random run prints the ``@reproduce_failure`` blob that replays it.
    """
    wanted = os.environ.get(FUZZ_EXAMPLES, "").strip()
    return settings(
        max_examples=int(wanted) if wanted else fast,
        derandomize=not wanted,
        database=None,
        deadline=None,
        print_blob=True,
        # Explaining a failure re-runs it scores of times (minutes for the operator's): its blob replays it.
        phases=[phase for phase in Phase if phase is not Phase.explain],
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


def time_limit() -> pytest.MarkDecorator:
    """The suite's timeout for a property test; none for a long run (its examples set its length)."""
    return pytest.mark.timeout(0 if os.environ.get(FUZZ_EXAMPLES, "").strip() else 300)


@dataclass(frozen=True)
class Value:
    """
    A generated value of one field.

    :param value: The value (the command line's text, or what a DAG or a template hands over).
    :param bad: It alone makes its field invalid.
    :param if_used: ... but only where the field is used (see the module's docstring).
    """

    value: Any
    bad: bool = False
    if_used: bool = False


# -- planted secrets --------------------------------------------------------------------------------

#: A password may hold what splits URLs and lists: ``,`` ``/`` ``@`` ``:`` ``%`` ``#`` ``?``, even ``://``.
_SECRET_CHARS = string.ascii_letters + string.digits + ",/@:%#?!&=+;~"
_SECRET_PIECES = st.one_of(
    st.text(_SECRET_CHARS, min_size=1, max_size=4), st.sampled_from(["://", ",http://", ", ", "@", "%40"])
)
#: A secret long enough for any masker (``MIN_MASKED_LENGTH`` is 5): a distinctive head of letters
#: and digits (:func:`leaks` looks for it alone too), then anything.
planted_secrets = st.builds(
    lambda head, tail: "Zq" + head + "".join(tail),
    st.text(string.ascii_letters + string.digits, min_size=4, max_size=6),
    st.lists(_SECRET_PIECES, max_size=3),
)


def leaks(text: str, secret: str) -> list[str]:
    """
    The forms of ``secret`` (as is, URL- and form-encoded, base64) that ``text`` holds, and its
    head (its leading letters and digits), which shows where a part of the secret is printed.
    """
    head = re.match(r"[A-Za-z0-9]+", secret)
    forms = secret_forms(secret) | ({head.group()} if head else set())
    return sorted(form for form in forms if form in text)


def _with_password(secret: str) -> st.SearchStrategy[Value]:
    """A URL of the endpoint with ``secret`` inline, in forms that parse and forms that do not."""
    forms = [
        f"http://me:{secret}@{ENDPOINT}",
        f"me:{secret}@{ENDPOINT}",  # no scheme
        f"https://me:{quote(secret, safe='')}@{ENDPOINT}",
        # A token, no user: a ":" in it would start its password (what precedes is a user's name).
        f"http://{secret.replace(':', '%3A')}@{ENDPOINT}",
        f"http://{ENDPOINT}, http://me:{secret}@{ENDPOINT}",
        f" socks5://me:{secret}@{ENDPOINT}/x ",
    ]
    return st.sampled_from(forms).map(lambda url: Value(url, bad=True))


# -- values by kind ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """
    The values of a kind of field: those it may take (valid or not) and those it must refuse.

    :param bad_if_used: The bad ones are refused only where the field is used (see :class:`Value`).
    """

    good: st.SearchStrategy[Any]
    bad: st.SearchStrategy[Any]
    bad_if_used: bool = False


#: The values of each kind of field (:attr:`.fields.Field.kind`), by the functions below.
KINDS: dict[str, Callable[[Field], Kind]] = {}


def _of_kind(kind: str) -> Callable[[Callable[[Field], Kind]], Callable[[Field], Kind]]:
    """Registers the function that gives the values of ``kind`` in :data:`KINDS`."""

    def register(function: Callable[[Field], Kind]) -> Callable[[Field], Kind]:
        KINDS[kind] = function
        return function

    return register


@_of_kind(f.CHOICE)
def _choices(field: Field) -> Kind:
    spelled = st.sampled_from(field.choices).flatmap(
        lambda choice: st.sampled_from(
            [choice, choice.upper(), f"  {choice.lower()} ", choice.replace(" ", "_")]
        )
    )
    return Kind(spelled, st.sampled_from(["bogus", "Tails", "HTTPS-with", _arabic("1")]))


@_of_kind(f.FLAG)
def _flags(field: Field) -> Kind:
    return Kind(
        st.sampled_from([True, False, "true", "False", " yes ", "0", "off", 1]),
        st.sampled_from(["maybe", "2", _arabic("1"), "tru", 2, -1]),
    )


@_of_kind(f.SECONDS)
def _seconds(field: Field) -> Kind:
    good = st.one_of(
        st.integers(1, f.MAX_WAIT_SECONDS),
        st.sampled_from(["120", " 5 ", "12.0", "1", str(f.MAX_WAIT_SECONDS), 5.0]),
    )
    bad = st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=f.MAX_WAIT_SECONDS + 1),
        st.sampled_from(
            [
                "0",
                "-1",
                "1e10",
                "9" * 400,
                _arabic("120"),
                _arabic("3"),
                "inf",
                "nan",
                "1.5",
                "2 minutes",
                "0x10",
                True,
                1e300,
            ]
        ),
    )
    return Kind(good, bad)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


#: Nested deeper than any parser's stack.
_DEEP = _nested(200_000)
#: Over every limit: 6 MB for RequestResponse, 3,583 bytes base64 for the client context.
_HUGE = '"' + "é" * (f.MAX_SYNC_PAYLOAD_BYTES // 2) + '"'


@_of_kind(f.JSON)
def _json(field: Field) -> Kind:
    documents = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
    good = st.one_of(
        st.dictionaries(st.text(max_size=8), documents, max_size=4).map(json.dumps),
        documents.map(lambda doc: json.dumps(doc, ensure_ascii=False)),
        st.sampled_from(['{"a": "ü€😀"}', _nested(50), '{"k": "' + "x" * 5000 + '"}']),
    )
    bad = st.sampled_from(
        ["{bad", "{'a': 1}", "NaN", '{"a": NaN}', "[1,]", _arabic("1"), '{"a": 1', _DEEP, _HUGE]
    )
    return Kind(good, bad)


@_of_kind(f.FUNCTION)
def _function(field: Field) -> Kind:
    shape = aws_model.invoke_parameter(str(field.api))
    assert shape is not None and shape.pattern is not None
    good = st.sampled_from(
        [
            "echo",
            "echo:prod",
            "arn:aws:lambda:us-east-1:123456789012:function:echo",
            "123456789012:function:echo:7",
            "arn:aws-eusc:lambda:eusc-de-east-1:123456789012:function:echo",
            "echo:$LATEST.PUBLISHED",
        ]
    )
    bad = st.sampled_from(
        [
            f"{_ACCOUNT}:function:echo",
            f"arn:aws:lambda:us-east-1:{_ACCOUNT}:function:echo",
            "arn:aws:lambda:us-east-1:" + _fullwidth("123456789012") + ":function:echo",
            "arn:aws:lambda:us-east-1:123456789012:layer:echo",
            "e" * 65,
            "ec ho",
            "echo:" + _arabic("1"),
            "http://u:pw@host/echo",
        ]
    )
    # AWS's pattern admits forms the project refuses (an account without function:): a third of them.
    by_model = st.from_regex(shape.pattern, fullmatch=True).filter(lambda name: len(name) <= 256)
    return Kind(st.one_of(good, good, by_model), bad)


@_of_kind(f.ROLE_ARN)
def _role_arn(field: Field) -> Kind:
    good = st.sampled_from(
        ["arn:aws:iam::123456789012:role/invoker", "arn:aws-eusc:iam::123456789012:role/a/b=c,d@e"]
    )
    bad = st.sampled_from(
        [
            f"arn:aws:iam::{_ACCOUNT}:role/x",
            "arn:aws:iam::123456789012:role/ro" + _arabic("1") + "e",
            "arn:aws:sts::123456789012:assumed-role/x/y",
            "role/x",
            "arn:aws:iam::123456789012:user/x",
        ]
    )
    return Kind(good, bad, bad_if_used=True)


@_of_kind(f.URL)
def _url(field: Field) -> Kind:
    good = st.sampled_from([f"http://{ENDPOINT}", f" http://{ENDPOINT}/ ", f"HTTP://{ENDPOINT}"])
    bad = st.sampled_from(
        [
            ENDPOINT,
            f"ftp://{ENDPOINT}",
            "http://",
            "http://ho st:1",
            "http://[::1",
            "http://127.0.0.1:port",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:" + _arabic("80"),
            _arabic("http://127.0.0.1") + ":80",
            "http://hóst.example:80",
        ]
    )
    return Kind(good, bad)


@_of_kind(f.PROXY_URLS)
def _proxy_urls(field: Field) -> Kind:
    good = st.sampled_from([f"http://{ENDPOINT}", f"http://{ENDPOINT}, http://{ENDPOINT}/"])
    bad = st.sampled_from(
        [
            ENDPOINT,
            f"http://{ENDPOINT}/path",
            f"ftp://{ENDPOINT}",
            "http://127.0.0.1",
            f"http://{ENDPOINT},http://{ENDPOINT},http://{ENDPOINT}",
            "http://127.0.0.1:" + _arabic("3128"),
            ",",
        ]
    )
    return Kind(good, bad, bad_if_used=True)


@_of_kind(f.CA_BUNDLE)
def _ca_bundle(field: Field) -> Kind:
    bad = st.sampled_from(["/nonexistent/ca.pem", "/", __file__, "/dev/null"])
    return Kind(st.builds(_ca_bundle_file), bad)


@functools.cache
def _ca_bundle_file() -> str:
    """A PEM file of one CA certificate (trustme's), removed at exit: quicker to load than certifi's."""
    import trustme

    with tempfile.NamedTemporaryFile("wb", prefix="lambda-ue-fuzz-", suffix=".pem", delete=False) as handle:
        handle.write(trustme.CA().cert_pem.bytes())
    atexit.register(os.unlink, handle.name)
    return handle.name


@_of_kind(f.CONNECTION)
def _connection(field: Field) -> Kind:
    # Any id is a connection's: one that does not exist means the environment's chain (aws_conn_id).
    return Kind(st.sampled_from([SECRET_CONNECTION, "no_such_connection", "aws_default"]), st.nothing())


@_of_kind(f.REGION)
def _region(field: Field) -> Kind:
    good = st.sampled_from(["us-east-1", " eu-west-2 ", "eusc-de-east-1"])
    bad = st.sampled_from(["US East", "us_east_1", "us-east-" + _arabic("1"), "eu-west-2; rm -rf", "x" * 65])
    return Kind(good, bad)


@_of_kind(f.TEXT)
def _text(field: Field) -> Kind:
    """Text in the shape AWS's model gives ``field.api``: its pattern, and what breaks it."""
    shape = aws_model.invoke_parameter(str(field.api)) if field.api else None
    if shape is None or shape.pattern is None:
        return Kind(st.text(max_size=40), st.nothing())
    limit = shape.max_length or 256
    by_model = st.from_regex(shape.pattern, fullmatch=True).filter(lambda text: len(text) <= limit)
    # Judged by AWS's pattern itself: what it does not match is bad.
    odd = [_arabic("12"), "v\n1", "ﬁ", "a\tb", "$LATEST.PUBLISHED", "auto", "ab:cd", "a" * (limit + 1)]
    refused = [text for text in odd if shape.problem(text) is not None]
    accepted = [text for text in odd if text not in refused]
    return Kind(st.one_of(by_model, st.sampled_from(accepted)), st.sampled_from(refused))


# -- what every field may be handed -----------------------------------------------------------------


def _blank(field: Field) -> st.SearchStrategy[Value]:
    """Nothing, or a template that rendered nothing: bad only where the field is required."""
    return st.sampled_from([None, "", "  ", "\n"]).map(lambda value: Value(value, bad=field.required))


def _not_utf8(field: Field, values: st.SearchStrategy[Value]) -> st.SearchStrategy[Value]:
    """A value with a byte that is not UTF-8 in it (as argv and stdin decode it)."""
    return st.tuples(values, st.integers(0, 100)).map(
        lambda drawn: Value(_insert(str(drawn[0].value), drawn[1], NOT_UTF8), bad=True)
    )


def _insert(text: str, at: int, what: str) -> str:
    at = min(at, len(text))
    return text[:at] + what + text[at:]


#: Kinds whose digits are ASCII only (AWS's patterns, ports, hosts, seconds).
_ASCII_DIGIT_KINDS = frozenset({f.FUNCTION, f.SECONDS, f.REGION, f.URL, f.ROLE_ARN, f.PROXY_URLS})


def _foreign_digits(field: Field, values: st.SearchStrategy[Value]) -> st.SearchStrategy[Value]:
    """A value with its digits written in Arabic-Indic: bad for the kinds read as ASCII."""

    def translate(value: Value) -> Value:
        text = str(value.value)
        translated = _arabic(text)
        claim = translated != text and field.kind in _ASCII_DIGIT_KINDS
        return Value(translated, bad=claim, if_used=claim and field.kind in (f.ROLE_ARN, f.PROXY_URLS))

    return values.map(translate)


_ODD_OBJECTS = st.sampled_from(
    [b"\xff\xfe", 10**30, -(10**30), float("nan"), float("inf"), ["x"], {"k": {1}}]
)


@functools.cache
def _kind(field: Field) -> Kind:
    """The values of ``field``'s kind, built once (building strategies costs more than drawing)."""
    return KINDS[field.kind](field)


def values(field: Field, *, text: bool, secret: str, clean: bool = False) -> st.SearchStrategy[Value]:
    """
    Values of ``field``: its kind's, blanks, bytes that are not UTF-8, other scripts' digits, and
    (for a URL field) the planted ``secret`` inline; with ``text``, only what a command line can
    give; with ``clean``, only its kind's values not claimed bad (runs that mostly invoke).
    """
    kind = _kind(field)
    # A command line gives text: 5.0 as "5.0", True as "True" (refused where True was).
    spelled = str if text else (lambda value: value)
    good = kind.good.map(lambda value: Value(spelled(value)))
    if clean:
        return good
    bad = kind.bad.map(lambda value: Value(spelled(value), bad=True, if_used=kind.bad_if_used))
    own = st.one_of(good, bad)
    anything = st.text(max_size=30).map(Value)  # any text at all, judged by no claim
    choices = [good, bad, anything, _blank(field), _not_utf8(field, own), _foreign_digits(field, own)]
    if field.kind in (f.URL, f.PROXY_URLS):
        url = _with_password(secret)
        choices.append(
            url.map(lambda value: Value(value.value, bad=True, if_used=field.kind == f.PROXY_URLS))
        )
    if not text:
        choices.append(_ODD_OBJECTS.map(Value))
    return st.one_of(*choices)


# -- a generated case --------------------------------------------------------------------------------


@dataclass
class Case:
    """Some fields, each with a generated :class:`Value`, and the secret planted in them and around them."""

    given: dict[str, Value]
    secret: str
    #: Only values not claimed bad, the required fields given: a case meant to reach the endpoint.
    clean: bool = False

    def used(self, name: str, flags: Mapping[str, bool]) -> bool:
        """Whether field ``name`` is used: no field turns it on, or the one that does is on."""
        switches = [other.name for other in FIELDS if other.implied_by == name]
        return not switches or any(flags.get(switch, False) for switch in switches)

    def bad_fields(self, flags: Mapping[str, bool]) -> list[str]:
        """The fields whose value is claimed bad (in use, given ``flags``: which switches are on)."""
        return sorted(
            name
            for name, value in self.given.items()
            if value.bad and (not value.if_used or self.used(name, flags))
        )


@st.composite
def cases(draw: st.DrawFn, *, text: bool, fields: tuple[Field, ...] = FIELDS) -> Case:
    """A random subset of ``fields`` with generated values (``text``: the command line's)."""
    secret = draw(planted_secrets)
    clean = draw(st.booleans())  # half the cases invoke, the other half are mostly bad input
    chosen = draw(st.lists(st.sampled_from(fields), unique_by=lambda field: field.name, max_size=8))
    # A required field is nearly always given: without it nothing but its absence is tried.
    chosen += [fd for fd in fields if fd.required and fd not in chosen and (clean or draw(st.integers(0, 7)))]
    given = {fd.name: draw(values(fd, text=text, secret=secret, clean=clean)) for fd in chosen}
    return Case(given, secret, clean)


def substitute(value: Any, endpoint: str) -> Any:
    """``value`` with :data:`ENDPOINT` replaced by ``endpoint`` (``host:port``), in text and containers."""
    if isinstance(value, str):
        return value.replace(ENDPOINT, endpoint)
    if isinstance(value, list):
        return [substitute(item, endpoint) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, endpoint) for key, item in value.items()}
    return value


def definitely_on(value: Any) -> bool:
    """Whether a flag's value reads as on (``"yes"``, ``1``); a value that is no flag's is not."""
    try:
        return parse_bool(value)
    except ValueError:
        return False


# -- a generated command line -------------------------------------------------------------------------


@dataclass
class CommandLine:
    """
    ``lambda-ue invoke``'s arguments, with what they must be judged by.

    :param argv: The arguments (``@<file:N>`` stands for the N-th of ``files``, written by the test).
    :param case: The fields given, each by the last of its options (argparse keeps the last).
    :param unknown: Unknown options and stray arguments: each makes the run exit 20, named.
    :param files: The contents of the ``@file`` arguments.
    :param stdin: What ``@-`` reads.
    :param compact: ``--compact`` is given: the document is one line.
    """

    argv: list[str]
    case: Case
    unknown: list[str] = field(default_factory=list)
    files: list[bytes] = field(default_factory=list)
    stdin: bytes = b""
    compact: bool = False

    def expected_problems(self) -> list[str]:
        """What the status must name: every bad field (its name or its option) and every unknown argument."""
        # On the command line a field's option turns on the flags it implies (--proxy: use_proxy).
        flags = {other.name: True for other in FIELDS if other.implied_by in self.case.given}
        missing = [
            name
            for name in f.FIELD_NAMES
            if f.BY_NAME[name].required and f.BY_NAME[name].default is None and name not in self.case.given
        ]
        return self.case.bad_fields(flags) + missing + self.unknown

    def written(self, directory: str) -> list[str]:
        """``argv`` with each ``@<file:N>`` a path in ``directory`` holding its contents (written here)."""
        paths = []
        for number, content in enumerate(self.files):
            path = os.path.join(directory, f"arg{number}.json")
            with open(path, "wb") as handle:
                handle.write(content)
            paths.append(path)
        return [_file_reference(item, paths) for item in self.argv]


def _file_reference(item: str, paths: list[str]) -> str:
    for number, path in enumerate(paths):
        item = item.replace(f"@<file:{number}>", "@" + path)
    return item


_OPTIONS = {field.cli_option for field in FIELDS if field.cli_option}


def _misspelled(option: str) -> st.SearchStrategy[str]:
    return st.integers(2, len(option) - 1).map(lambda at: option[:at] + option[at + 1 :])


def _unknown_groups(secret: str) -> st.SearchStrategy[list[list[str]]]:
    """
    Unknown options (misspelled ones among them), alone, with a value or with a URL holding
    ``secret`` (a misspelled ``--proxy``), and stray arguments.
    """
    misspelled = st.sampled_from(sorted(_OPTIONS)).flatmap(_misspelled).filter(lambda o: o not in _OPTIONS)
    alone = st.one_of(misspelled, st.sampled_from(["--bogus", "-x", "--help-me", "stray"]))
    with_url = st.tuples(misspelled, _with_password(secret)).map(lambda drawn: [drawn[0], drawn[1].value])
    group = st.one_of(
        alone.map(lambda option: [option]), alone.map(lambda option: [option, "junk"]), with_url
    )
    return st.lists(group, max_size=2)


_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


def _as_argument(text: str) -> str:
    """``text`` as an option's value: argparse reads ``-x`` as an option, `` -x`` as a value."""
    return " " + text if text.startswith("-") and not _NEGATIVE_NUMBER.match(text) else text


@st.composite
def command_lines(draw: st.DrawFn, *, without: frozenset[str] = frozenset()) -> CommandLine:
    """
    ``invoke`` with fields in any order, repeated, from files and stdin, and unknown options.

    :param without: Kinds of field left out (a process given a connection imports Airflow: seconds).
    """
    case = draw(
        cases(text=True, fields=tuple(fd for fd in FIELDS if fd.cli_option and fd.kind not in without))
    )
    line = CommandLine(argv=[], case=case)
    groups: list[list[str]] = []
    for name, value in list(case.given.items()):
        spec = f.BY_NAME[name]
        option = str(spec.cli_option)
        if spec.kind == f.FLAG:
            # A switch: it is given or not; one on by default is turned off by --no-<option>.
            off = spec.default is True and draw(st.booleans())
            groups.append([option.replace("--", "--no-", 1) if off else option])
            case.given[name] = Value(not off)
            continue
        group: list[str] = []
        if draw(st.booleans()):  # given twice: argparse keeps the last
            shadowed = draw(values(spec, text=True, secret=case.secret)).value
            group += [option, _as_argument(shadowed or "x")]
        text = "" if value.value is None else _as_argument(str(value.value))
        groups.append([*group, option, *_json_source(draw, line, spec, text)])
    unknown = [] if case.clean else draw(_unknown_groups(case.secret))
    line.unknown = [group[0] for group in unknown]
    groups += unknown
    line.compact = draw(st.booleans())
    if line.compact:
        groups.append(["--compact"])
    order = draw(st.permutations(range(len(groups))))
    line.argv = ["invoke", *(item for index in order for item in groups[index])]
    return line


def _json_source(draw: st.DrawFn, line: CommandLine, field: Field, text: str) -> list[str]:
    """A JSON field's text inline, from an ``@file`` or from ``@-`` (the bytes possibly not UTF-8)."""
    if field.kind != f.JSON or not text:
        return [text]
    source = draw(st.sampled_from(["inline", "inline", "file", "stdin"]))
    if source == "inline":
        return [text]
    data = text.encode("utf-8", "surrogateescape")
    if source == "stdin":
        line.stdin = line.stdin or data  # stdin is read once: a second @- gets the same bytes
        if line.stdin != data:  # the value is the first @-'s: no claim on it
            line.case.given[field.name] = Value(line.stdin.decode("utf-8", "surrogateescape"))
        return ["@-"]
    line.files.append(data)
    return [f"@<file:{len(line.files) - 1}>"]


def problems_named(status: str, names: list[str]) -> list[str]:
    """
    The names that no problem of ``status`` names: a field's (a problem starting ``<field>:``, or
    its option mentioned), an option or an unknown argument (mentioned).
    """

    def said(word: str) -> bool:
        # As a word: "--proxy" is not named by "--proxy-type".
        return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", status) is not None

    def named(name: str) -> bool:
        if name not in f.BY_NAME:
            return said(name)
        # Problems follow the status's first sentence, "; " between them.
        starts = re.search(rf"(?:\. |; ){re.escape(name)}: ", status) is not None
        option = f.BY_NAME[name].cli_option
        return starts or (option is not None and said(option))

    return [name for name in names if not named(name)]


# -- what every outcome must satisfy ----------------------------------------------------------------


def environment(endpoint_url: str, secret: str) -> dict[str, str]:
    """
    The variables of a run: ``secret`` as every credential it may read, every AWS service at ``endpoint_url``.

    The AWS secret key, the proxy password and the password of connection :data:`SECRET_CONNECTION`
    all hold the planted secret; Lambda, STS and CloudWatch Logs are the counting endpoint.
    """
    connection = {"conn_type": "aws", "login": "AKIAFUZZCONNECTION01", "password": secret}
    return {
        "AWS_ACCESS_KEY_ID": "AKIAFUZZFUZZFUZZFUZZ",
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        # Where no endpoint_url is given (or a blank one): never AWS's own.
        "AWS_ENDPOINT_URL_LAMBDA": endpoint_url,
        "AWS_ENDPOINT_URL_STS": endpoint_url,
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": endpoint_url,
        "LAMBDA_UE_PROXY_USER": "fuzzer",
        "LAMBDA_UE_PROXY_PASSWORD": secret,
        f"AIRFLOW_CONN_{SECRET_CONNECTION.upper()}": json.dumps(connection),
    }


def check_command_line(line: CommandLine, code: int, stdout: str, stderr: str, traffic: int) -> None:
    """
    What every ``lambda-ue invoke`` must do, whatever its arguments.

    :param traffic: Connections and requests the counting endpoint saw.
    """
    assert code in CONTRACT_EXIT_CODES, (code, stdout, stderr)
    assert "Traceback" not in stdout + stderr, stderr
    document = json.loads(stdout)  # one JSON document, nothing else
    assert document["exit_code"] == code
    assert stdout.endswith("\n")
    if line.compact:
        assert stdout.count("\n") == 1, "--compact prints one line"
    check_outcome(line.expected_problems(), document, traffic)
    for name, text in (("stdout", stdout), ("stderr", stderr)):
        assert not leaks(text, line.case.secret), f"the planted secret is on {name}: {text}"


def check_outcome(expected: list[str], document: Mapping[str, Any], traffic: int) -> None:
    """
    Bad input is exit 20, named, with no traffic; every other outcome came from the wire.

    :param expected: What the status must name (fields, options, arguments claimed bad).
    :param traffic: Connections and requests the counting endpoint saw.
    """
    code, status = document["exit_code"], document["status_description"]
    event(f"exit {code}{', claimed bad' if expected else ''}")  # --hypothesis-show-statistics
    if expected:
        assert code == 20, f"claimed bad: {expected}; got {status}"
        assert not problems_named(status, expected), (
            f"not named: {problems_named(status, expected)}: {status}"
        )
    if code == 20:
        assert traffic == 0, f"exit 20 after {traffic} connections and requests: {status}"
    else:
        # Nothing but the wire tells exit 0-3, 10, 11 or 21: an outcome without traffic means a
        # failure before the network that validation should have named (exit 20).
        assert traffic > 0, f"exit {code} without any traffic: {status}"


# -- what issue 29 reported, always among the examples ---------------------------------------------

#: The secret of the reported inputs.
REPORTED_SECRET = "S3cretPassw0rd"
_FIELD_OF_OPTION = {str(fd.cli_option): fd.name for fd in FIELDS if fd.cli_option}


def _reported_line(
    *argv: str, bad: tuple[str, ...] = (), unknown: tuple[str, ...] = (), stdin: bytes = b""
) -> CommandLine:
    """A command line issue 29 (or its property tests) reported; ``bad``: the fields it must name."""
    given = {
        _FIELD_OF_OPTION[option]: Value(value, bad=_FIELD_OF_OPTION[option] in bad)
        for option, value in itertools.pairwise(argv)
        if option in _FIELD_OF_OPTION
    }
    case = Case(given, REPORTED_SECRET)
    return CommandLine(["invoke", *argv], case, list(unknown), stdin=stdin, compact="--compact" in argv)


_INLINE = f"me:{REPORTED_SECRET}@{ENDPOINT}"

#: Each defect issue 29 reported, and those its property tests found, as a command line.
REPORTED_COMMAND_LINES = (
    _reported_line("--function-name", "echo", "--payload", '{"a": "' + NOT_UTF8 + '"}', bad=("payload",)),
    _reported_line("--function-name", "echo", "--payload", "@-", bad=("payload",), stdin=b'{"a": "\xff"}'),
    _reported_line(
        "--function-name", "echo", "--client-context", "{" + NOT_UTF8 + "}", bad=("client_context",)
    ),
    _reported_line("--function-name", f"{_ACCOUNT}:function:echo", bad=("function_name",)),
    _reported_line(
        "--function-name", f"arn:aws:lambda:us-east-1:{_ACCOUNT}:function:echo", bad=("function_name",)
    ),
    _reported_line(
        "--function-name", "echo", "--role-arn", f"arn:aws:iam::{_ACCOUNT}:role/x", bad=("role_arn",)
    ),
    _reported_line("--bogus", "--payload", "@/nonexistent/x", bad=("payload",), unknown=("--bogus",)),
    _reported_line(
        "--functon-name",
        "echo",
        "--payload",
        "@/nonexistent/x",
        bad=("payload",),
        unknown=("--functon-name",),
    ),
    _reported_line("--function-name", "echo", "--log-type", "Bogus", "--compact", bad=("log_type",)),
    _reported_line("--bogus", "--compact", unknown=("--bogus",)),
    _reported_line("--function-name", "echo", "--proxy", _INLINE, bad=("proxy",)),
    _reported_line(
        "--function-name",
        "echo",
        "--endpoint-url",
        f"user:{REPORTED_SECRET}@host:port",
        bad=("endpoint_url",),
    ),
    _reported_line(
        "--function-name", "echo", "--proxy", f"http://u:pa,{REPORTED_SECRET}@{ENDPOINT}", bad=("proxy",)
    ),
    _reported_line(
        "--function-name", "echo", "--proxy", f"http://u:pa/{REPORTED_SECRET}@{ENDPOINT}", bad=("proxy",)
    ),
    _reported_line(
        "--function-name",
        "echo",
        "--wait-for-completion-timeout",
        "1e10",
        bad=("wait_for_completion_timeout",),
    ),
    _reported_line(
        "--function-name",
        "echo",
        "--wait-for-completion-timeout",
        "9" * 400,
        bad=("wait_for_completion_timeout",),
    ),
    # Found by these tests: a bad field beside a missing option, a misspelt --proxy, "://" in a password.
    _reported_line("--action", "bogus", bad=("action",)),
    _reported_line("--function-name", "echo", "--proxi", _INLINE, unknown=("--proxi",)),
    _reported_line(
        "--function-name", "echo", "--proxy", f"http://me:{REPORTED_SECRET}://x@{ENDPOINT}", bad=("proxy",)
    ),
)

#: The reported field values, as a DAG or a template hands them over.
REPORTED_CASES = (
    Case({"function_name": Value(f"{_ACCOUNT}:function:echo", bad=True)}, REPORTED_SECRET),
    Case(
        {"function_name": Value(f"arn:aws:lambda:us-east-1:{_ACCOUNT}:function:echo", bad=True)},
        REPORTED_SECRET,
    ),
    Case(
        {
            "function_name": Value("echo"),
            "role_based_access": Value(True),
            "role_arn": Value(f"arn:aws:iam::{_ACCOUNT}:role/x", bad=True, if_used=True),
        },
        REPORTED_SECRET,
    ),
    Case(
        {"function_name": Value("echo"), "wait_for_completion_timeout": Value("1e10", bad=True)},
        REPORTED_SECRET,
    ),
    Case(
        {"function_name": Value("echo"), "wait_for_completion_timeout": Value("9" * 400, bad=True)},
        REPORTED_SECRET,
    ),
    Case(
        {"function_name": Value("echo"), "payload": Value('{"a": "' + NOT_UTF8 + '"}', bad=True)},
        REPORTED_SECRET,
    ),
    Case(
        {
            "function_name": Value("echo"),
            "use_proxy": Value(True),
            "proxy": Value(_INLINE, bad=True, if_used=True),
        },
        REPORTED_SECRET,
    ),
    Case(
        {
            "function_name": Value("echo"),
            "endpoint_url": Value(f"http://u:pa,{REPORTED_SECRET}@host:1", bad=True),
        },
        REPORTED_SECRET,
    ),
)


def with_reported(
    name: str, reported: tuple[Any, ...]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The ``reported`` inputs as explicit examples (argument ``name``) of a property test: run every time."""

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        for value in reported:
            test = example(**{name: value})(test)
        return test

    return decorate
