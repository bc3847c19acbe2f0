"""Whatever bytes arrive, the reader answers with a result or an EdxmlReadError: never
another exception, never a hang. Mutations of valid messages reach the odd corners."""

from __future__ import annotations

from builders import document, status
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edoc_exchange import compose, edxml, signing
from edoc_exchange.edxml import EdxmlReadError
from edoc_exchange.errors import EdocError
from edoc_exchange.sandbox import new_test_identity

SEEDS = [edxml.write(document()), edxml.write(status("03"))]
FRAGMENTS = [
    b"<",
    b">",
    b"</",
    b"/>",
    b"&",
    b"&amp;",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"]]>",
    b"<?x ?>",
    b'xmlns:a="urn:a"',
    b"a:",
    b"edXML:",
    b"\xff",
    b"\xc3",
    b"\x00",
    b"<!DOCTYPE x>",
    b"&#0;",
    b"&#x1F;",
    b"=",
    b'"',
    b"Bussiness",
    b"Business",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        if action == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data[pos:pos] = draw(st.sampled_from(FRAGMENTS))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif action == "truncate":
            del data[pos:]
        elif action == "dup":
            end = min(len(data), pos + draw(st.integers(1, 200)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated(), st.booleans())
def test_mutated_messages_never_escape_as_other_errors(data: bytes, strict: bool) -> None:
    refused: EdxmlReadError | None = None
    try:
        result = edxml.read(data, strict=strict)
    except EdxmlReadError as exc:
        refused = exc
    if refused is not None:
        codes = {f.code for f in refused.findings}
        assert codes
        assert all(f.path.startswith("/") for f in refused.findings)
        assert "unexpected" not in codes, [str(f) for f in refused.findings]
        assert str(refused)
        return
    # Whatever was accepted can be written back and read again to the same model.
    again = edxml.read(edxml.write(result.message, check=False))
    assert again.message == result.message


_IDENTITY = new_test_identity(organ_id="000.12.05.H38", name="UBND xã Nậm Khánh")
_POLICY = signing.TrustPolicy(roots=(_IDENTITY.ca_cert,), at="now")
_SIGNED = signing.sign(document(), _IDENTITY.signer())


@st.composite
def mutated_signed(draw: st.DrawFn) -> bytes:
    data = bytearray(_SIGNED)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data[pos:pos] = draw(st.sampled_from(FRAGMENTS))
        else:
            del data[pos : pos + draw(st.integers(1, 40))]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated_signed())
def test_tampered_signed_messages_are_refused_cleanly(data: bytes) -> None:
    """A changed signed message is refused with a signature or format error, never a crash;
    and a mutation that leaves it valid changed nothing the signature covers."""
    refused: EdocError | None = None
    try:
        verified = signing.verify(data, _POLICY)
    except (signing.SignatureError, EdxmlReadError) as exc:
        refused = exc
    if refused is not None:
        assert refused.en
        return
    assert verified.message == signing.verify(_SIGNED, _POLICY).message


_PLAN = (REPO / "examples" / "ke-hoach-papi-2020.yaml").read_text(encoding="utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.integers(0, len(_PLAN)),
    st.integers(0, 60),
    st.sampled_from(
        [
            ":",
            "- ",
            "  ",
            "\n",
            "'",
            '"',
            "{",
            "[",
            "&a",
            "*a",
            "!!int",
            "\t",
            "papi: x",
            "kind: report",
            "\x00",
        ]
    ),
)
def test_mutated_plans_are_refused_with_a_place(pos: int, cut: int, insert: str) -> None:
    """Whatever a clerk's editor does to the YAML, the answer is a plan or an InputError
    naming places, never a crash."""
    text = _PLAN[:pos] + insert + _PLAN[pos + cut :]
    refused: compose.InputError | None = None
    try:
        compose.parse(text, source="plan.yaml")
    except compose.InputError as exc:
        refused = exc
    if refused is not None:
        assert refused.problems
        assert "plan.yaml" in refused.report()
