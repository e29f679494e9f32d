"""The registry's per-operation body settings (max_body_bytes=, csv=CsvBody) are checked at declaration, and the
CSV reader numbers rows as a spreadsheet does."""
from __future__ import annotations

import uuid

import pytest
from pydantic import BaseModel

from shared_lib import registry
from shared_lib.csvfile import CsvError, read_rows
from shared_lib.http import size_text
from shared_lib.registry import CsvBody, RegistryError, Service


class Row(BaseModel):
    name: str
    amount: str | None = None


class Upload(BaseModel):
    owner_id: uuid.UUID
    rows: list[Row]


class UploadQuery(BaseModel):
    owner_id: uuid.UUID | None = None


@pytest.mark.usefixtures("registry_sandbox")
@pytest.mark.parametrize("kwargs, match", [
    ({"csv": CsvBody(rows="rows")}, "need a request model"),
    ({"request": Upload, "max_body_bytes": 0}, "positive number of bytes"),
    ({"request": Upload, "csv": CsvBody(rows="owner_id")}, "list-of-models field"),
    ({"request": Upload, "csv": CsvBody(rows="rows", from_query=("owner_id",))}, "request and query models"),
])
def test_a_body_setting_that_cannot_work_is_refused_at_declaration(kwargs, match):
    fn = Service("svc_body").http("body_fn", "/api/body/")
    with pytest.raises(RegistryError, match=match):
        @fn.post(**kwargs)
        def handler(body):
            return None


@pytest.mark.usefixtures("registry_sandbox")
def test_a_csv_body_and_a_limit_are_declared_on_the_operation():
    fn = Service("svc_body").http("body_ok", "/api/body-ok/")

    @fn.post(request=Upload, query=UploadQuery, max_body_bytes=1 << 20,
             csv=CsvBody(rows="rows", from_query=("owner_id",)))
    def handler(body, query):
        return None

    op = registry.REGISTRY["body_ok"].operations["POST"]
    assert (op.max_body_bytes, op.csv.columns(Upload)) == (1 << 20, frozenset({"name", "amount"}))


def test_rows_are_numbered_as_a_spreadsheet_shows_them():
    numbers, rows = read_rows("\ufeffname , amount\r\nanna,1.00\r\n\r\n\"b, c\",\r\n".encode(), {"name", "amount"})
    assert numbers == [2, 4] and rows == [{"name": "anna", "amount": "1.00"}, {"name": "b, c"}]
    with pytest.raises(CsvError) as exc:
        read_rows(b"name\nok\n\xc3(\n", {"name"})
    assert exc.value.errors == [((3, "name"), "is not UTF-8 text")]


def test_sizes_are_named_in_the_largest_unit_that_divides_them():
    assert [size_text(n) for n in (64 * 1024, 24 << 20, 1000)] == ["64 KiB", "24 MiB", "1000 bytes"]
