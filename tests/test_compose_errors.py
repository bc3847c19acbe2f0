"""Bad input: each error is an InputError naming the field, its line and column, in both
languages, never a traceback."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from edoc_exchange.compose import (
    ContentError,
    InputError,
    Plan,
    Problem,
    Report,
    YamlSyntaxError,
    load,
    load_plan,
    load_report,
    parse,
)
from edoc_exchange.errors import EdocError

MINIMAL = """\
kind: plan
issuer:
  name: Ủy ban nhân dân xã Nậm Khánh
  parent: UBND huyện Bắc Hà
  organ_id: 000.12.05.H38
  place: Nậm Khánh
notation: KH-UBND
date: 2020-06-04
subject: Cải thiện Chỉ số PAPI năm 2020
sections:
  - heading: NHIỆM VỤ
    content:
      - heading: Đối với nội dung 8
        papi: quan-tri-dien-tu
        content:
          - Gửi, nhận văn bản điện tử.
recipients:
  - name: UBND huyện
    organ_id: 000.00.05.H38
signer:
  position: CHỦ TỊCH
  name: Vũ Ngọc Thiện
"""


def error_of(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse(text, source="test.yaml")
    error = info.value
    assert isinstance(error, EdocError)
    assert error.vi
    assert error.en
    assert error.vi != error.en
    return error


def only(error: InputError) -> Problem:
    assert len(error.problems) == 1, error.report()
    return error.problems[0]


def test_minimal_plan_is_valid() -> None:
    doc = parse(MINIMAL)
    assert isinstance(doc, Plan)
    assert doc.filed == "VT"


def test_missing_required_field() -> None:
    error = error_of(MINIMAL.replace("subject: Cải thiện Chỉ số PAPI năm 2020\n", ""))
    assert isinstance(error, ContentError)
    problem = only(error)
    assert (problem.code, problem.path, problem.line, problem.column) == ("missing", "subject",
                                                                          1, 1)
    assert "Thiếu trường bắt buộc 'subject'" in problem.vi
    assert "required field 'subject' is missing" in problem.en
    assert "test.yaml: dòng 1, cột 1" in str(error)


def test_missing_nested_field_points_at_its_mapping() -> None:
    error = error_of(MINIMAL.replace("  name: Vũ Ngọc Thiện\n", ""))
    problem = only(error)
    assert (problem.code, problem.path) == ("missing", "signer.name")
    assert (problem.line, problem.column) == (21, 3)  # the signer mapping's first key


def test_wrong_type() -> None:
    error = error_of(MINIMAL.replace("subject: Cải thiện Chỉ số PAPI năm 2020",
                                     "subject: [Cải thiện, PAPI]"))
    problem = only(error)
    assert (problem.code, problem.path, problem.line, problem.column) == (
        "wrong-type", "subject", 9, 10)
    assert "cần chuỗi văn bản, nhận danh sách" in problem.vi
    assert "expected text, got a list" in problem.en


def test_wrong_type_of_a_list() -> None:
    error = error_of(MINIMAL.replace("  - name: UBND huyện\n    organ_id: 000.00.05.H38\n",
                                     "  UBND huyện\n"))
    problem = only(error)
    assert (problem.path, problem.line, problem.column) == ("recipients", 18, 3)
    assert "danh sách" in problem.vi


def test_unknown_papi_dimension() -> None:
    error = error_of(MINIMAL.replace("papi: quan-tri-dien-tu", "papi: chinh-phu-so"))
    problem = only(error)
    assert (problem.code, problem.path, problem.line, problem.column) == (
        "papi-dimension", "sections[0].content[0].papi", 14, 15)
    assert "Nội dung PAPI 'chinh-phu-so' không có" in problem.vi
    assert "quan-tri-dien-tu (Quản trị điện tử)" in problem.vi
    assert "unknown PAPI dimension 'chinh-phu-so'" in problem.en


def test_notation_not_matching_the_document_type() -> None:
    error = error_of(MINIMAL.replace("notation: KH-UBND", "notation: BC-UBND"))
    problem = only(error)
    assert (problem.code, problem.path, problem.line, problem.column) == (
        "notation-type", "notation", 7, 11)
    assert "không khớp loại văn bản Kế hoạch" in problem.vi
    assert "must start with 'KH-'" in problem.en


def test_yaml_syntax_error() -> None:
    error = error_of(MINIMAL.replace("subject: Cải thiện Chỉ số PAPI năm 2020",
                                     "subject: Đối với nội dung 1: “Tham gia”\n  - x"))
    assert isinstance(error, YamlSyntaxError)
    problem = only(error)
    assert problem.code == "yaml-syntax"
    assert problem.line == 9
    assert problem.column is not None
    assert "Lỗi cú pháp YAML" in problem.vi
    assert "YAML syntax error" in problem.en


@pytest.mark.parametrize(
    "tagged",
    ["subject: !!int Cải thiện", "subject: !!float x", "subject: !!bool maybe", "!!int subject: x"],
)
def test_a_value_not_of_its_explicit_type_points_at_the_tag(tagged: str) -> None:
    """Found by the fuzzer: ruamel raised a bare ValueError for ``!!int`` on text."""
    error = error_of(MINIMAL.replace("subject: Cải thiện Chỉ số PAPI năm 2020", tagged))
    assert isinstance(error, YamlSyntaxError)
    problem = only(error)
    assert problem.code == "yaml-tag"
    assert problem.line == 9
    assert "!!" in problem.en


def test_unknown_key_points_at_the_key() -> None:
    error = error_of(MINIMAL.replace("  position: CHỦ TỊCH", "  positon: CHỦ TỊCH"))
    codes = {(p.code, p.path, p.line, p.column) for p in error.problems}
    assert ("unknown-field", "signer.positon", 21, 3) in codes
    assert ("missing", "signer.position", 21, 3) in codes
    assert "Trường 'positon' không có trong mẫu" in error.report()


def test_duplicate_key() -> None:
    error = error_of(MINIMAL + "subject: Lần nữa\n")
    assert isinstance(error, YamlSyntaxError)
    problem = only(error)
    assert (problem.code, problem.path, problem.line) == ("duplicate-key", "subject", 23)


def test_every_problem_is_reported_in_document_order() -> None:
    text = (MINIMAL.replace("notation: KH-UBND", "notation: BC-UBND")
            .replace("papi: quan-tri-dien-tu", "papi: nope")
            .replace("date: 2020-06-04", "date: ngày 4 tháng 6"))
    error = error_of(text)
    assert [p.path for p in error.problems] == [
        "notation", "date", "sections[0].content[0].papi"]
    assert len(error.report().splitlines()) == 3
    assert "(và 2 lỗi khác)" in error.vi


def test_bad_organ_id_and_block() -> None:
    text = (MINIMAL.replace("organ_id: 000.00.05.H38", "organ_id: 05.H38")
            .replace("          - Gửi, nhận văn bản điện tử.", "          - {table: 1}"))
    paths = {p.path: p for p in error_of(text).problems}
    assert "Mã định danh '05.H38'" in paths["recipients[0].organ_id"].vi
    assert paths["sections[0].content[0].content[0]"].code == "block-kind"


def test_kind_missing_or_unknown() -> None:
    assert only(error_of(MINIMAL.replace("kind: plan\n", ""))).code == "missing"
    assert only(error_of(MINIMAL.replace("kind: plan", "kind: memo"))).path == "kind"


def test_headings_nest_at_most_three_levels() -> None:
    deep = MINIMAL.replace(
        "          - Gửi, nhận văn bản điện tử.",
        "          - heading: a\n            content:\n              - heading: b\n"
        "                content: [x]")
    problem = only(error_of(deep))
    assert problem.code == "depth"
    assert problem.path == "sections[0].content[0].content[0].content[0]"
    assert problem.line == 18


def test_text_is_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "Cải thiện Chỉ số PAPI năm 2020")
    doc = parse(MINIMAL.replace("Cải thiện Chỉ số PAPI năm 2020", decomposed))
    assert doc.subject == unicodedata.normalize("NFC", decomposed)
    assert doc.subject != decomposed


def test_not_a_mapping_and_empty_file() -> None:
    assert only(error_of("- a\n- b\n")).code == "not-a-mapping"
    assert only(error_of("")).code == "not-a-mapping"


def test_load_names_the_file_and_checks_the_kind(tmp_path: Path) -> None:
    path = tmp_path / "ke-hoach.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert isinstance(load_plan(path), Plan)
    with pytest.raises(ContentError, match="report"):
        load_report(path)
    with pytest.raises(InputError) as info:
        load(tmp_path / "absent.yaml")
    assert "absent.yaml" in str(info.value)
    path.write_bytes("subject: Kế hoạch".encode("utf-16"))
    with pytest.raises(YamlSyntaxError, match="UTF-8"):
        load(path)


def test_report_rules() -> None:
    report = """\
