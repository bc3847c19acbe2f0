"""The I/O-free parts of the axis layer: timestamps, signing, uploads, settings, secrets."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from edoc_exchange.axis import (
    AxisClient,
    AxisNotFound,
    TimestampStyle,
    Upload,
    format_sdk_timestamp,
    parse_sdk_timestamp,
    sign_headers,
)
from edoc_exchange.axis._auth import (
    PREFIX,
    AuthFailure,
    ParameterConflict,
    SignedCall,
    hmac_hex,
    verify_headers,
)
from edoc_exchange.axis._protocol import MultipartUpload, RawUpload, _retry_after
from edoc_exchange.axis._wire import (
    BodyDigest,
    HashStyle,
    KeptFile,
    hash_file,
    hash_file_forms,
    match_hash_file,
)
from edoc_exchange.config import AxisSettings, ConfigError, load_settings
from edoc_exchange.sandbox.axis import LocalAxisConfig, LocalAxisConfigError, SystemConfig

VN = dt.timezone(dt.timedelta(hours=7))
NOW = dt.datetime(2025, 3, 14, 9, 30, 15, 123456, tzinfo=VN)


def test_timestamp_is_written_the_java_way() -> None:
    assert format_sdk_timestamp(NOW) == "14032025T093015+0123"
    assert format_sdk_timestamp(NOW.astimezone(dt.UTC)) == "14032025T093015+0123"
    assert format_sdk_timestamp(NOW, TimestampStyle.OFFSET) == "14032025T093015+0700"


def test_timestamp_is_read_in_vietnam_time_or_utc() -> None:
    # The SDK writes its JVM's wall clock without a zone: Vietnam time, or UTC in a container.
    vietnam, utc = parse_sdk_timestamp("14032025T093015+0123")
    assert vietnam == NOW.replace(microsecond=123000)
    assert utc == vietnam + dt.timedelta(hours=7)
    assert utc.utcoffset() == dt.timedelta(0)
    # "+0700": 700 ms (either zone), or the +07:00 offset: Vietnam time to within 0.7 s.
    vn_millis, utc_millis, offset = parse_sdk_timestamp("14032025T093015+0700")
    assert abs(vn_millis - offset) < dt.timedelta(seconds=1)
    assert utc_millis - vn_millis == dt.timedelta(hours=7)
    # "+1500" cannot be an offset nor milliseconds; "+0060" cannot be an offset, is 60 ms.
    assert parse_sdk_timestamp("14032025T093015+1500") == []
    assert [r.microsecond for r in parse_sdk_timestamp("14032025T093015+0060")] == [60_000] * 2
    assert parse_sdk_timestamp("2025-03-14T09:30:15") == []
    assert parse_sdk_timestamp("32132025T093015+0000") == []


def _signed(now: dt.datetime = NOW, **params: str) -> dict[str, str]:
    return sign_headers(secret="s3cret", systemid="sys", content_type="application/json",
                        params=params, now=now, user_agent="t")


def test_sign_headers_follow_the_sdk() -> None:
    headers = _signed(docId="42")
    assert headers["XroadVnpt-sign-header-key"] == "systemid;docId;timestamp;Content-Type"
    signed = json.loads(headers["XroadVnpt-sign-header"])
    assert list(signed.items()) == [
        ("XroadVnpt-systemid", "sys"),
        ("XroadVnpt-docId", "42"),
        ("XroadVnpt-timestamp", "14032025T093015+0123"),
        ("XroadVnpt-Content-Type", "application/json"),
    ]
    assert " " not in headers["XroadVnpt-sign-header"]  # compact, like Gson
    assert headers["XroadVnpt-hash-header"] == hmac_hex("s3cret", headers["XroadVnpt-sign-header"])
    assert headers["XroadVnpt-version"] == "3.0.201608"
    assert headers["XroadVnpt-docId"] == "42"
    assert headers["Content-Type"] == "application/json"
    late = sign_headers(secret="s", systemid="sys", content_type="application/json",
                        params={"docid": "7"}, late_params={"status": "done"}, now=NOW,
                        user_agent="t")
    assert late["XroadVnpt-sign-header-key"] == "systemid;docid;timestamp;Content-Type;status"
    with pytest.raises(ValueError, match="shadow"):
        _signed(Timestamp="x")


def _verify(
    headers: dict[str, str] | list[tuple[str, str]],
    now: dt.datetime = NOW,
    *,
    read_only: bool = False,
    skew: dt.timedelta | None = dt.timedelta(minutes=5),
) -> SignedCall:
    return verify_headers(
        httpx.Headers(headers).multi_items(), secret_for={"sys": "s3cret"}.get,
        max_skew_for=lambda _systemid: skew, now=now, required=("docId",),
        read_only=read_only,
    )


def _sdk_like(pairs: list[tuple[str, str]], *, sent: list[tuple[str, str]] | None = None,
              key_list: str | None = None) -> list[tuple[str, str]]:
    """Headers signed the SDK's way over ``pairs`` (names as given, duplicates allowed)."""
    sign_json = json.dumps({PREFIX + n: v for n, v in pairs}, separators=(",", ":"))
    return [
        *(sent if sent is not None else [(PREFIX + n, v) for n, v in pairs]),
        (PREFIX + "sign-header-key", key_list or ";".join(n for n, _ in pairs)),
        (PREFIX + "sign-header", sign_json),
        (PREFIX + "hash-header", hmac_hex("s3cret", sign_json)),
    ]


