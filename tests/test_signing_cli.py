"""``edoc keys new``, ``edoc sign`` and ``edoc verify`` driven through typer's CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from signing_fixtures import document
from typer.testing import CliRunner

import edoc_exchange.cli.signing  # noqa: F401  (registers the commands until cli/__init__ does)
from edoc_exchange import edxml
from edoc_exchange.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    out = tmp_path / "keys"
    result = runner.invoke(app, ["keys", "new", "--organ-id", "000.00.12.H41",
                                 "--name", "UBND xã Nam Khánh", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "FOR TESTING ONLY" in result.output
    assert "CHỈ DÙNG ĐỂ THỬ" in result.output
    return out


@pytest.fixture
def unsigned(tmp_path: Path) -> Path:
    path = tmp_path / "doc.edxml"
    path.write_bytes(edxml.write(document()))
    return path


def test_keys_new_help_says_testing_only() -> None:
    result = runner.invoke(app, ["keys", "new", "--help"])
    assert result.exit_code == 0
    assert "chỉ dùng để thử" in result.output
    assert "TESTING ONLY" in result.output


def test_sign_then_verify_pem(keys: Path, unsigned: Path, tmp_path: Path) -> None:
    signed = tmp_path / "signed.edxml"
    result = runner.invoke(app, ["sign", str(unsigned), "-o", str(signed),
                                 "--key", str(keys / "signer.key.pem"),
                                 "--cert", str(keys / "signer.pem")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["verify", str(signed), "--trust", str(keys / "ca.pem")])
    assert result.exit_code == 0, result.output
    assert "VALID" in result.output
    folder = tmp_path / "roots"
    folder.mkdir()
    (folder / "ca.crt").write_bytes((keys / "ca.pem").read_bytes())
    (folder / "key.pem").write_bytes((keys / "signer.key.pem").read_bytes())  # skipped
    result = runner.invoke(app, ["verify", str(signed), "--trust", str(folder), "--json"])
    report = json.loads(result.output)
    assert report["valid"] is True
    assert report["sender"] == "000.00.12.H41"
    assert report["signature_algorithm"].endswith("rsa-sha256")


def test_p12_with_password_from_environment(tmp_path: Path, unsigned: Path) -> None:
    env = {"EDOC_KEY_PASSWORD": "mat-khau"}
    out = tmp_path / "p12keys"
    result = runner.invoke(app, ["keys", "new", "--organ-id", "000.00.12.H41", "--name", "X",
                                 "--out", str(out), "--p12"], env=env)
    assert result.exit_code == 0, result.output
    signed = tmp_path / "signed.edxml"
    result = runner.invoke(app, ["sign", str(unsigned), "-o", str(signed),
                                 "--p12", str(out / "signer.p12")], env=env)
    assert result.exit_code == 0, result.output
    # the password prompt is used when the variable is absent
    again = tmp_path / "again.edxml"
    result = runner.invoke(app, ["sign", str(unsigned), "-o", str(again),
                                 "--p12", str(out / "signer.p12")], input="mat-khau\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["verify", str(again), "--trust", str(out / "ca.pem")])
    assert result.exit_code == 0, result.output


def test_verify_reports_the_rule_in_both_languages(keys: Path, unsigned: Path,
                                                   tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", str(unsigned), "--trust", str(keys / "ca.pem")])
    assert result.exit_code == 1
    assert "[unsigned]" in result.output
    assert "chưa được ký số" in result.output
    assert "not signed" in result.output
    signed = tmp_path / "signed.edxml"
    runner.invoke(app, ["sign", str(unsigned), "-o", str(signed),
                        "--key", str(keys / "signer.key.pem"), "--cert", str(keys / "signer.pem")])
    tampered = tmp_path / "tampered.edxml"
    tampered.write_bytes(signed.read_bytes().replace("Kế hoạch cải".encode(), b"Ke hoach cai"))
    result = runner.invoke(app, ["verify", str(tampered), "--trust", str(keys / "ca.pem"),
                                 "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["outcome"] == "invalid"
    assert report["rule"] == "digest-mismatch"
    assert "thay đổi" in report["message_vi"]
    assert "changed" in report["message_en"]
    other = tmp_path / "other"
    runner.invoke(app, ["keys", "new", "--organ-id", "000.00.12.H41", "--name", "Y",
                        "--out", str(other)])
    result = runner.invoke(app, ["verify", str(signed), "--trust", str(other / "ca.pem")])
    assert result.exit_code == 1
    assert "[untrusted-root]" in result.output


def test_usage_errors_exit_2(keys: Path, unsigned: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "x.edxml")
    both = runner.invoke(app, ["sign", str(unsigned), "-o", out, "--p12", str(keys / "ca.pem"),
                               "--key", str(keys / "signer.key.pem")])
    assert both.exit_code == 2
    none = runner.invoke(app, ["sign", str(unsigned), "-o", out])
    assert none.exit_code == 2
    missing = runner.invoke(app, ["verify", str(unsigned)])
    assert missing.exit_code == 2
    bad_id = runner.invoke(app, ["keys", "new", "--organ-id", "nope", "--name", "X",
                                 "--out", str(tmp_path / "k")])
    assert bad_id.exit_code == 2


def test_bad_input_gives_a_message_not_a_traceback(keys: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.edxml"
    junk.write_bytes(b"\x00\x01 not xml")
    result = runner.invoke(app, ["verify", str(junk), "--trust", str(keys / "ca.pem")])
    assert result.exit_code == 1
    assert "malformed-xml" in result.output
    result = runner.invoke(app, ["verify", str(junk), "--trust", str(junk)])
    assert result.exit_code == 1
    assert "trust-store" in result.output
    result = runner.invoke(app, ["sign", str(junk), "-o", str(tmp_path / "o"),
                                 "--key", str(keys / "signer.key.pem"),
                                 "--cert", str(keys / "ca.pem")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


@pytest.mark.slow
def test_benchmark_quick_runs() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_signing.py"),
                             "--quick"], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    for label in ("5 KB message", "sign+verify/s", "ratio vs bare signxml",
                  "ratio vs raw RSA-2048", "10 MB attachment", "peak memory"):
        assert label in result.stdout
