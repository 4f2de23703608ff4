"""Sheet XML that python-calamine reads differently from the pre-scan (found by a hostile pass):
the scan reads Excel's own way of writing a sheet, calamine reads any well-formed XML. A cell
the scan would misread — a formula error in single quotes or with spaces around ``=``, a
character reference in a cell's attributes, a comment or CDATA section in a cell, SpreadsheetML
elements with a namespace prefix — used to load as an empty cell with exit 0 (a prefixed far
cell aborted the process); a shared-string index that is not a number read as the first shared
text (a header name); a row written twice had its cells overwritten by the second. Each is now a
refusal (exit 2, nothing written, the file named); Excel's own forms of these cells still load.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from facts.excel import read_sheet
from facts.workbook import CellError
from tests.reader_packages import SHEET, formatted_workbook, in_row, rewrite_part, text_cell
from tests.test_hostile_input import FILE_NAME, Contents, good_rows, loaded, refused, seeded  # noqa: F401
from tests.test_reader_package import job

J3 = b'<c r="J3"><v>1000.0</v></c>'  # 期初资产规模 of the second row


def _refused_with_j3(seeded: Contents, tmp_path: Path, cell: bytes) -> str:  # noqa: F811
    """The job's refusal of the usual workbook with its J3 written as ``cell``."""
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    rewrite_part(path, SHEET, lambda xml: xml.replace(J3, cell))
    return refused(seeded, "--file", str(path))


J20 = b'<c r="J20"><v>999</v></c>'


def _prefixed(xml: bytes) -> bytes:
    """The sheet written with a namespace prefix on every element, as the OpenXML SDK can."""
    xml = xml.replace(b"<worksheet xmlns=", b"<x:worksheet xmlns:x=").replace(b"</worksheet>", b"</x:worksheet>")
    return re.sub(rb"<(/?)(sheetData|dimension|row|c|v|f|is|t)\b", rb"<\1x:\2", xml)


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        (b"<c r=\"J3\" t='e'><v>#N/A</v></c>", "single quotes"),
        (b'<c r="J3" t = "e"><v>#N/A</v></c>', "spaces around ="),
        (b'<c r="J3" t="&#101;"><v>#N/A</v></c>', "a character reference"),
        (b'<c r="J3" t="e"><!-- checked --><v>#N/A</v></c>', "a comment"),
        (b'<c r="J3" t="e"><v><![CDATA[#N/A]]></v></c>', "a CDATA section"),
        (b'<c r="J3" t="e"><is><t>#N/A</t></is></c>', "inline text"),  # calamine read the text "#N/A"
    ],
)
def test_an_error_cell_written_unlike_excel_is_refused_not_read_as_empty(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    cell: bytes,
    why: str,
) -> None:
    message = _refused_with_j3(seeded, tmp_path, cell)

    assert FILE_NAME in message and "open the workbook in Excel and save it again" in message, why