STAMP = format_sdk_timestamp(NOW)


def test_verify_accepts_a_signed_call_whatever_the_key_order() -> None:
    assert _verify(_signed(docId="42")).param("docId") == "42"
    # A Java HashMap orders keys its own way: the HMAC is over the text as sent.
    headers = _signed(docId="42")
    reordered = json.dumps(dict(reversed(json.loads(headers["XroadVnpt-sign-header"]).items())),
                           separators=(",", ":"))
    headers["XroadVnpt-sign-header"] = reordered
    headers["XroadVnpt-hash-header"] = hmac_hex("s3cret", reordered).upper()
    assert _verify(headers).param("docId") == "42"


def test_header_names_are_case_insensitive_in_headers_and_signature() -> None:
    pairs = [("systemid", "sys"), ("docid", "42"), ("timestamp", STAMP)]
    # Signed as "docid", required and read as "docId"; the key list may spell it otherwise.
    assert _verify(_sdk_like(pairs)).param("docId") == "42"
    assert _verify(_sdk_like(pairs, key_list="SystemId;DOCID;Timestamp")).param("docId") == "42"
    sent_upper = [("XROADVNPT-SYSTEMID", "sys"), ("xroadvnpt-DocId", "42"),
                  ("XroadVnpt-TimeStamp", STAMP)]
    assert _verify(_sdk_like(pairs, sent=sent_upper)).param("docId") == "42"


def test_piled_up_parameters_are_checked_and_resolved() -> None:
    """After getEdoc(docId=Y) and an earlier updateStatus(docid=X), the SDK signs and sends
    both, as two headers differing only in case."""
    pairs = [("systemid", "sys"), ("docid", "X"), ("timestamp", STAMP), ("docId", "Y")]
    call = _verify(_sdk_like(pairs), read_only=True)
    assert call.param("docId") == "Y"  # a read: the operation's own spelling wins
    with pytest.raises(ParameterConflict) as info:
        _verify(_sdk_like(pairs)).param("docid")  # a change: refused
    assert info.value.http_status == 400
    assert "XroadVnpt-docid=X" in info.value.en
    assert "XroadVnpt-docId=Y" in info.value.en
    # Variants that agree are one value, whatever the operation.
    agree = [("systemid", "sys"), ("docid", "Y"), ("timestamp", STAMP), ("docId", "Y")]
    assert _verify(_sdk_like(agree)).param("docid") == "Y"
    # A read whose own spelling is absent while the variants disagree: refused too.
    other = [("systemid", "sys"), ("docid", "X"), ("timestamp", STAMP), ("DOCID", "Y")]
    with pytest.raises(ParameterConflict):
        _verify(_sdk_like(other), read_only=True).param("docId")


