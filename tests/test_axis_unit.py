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
    format_timestamp,
    parse_timestamp,
    sign_headers,
)
from edoc_exchange.axis._auth import AuthFailure, hmac_hex, verify_headers
from edoc_exchange.axis._protocol import MultipartUpload, _retry_after
from edoc_exchange.axis.local import LocalAxisConfig, SystemConfig
from edoc_exchange.config import AxisSettings, ConfigError, load_settings

VN = dt.timezone(dt.timedelta(hours=7))
NOW = dt.datetime(2025, 3, 14, 9, 30, 15, 123456, tzinfo=VN)


def test_timestamp_is_written_the_java_way() -> None:
    assert format_timestamp(NOW) == "14032025T093015+0123"
    assert format_timestamp(NOW.astimezone(dt.UTC)) == "14032025T093015+0123"
    assert format_timestamp(NOW, TimestampStyle.OFFSET) == "14032025T093015+0700"


def test_timestamp_is_read_both_ways() -> None:
    millis, = (r for r in parse_timestamp("14032025T093015+0123") if r.microsecond)
    assert millis == NOW.replace(microsecond=123000)
    # "+0700": 700 ms in Vietnam time, or the +07:00 offset: the same second either way.
    readings = parse_timestamp("14032025T093015+0700")
    assert len(readings) == 2
    assert abs(readings[0] - readings[1]) < dt.timedelta(seconds=1)
    # "+1500" cannot be an offset; "+0060" cannot be one either, but is 60 ms.
    assert len(parse_timestamp("14032025T093015+1500")) == 0
    assert len(parse_timestamp("14032025T093015+0060")) == 1
    assert parse_timestamp("2025-03-14T09:30:15") == []
    assert parse_timestamp("32132025T093015+0000") == []


def _signed(now: dt.datetime = NOW, **params: str) -> dict[str, str]:
    return sign_headers(secret="s3cret", systemid="sys", content_type="application/json",
                        params=params, now=now, user_agent="t")


def test_sign_headers_follow_the_sdk() -> None:
    headers = _signed(docId="42")
    assert headers["XroadVnpt-sign-header-key"] == "timestamp;systemid;Content-Type;docId"
    signed = json.loads(headers["XroadVnpt-sign-header"])
    assert signed == {
        "XroadVnpt-timestamp": "14032025T093015+0123",
        "XroadVnpt-systemid": "sys",
        "XroadVnpt-Content-Type": "application/json",
        "XroadVnpt-docId": "42",
    }
    assert " " not in headers["XroadVnpt-sign-header"]  # compact, like Gson
    assert headers["XroadVnpt-hash-header"] == hmac_hex("s3cret", headers["XroadVnpt-sign-header"])
    assert headers["XroadVnpt-version"] == "3.0.201608"
    assert headers["XroadVnpt-docId"] == "42"
    assert headers["Content-Type"] == "application/json"


def _verify(headers: dict[str, str], now: dt.datetime = NOW) -> dict[str, str]:
    result = verify_headers(
        httpx.Headers(headers), secret_for={"sys": "s3cret"}.get, now=now,
        max_skew=dt.timedelta(minutes=5), required=("docId",),
    )
    return dict(result.values)


def test_verify_accepts_a_signed_call_whatever_the_key_order() -> None:
    assert _verify(_signed(docId="42"))["docId"] == "42"
    # A Java HashMap orders keys its own way: the HMAC is over the text as sent.
    headers = _signed(docId="42")
    reordered = json.dumps(dict(reversed(json.loads(headers["XroadVnpt-sign-header"]).items())),
                           separators=(",", ":"))
    headers["XroadVnpt-sign-header"] = reordered
    headers["XroadVnpt-hash-header"] = hmac_hex("s3cret", reordered).upper()
    assert _verify(headers)["docId"] == "42"


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
    assert _verify(offset_style)["docId"] == "1"


def test_upload_streams_exactly_what_it_announces(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    file = tmp_path / "m.edxml"
    file.write_bytes(data)
    upload = Upload.from_path(file)
    assert upload.sha256 == hashlib.sha256(data).hexdigest()
    assert upload.size == len(data)
    seen: list[int] = []
    stream = MultipartUpload(upload, progress=lambda sent, total: seen.append(sent))
    body = b"".join(stream)
    assert len(body) == stream.content_length
    assert data in body
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
    let a request six minutes old pass the five-minute freshness check (a replay)."""
    [only] = parse_timestamp("14032025T093015+0654")
    assert only.microsecond == 654_000
    assert only.utcoffset() == dt.timedelta(hours=7)
    assert len(parse_timestamp("14032025T093015+0700")) == 2  # the same second either way