kind: report
issuer: {name: UBND xã Nậm Khánh, organ_id: 000.12.05.H38, place: Nậm Khánh}
notation: KH-UBND
date: 2020-10-05
subject: Báo cáo quý III
period: {label: Quý III năm 2020, start: 2020-09-30, end: 2020-07-01}
reports_on: 000.12.05.H38,2020/06/04,/KH-UBND
results:
  - dimension: cong-khai
  - dimension: cong-khai
    figures: [{label: Tỷ lệ, value: nhiều}]
recipients: [{name: UBND huyện}]
signer: {position: CHỦ TỊCH, name: Nguyễn Văn A}
"""
    codes = {(p.code, p.path) for p in error_of(report).problems}
    assert ("notation-type", "notation") in codes
    assert ("period", "period.end") in codes
    assert ("wrong-type", "results[1].figures[0].value") in codes
    fixed = (report.replace("KH-UBND\n", "BC-UBND\n", 1)
             .replace("start: 2020-09-30, end: 2020-07-01", "start: 2020-07-01, end: 2020-09-30")
             .replace("value: nhiều", "value: 92.5"))
    codes = {(p.code, p.path) for p in error_of(fixed).problems}
    assert codes == {("duplicate-dimension", "results[1].dimension")}
    valid = fixed.replace("  - dimension: cong-khai\n    figures",
                          "  - dimension: giai-trinh\n    figures")
    assert isinstance(parse(valid), Report)