@pytest.mark.parametrize(
    "sent",
    [
        # one of the two signed values is not sent
        [("XroadVnpt-systemid", "sys"), ("XroadVnpt-docid", "X"), ("XroadVnpt-timestamp", STAMP)],
        # a value nobody signed travels under a signed name
        [("XroadVnpt-systemid", "sys"), ("XroadVnpt-docid", "X"), ("XroadVnpt-docId", "Y"),
         ("XroadVnpt-DOCID", "Z"), ("XroadVnpt-timestamp", STAMP)],
    ],
    ids=["missing", "unsigned-extra"],
)
def test_every_value_sent_under_a_signed_name_is_signed(sent: list[tuple[str, str]]) -> None:
    pairs = [("systemid", "sys"), ("docid", "X"), ("timestamp", STAMP), ("docId", "Y")]
    with pytest.raises(AuthFailure) as info:
        _verify(_sdk_like(pairs, sent=sent))
    assert info.value.code == "AUTH_HEADER_MISMATCH"


def test_repeated_values_joined_by_a_proxy_still_verify() -> None:
    pairs = [("systemid", "sys"), ("docid", "X"), ("timestamp", STAMP), ("docId", "Y")]
    joined = [("XroadVnpt-systemid", "sys"), ("XroadVnpt-docid", "X, Y"),
              ("XroadVnpt-timestamp", STAMP)]
    assert _verify(_sdk_like(pairs, sent=joined), read_only=True).param("docId") == "Y"


def test_signed_json_with_a_key_twice_is_refused() -> None:
    headers = _sdk_like([("systemid", "sys"), ("docId", "1"), ("timestamp", STAMP)])
    text = dict(headers)[PREFIX + "sign-header"].replace("}", ',"XroadVnpt-docId":"2"}')
    headers = [(n, text if n == PREFIX + "sign-header" else v) for n, v in headers]
    headers = [(n, hmac_hex("s3cret", text) if n == PREFIX + "hash-header" else v)
               for n, v in headers]
    with pytest.raises(AuthFailure) as info:
        _verify(headers)
    assert info.value.code == "AUTH_MALFORMED"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda h: h.pop("XroadVnpt-hash-header"), "AUTH_MISSING"),
        (lambda h: h.update({"XroadVnpt-sign-header": "[1]"}), "AUTH_MALFORMED"),
        (lambda h: h.update({"XroadVnpt-hash-header": "00"}), "AUTH_BAD_HMAC"),
        (lambda h: h.update({"XroadVnpt-docId": "43"}), "AUTH_HEADER_MISMATCH"),
        (lambda h: h.pop("XroadVnpt-docId"), "AUTH_HEADER_MISMATCH"),
    ],
)
def test_verify_refuses(change: object, code: str) -> None:
    headers = _signed(docId="42")
    change(headers)  # type: ignore[operator]
    with pytest.raises(AuthFailure) as info:
        _verify(headers)
    assert info.value.code == code


def test_verify_requires_the_parameters_and_a_fresh_timestamp() -> None:
    with pytest.raises(AuthFailure) as info:
        _verify(_signed())
    assert info.value.code == "AUTH_UNSIGNED"
    with pytest.raises(AuthFailure) as info:
        _verify(_signed(docId="1"), now=NOW + dt.timedelta(minutes=5, seconds=2))
    assert info.value.code == "AUTH_CLOCK_SKEW"
    offset_style = sign_headers(secret="s3cret", systemid="sys", content_type="x",
                                params={"docId": "1"}, now=NOW, style=TimestampStyle.OFFSET,
                                user_agent="t")
    assert _verify(offset_style).param("docId") == "1"