def test_a_sheet_with_prefixed_elements_is_refused(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    rewrite_part(path, SHEET, lambda xml: _prefixed(xml.replace(J3, b'<c r="J3" t="e"><v>#N/A</v></c>')))

    message = refused(seeded, "--file", str(path))

    assert "namespace prefix" in message and "open the workbook in Excel and save it again" in message


def test_a_far_cell_in_a_prefixed_sheet_is_refused_not_a_crash(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    subprocess_env: dict[str, str],
) -> None:
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    far = b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
    rewrite_part(path, SHEET, lambda xml: _prefixed(xml.replace(b"</sheetData>", far)))

    code, summary, stderr = job(subprocess_env, path)  # calamine aborted the process (exit -6) before

    assert code == 2, stderr[-2000:]
    assert "namespace prefix" in summary["error"]["message"]


@pytest.mark.parametrize("index", [b"abc", b" 1 ", b"1.0", b"-1", b""])
def test_a_shared_string_index_that_is_not_a_number_is_refused(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    index: bytes,
) -> None:
    message = _refused_with_j3(seeded, tmp_path, b'<c r="J3" t="s"><v>' + index + b"</v></c>")  # read as "月度" before

    assert "cell J3" in message and "shared text" in message and "save it again" in message


def test_a_row_written_twice_is_refused(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    again = b'<row r="3"><c r="J3"><v>999</v></c></row>'
    rewrite_part(path, SHEET, lambda xml: xml.replace(b'<row r="4"', again + b'<row r="4"', 1))

    message = refused(seeded, "--file", str(path))  # J3 read as 999 before

    assert "row 3" in message and "twice" in message


def test_excel_forms_of_these_cells_still_load(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    """Text and formulas holding ``=``, ``'``, ``&`` and ``:``, a hyperlink whose attribute holds
    ``&amp;`` and Excel's ``<xm:f>`` after the cells are no reason to refuse: only cell markup
    written unlike Excel is."""
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    note = b'<c r="E3" t="inlineStr"><is><t xml:space="preserve">a = b &amp; \'c\' x:c </t></is></c>'
    links = b'<hyperlinks><hyperlink ref="A1" display="a &amp; b" location="\'S 1\'!A1"/></hyperlinks>'
    after_rows = (  # what Excel writes after the rows (none is a row or a cell) and before them
        b'<mergeCells count="1"><mergeCell ref="E5:F5"/></mergeCells><conditionalFormatting sqref="J2:J4">'
        b'<cfRule type="cellIs" dxfId="0" priority="1" operator="lessThan"><formula>0</formula></cfRule>'
        b'</conditionalFormatting><cellWatches><cellWatch r="J2"/></cellWatches><rowBreaks count="1" '
        b'manualBreakCount="1"><brk id="3" max="16383" man="1"/></rowBreaks><colBreaks count="1" '
        b'manualBreakCount="1"><brk id="4" max="1048575" man="1"/></colBreaks>'
    )
    before_rows = (
        b'<sheetPr><outlinePr summaryBelow="0"/></sheetPr><dimension ref="A1:W4"/><sheetViews><sheetView '
        b'workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        b'<selection pane="bottomLeft" activeCell="C3" sqref="C3"/></sheetView></sheetViews>'
        b'<sheetFormatPr defaultRowHeight="15"/><cols><col min="1" max="3" width="12" customWidth="1"/></cols>'
    )
    validations = (  # Excel's own prefixed elements, after the cells: a list from another sheet
        b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" xmlns:x14="http://schemas.microsoft.com/'
        b'office/spreadsheetml/2009/9/main"><x14:dataValidations count="1" xmlns:xm="http://schemas.microsoft.com/'
        b'office/excel/2006/main"><x14:dataValidation type="list"><x14:formula1><xm:f>Lists!$A$1:$A$5</xm:f>'
        b"</x14:formula1><xm:sqref>B2:B9</xm:sqref></x14:dataValidation></x14:dataValidations></ext></extLst>"
    )

    def edit(xml: bytes) -> bytes:
        xml = in_row(xml, 3, note)
        xml = xml.replace(J3, b'<c r="J3" s="0" t="str"><f>IF(A3 = 1,"a&amp;b",\'x\'!B2)</f><v>1000</v></c>')
        xml = re.sub(rb"<dimension [^>]*/>", lambda _: before_rows, xml)
        return xml.replace(b"</sheetData>", b"</sheetData>" + after_rows + links).replace(
            b"</worksheet>", validations + b"</worksheet>"
        )

    summary = loaded(rewrite_part(path, SHEET, edit))

    assert summary["rows"]["valid"] == 3


@pytest.mark.parametrize("between", ["", text_cell("X3", "x" * (1200 << 10)).decode()])
def test_a_cell_written_twice_in_its_row_is_refused(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    between: str,  # a 1.2 MiB note: the two cells fall into different blocks of the scan
) -> None:
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    again = between.encode() + b'<c r="J3"><v>999</v></c>'
    rewrite_part(path, SHEET, lambda xml: in_row(xml, 3, again))

    message = refused(seeded, "--file", str(path))  # J3 read as 999 before

    assert "cell J3 twice" in message


# J3 written a second time as calamine still reads it (J3 = 999, or empty), in spellings the check
# of cells written twice did not know for J3: each loaded with exit 0 and the wrong amount before.
SPELLED_AGAIN = [
    (b'<c r="J03"><v>999</v></c>', "a leading zero"),
    (b'<c r="J0000003"><v>999</v></c>', "leading zeros"),
    (b'<c s="0" r="J3"><v>999</v></c>', "r not first"),
    (b'<c\nr="J3"><v>999</v></c>', "a line feed before r"),
    (b'<c\tr="J3"><v>999</v></c>', "a tab before r"),
    (b'<c  r="J3"><v>999</v></c>', "two blanks before r"),
    (b'<c r="J03" t="str"><v></v></c>', "an empty text, which calamine reads over the amount"),
]


@pytest.mark.parametrize(("cell", "why"), SPELLED_AGAIN)
def test_a_cell_written_twice_in_another_spelling_is_refused(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    cell: bytes,
    why: str,
) -> None:
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    rewrite_part(path, SHEET, lambda xml: in_row(xml, 3, cell))

    message = refused(seeded, "--file", str(path))

    assert "cell J3" in message and "unlike Excel" in message and "save it again" in message, why


@pytest.mark.parametrize("between", ["", text_cell("X4", "x" * (1200 << 10)).decode()])
def test_a_cell_written_in_another_rows_element_is_refused(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    between: str,  # a 1.2 MiB note: the two J3 fall into different blocks of the scan
) -> None:
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(4), trailing_blank_rows=0)
    rewrite_part(path, SHEET, lambda xml: in_row(in_row(xml, 4, between.encode()), 5, b'<c r="J3"><v>999</v></c>'))

    message = refused(seeded, "--file", str(path))  # J3 read as 999 before when the two were blocks apart

    assert "writes cell J3 inside row 5" in message and "save it again" in message


@pytest.mark.parametrize(
    ("cell", "what"),
    [
        (b'<c r="J3"><v>1000.0</v><v>999</v></c>', "two values"),  # calamine read 999
        (b'<c r="J3"><v>1000.0</v>\n<v>999</v></c>', "two values"),
        (b'<c r="J3" t="inlineStr"><is><t>1000</t></is><v>999</v></c>', "two values"),  # read as empty
        (b'<c r="J3" t="inlineStr"><is><t>1000</t></is><is><t>999</t></is></c>', "two values"),
        (b'<c r="J3"><v>1000.0</v ><v>999</v></c>', "two values"),  # a blank in the end tag: read 999
        (b'<c r="J3"><v>1000.0</v><f>1+1</f><v>999</v></c>', "two values"),  # past a formula: read 999
        (b'<c r="J3"><v>1000.0</v>\n<f/>\n<v>999</v></c>', "two values"),
        (b'<c r="J3"><v>1000.0</v>x<v>999</v></c>', "two values"),  # past text: read 999
        (b'<c r="J3" t="inlineStr"><is><t>1000</t></is ><v>999</v></c>', "two values"),  # read as empty
        (b'<c r="J3" t="inlineStr"><v>1000</v></c>', "inline text whose content is not its text"),  # read as empty
        (b'<c r="J3" t="inlineStr"><f>1</f><is><t>1000</t></is></c>', "inline text whose content is not its text"),
    ],
)
def test_a_cell_with_two_values_or_inline_text_without_its_text_is_refused(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    cell: bytes,
    what: str,
) -> None:
    message = _refused_with_j3(seeded, tmp_path, cell)

    assert "cell J3" in message and what in message and "save it again" in message


@pytest.mark.parametrize(
    "cell",
    [
        b'<c r="J3" r="J2"><v>999</v></c>',  # calamine wrote 999 over J2's 1,000 and left J3 empty
        b'<c r="J3"\tr="J4"><v>999</v></c>',
    ],
)
def test_a_cell_with_two_references_is_refused(seeded: Contents, tmp_path: Path, cell: bytes) -> None:  # noqa: F811
    message = _refused_with_j3(seeded, tmp_path, cell)

    assert "two references" in message and "save it again" in message


def test_text_that_looks_like_two_references_still_loads(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    note = text_cell("X3", ' r="J2" r="J4"')  # quotes need no escaping in text

    summary = loaded(rewrite_part(path, SHEET, lambda xml: in_row(xml, 3, note)))

    assert summary["rows"]["valid"] == 3


@pytest.mark.parametrize(
    "edit",
    [  # each row 20 with 999 in J20, which calamine left out (openpyxl reads it): exit 0 before
        lambda xml: xml.replace(b"</sheetData>", b'</sheetData><sheetData><row r="20">' + J20 + b"</row></sheetData>"),
        lambda xml: xml.replace(b"</sheetData>", b'</sheetData><row r="20">' + J20 + b"</row>"),
        lambda xml: xml.replace(b"<sheetData>", b'<row r="20">' + J20 + b"</row><sheetData>"),
    ],
    ids=["a second sheetData", "a row after sheetData", "a row before sheetData"],
)
def test_a_row_outside_the_rows_element_is_refused(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    edit: Callable[[bytes], bytes],
) -> None:
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)

    message = refused(seeded, "--file", str(rewrite_part(path, SHEET, edit)))

    assert "outside its rows' element" in message and "save it again" in message


@pytest.mark.parametrize(
    ("cell", "error"),
    [  # each was read as an empty cell before (calamine reads an error value as "", and no mark)
        (b'<c r="J3" t="e"><v>#N/A</v ></c>', CellError("#N/A")),
        (b'<c r="J3" t="e"><f>1/0</f ><v>#DIV/0!</v></c>', CellError("#DIV/0!")),
        (b'<c r="J3"><f>1+1</f ></c>', CellError("=1+1", uncalculated=True)),
    ],
)
def test_an_end_tag_with_a_blank_hides_no_formula_error(tmp_path: Path, cell: bytes, error: CellError) -> None:
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    rewrite_part(path, SHEET, lambda xml: xml.replace(J3, cell))

    rows = dict(read_sheet(path, "规模明细").iter_rows())

    assert rows[3][9] == error


def test_an_indented_inline_text_cell_still_loads(tmp_path: Path) -> None:
    """White space before ``<is>`` (XML written indented, by other tools than Excel) is no inline
    text cell without its text: calamine reads its text; it was refused as read as empty."""
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    rewrite_part(path, SHEET, lambda xml: xml.replace(J3, b'<c r="J3" t="inlineStr">\n  <is><t>1000</t></is>\n</c>'))

    rows = dict(read_sheet(path, "规模明细").iter_rows())

    assert rows[3][9] == "1000"


def test_a_refusal_for_mostly_invalid_rows_quotes_an_error_cell_as_excel_shows_it(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(1), trailing_blank_rows=0)
    rewrite_part(
        path, SHEET, lambda xml: xml.replace(b'<c r="J2"><v>1000.0</v></c>', b'<c r="J2" t="e"><v>#N/A</v></c>')
    )

    message = refused(seeded, "--file", str(path))

    assert "column 期初资产规模: formula error #N/A (value '#N/A')" in message  # was CellError(code='#N/A', …)
