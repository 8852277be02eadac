"""coordlib._io.store_record: one record added to a JSON object on disk, atomically."""

import json

import pytest

from coordlib import _io


def test_records_accumulate_sorted_and_a_key_is_replaced(tmp_path):
    path = tmp_path / "deep" / "runs.json"
    assert _io.store_record(path, "b/1", {"x": 1}) == {"b/1": {"x": 1}}
    path.write_text(json.dumps({"b/1": {"x": 1}, "c/0": {"x": 3}}))  # another run wrote meanwhile
    assert _io.store_record(path, "a/0", {"x": 2}) == {"a/0": {"x": 2}, "b/1": {"x": 1}, "c/0": {"x": 3}}
    _io.store_record(path, "b/1", {"x": 9})
    assert path.read_text() == '{\n "a/0": {\n  "x": 2\n },\n "b/1": {\n  "x": 9\n },\n "c/0": {\n  "x": 3\n }\n}\n'


def test_a_record_that_cannot_be_written_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "runs.json"
    _io.store_record(path, "a", 1)
    before = path.read_text()
    with pytest.raises(TypeError):
        _io.store_record(path, "b", object())
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["runs.json"]