def test_timestamp_written_in_utc_is_fresh_and_the_window_may_be_off() -> None:
    # An SDK in a UTC container writes 02:30:15 for 09:30:15 in Vietnam.
    utc_wall = NOW.astimezone(dt.UTC).strftime("%d%m%YT%H%M%S") + "+0123"
    pairs = [("systemid", "sys"), ("docId", "1"), ("timestamp", utc_wall)]
    assert _verify(_sdk_like(pairs)).timestamp == NOW.replace(microsecond=123000)
    # A long-lived SDK object, a day old: refused, unless this system's window is off.
    stale = _signed(NOW - dt.timedelta(days=1), docId="1")
    with pytest.raises(AuthFailure):
        _verify(stale)
    assert _verify(stale, skew=None).param("docId") == "1"
    # Off means "not checked for freshness", not "not checked": the form still is.
    bad = [("systemid", "sys"), ("docId", "1"), ("timestamp", "yesterday")]
    with pytest.raises(AuthFailure) as info:
        _verify(_sdk_like(bad), skew=None)
    assert info.value.code == "AUTH_BAD_TIMESTAMP"


def test_hash_file_forms_follow_java() -> None:
    # The spec's example: the padded b27302926c2ec... is b2732926c2ec... in the SDK's form.
    digest = bytes.fromhex("b27302926c2ec4" + "0f" * 25)
    forms = hash_file_forms(digest)
    assert forms[HashStyle.HEX] == digest.hex()
    assert forms[HashStyle.SDK] == "b2732926c2ec4" + "f" * 25
    assert hash_file(digest, HashStyle.SDK) == forms[HashStyle.SDK]
    assert Upload.from_bytes(b"x").hash_file(HashStyle.HEX) == hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20])
def test_body_digest_decides_whether_the_crlf_is_framing(chunk: int) -> None:
    file = b"<edXML/>\n" * 50
    body = file + b"\r\n"
    digest = BodyDigest()
    for i in range(0, len(body), chunk):
        digest.update(body[i : i + chunk])
    sdk = "".join(format(b, "x") for b in hashlib.sha256(file).digest())
    kept = match_hash_file(sdk.upper(), digest, framed=True)
    assert kept == KeptFile(len(file), hashlib.sha256(file).hexdigest())
    whole = hashlib.sha256(body).hexdigest()
    assert match_hash_file(whole, digest, framed=True) == KeptFile(len(body), whole)
    # Not framed (a multipart part): the CRLF is the file's, and only the whole matches.
    assert match_hash_file(sdk, digest, framed=False) is None
    assert match_hash_file("0" * 64, digest, framed=True) is None


@pytest.mark.parametrize("kind", [RawUpload, MultipartUpload])
def test_upload_streams_exactly_what_it_announces(
    tmp_path: Path, kind: type[RawUpload | MultipartUpload]
) -> None:
    data = bytes(range(256)) * 1000
    file = tmp_path / "m.edxml"
    file.write_bytes(data)
    upload = Upload.from_path(file)
    assert upload.sha256 == hashlib.sha256(data).hexdigest()
    assert upload.size == len(data)
    seen: list[int] = []
    stream = kind(upload, progress=lambda sent, total: seen.append(sent))
    body = b"".join(stream)
    assert len(body) == stream.content_length
    if kind is RawUpload:
        assert body == data + b"\r\n"  # the SDK's framing
        assert stream.content_type == "application/octet-stream"
    else:
        assert data in body
        assert stream.content_type.startswith("multipart/form-data; boundary=")
    assert seen[0] == 0
    assert seen[-1] == len(data)
    assert b"".join(stream) == body  # can be sent again (a retry)
    assert Upload.from_bytes(data, "tệp lạ\".edxml").filename == "t_p_l__.edxml"


def test_retry_after_parsing() -> None:
    assert _retry_after("2") == 2.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)).strftime(
        "%a, %d %b %Y %H:%M:%S GMT"
    )
    value = _retry_after(later)
    assert value is not None
    assert 25 < value <= 30


def test_secrets_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    settings = AxisSettings(endpoint="http://axis", systemid="s", secret="hunter2-secret")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"status": "FAIL", "ErrorCode": "NOT_FOUND",
                                         "ErrorDesc": "no"})

    caplog.set_level(logging.DEBUG)
    with AxisClient(settings, transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(AxisNotFound) as info:
            client.fetch("x")
        text = repr(settings) + repr(client) + str(info.value) + caplog.text
    assert seen
    assert seen[0].url == "http://axis/getEdoc"
    assert "hunter2" not in text
    system = SystemConfig(systemid="a", secret=SecretStr("hunter2-x"), organ_ids=["x"])
    assert "hunter2" not in repr(LocalAxisConfig(systems=[system]))


def test_settings_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "edoc.toml"
    config.write_text('[axis]\nendpoint = "http://a"\nsystemid = "s"\nsecret = "x"\n'
                      'ca_bundle = "ca.pem"\n', encoding="utf-8")
    monkeypatch.setenv("EDOC_AXIS__SECRET", "from-env")
    monkeypatch.setenv("EDOC_AXIS__RETRIES", "2")
    settings = load_settings(config).require_axis()
    assert settings.secret.get_secret_value() == "from-env"
    assert settings.retries == 2
    assert settings.ca_bundle == tmp_path / "ca.pem"
    monkeypatch.setenv("EDOC_AXIS__RETRIES", "many")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert "axis.retries" in str(info.value)
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "missing.toml")


def test_milliseconds_never_read_as_an_offset_that_hides_staleness() -> None:
    """'+0654' is 654 ms: read as a +06:54 zone it would move the instant by six minutes and
    let a request six minutes old pass the five-minute freshness check (a replay). Its only
    readings are the two zones the SDK's JVM may run in."""
    readings = parse_sdk_timestamp("14032025T093015+0654")
    assert [r.microsecond for r in readings] == [654_000, 654_000]
    assert [r.utcoffset() for r in readings] == [dt.timedelta(hours=7), dt.timedelta(0)]
    assert len(parse_sdk_timestamp("14032025T093015+0700")) == 3  # also the +07:00 offset


def test_local_axis_config_windows_trace_and_the_older_trace_mode(tmp_path: Path) -> None:
    file = tmp_path / "local-axis.toml"
    file.write_text(
        'max_clock_skew_seconds = 120\ntrace_mode = "metadata"\n'
        '[[systems]]\nsystemid = "vendor"\nsecret = "s"\norgan_ids = ["x"]\n'
        'max_clock_skew_seconds = "off"\n'
        '[[systems]]\nsystemid = "other"\nsecret = "s"\norgan_ids = ["y"]\n',
        encoding="utf-8",
    )
    config = LocalAxisConfig.load(file)
    assert config.trace is False  # what "metadata" meant: the bytes are not touched
    assert config.max_skew_for("vendor") is None
    assert config.max_skew_for("other") == dt.timedelta(minutes=2)
    assert config.max_skew_for("unknown") == dt.timedelta(minutes=2)
    assert LocalAxisConfig().trace is True
    assert LocalAxisConfig().trace_organ == LocalAxisConfig().organ_id
    assert LocalAxisConfig(trace_organ_id="").trace_organ is None
    assert LocalAxisConfig(trace_organ_id="null").trace_organ == "null"
    file.write_text('trace_mode = "sometimes"\n', encoding="utf-8")
    with pytest.raises(LocalAxisConfigError) as info:
        LocalAxisConfig.load(file)
    assert "trace_mode" in str(info.value)
    file.write_text("max_clock_skew_seconds = -1\n", encoding="utf-8")
    with pytest.raises(LocalAxisConfigError):
        LocalAxisConfig.load(file)
