"""Location: a warehouse location parsed once (remote or local, its folder, children, URI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval_pipeline.storage.location import Location


def test_local_folder_plain_path_and_file_url_are_the_same_folder(tmp_path):
    for given in (str(tmp_path), f"file://{tmp_path}"):
        loc = Location.parse(given)
        assert not loc.is_remote
        assert loc.path == tmp_path
        assert loc.child("reports/history/latest.html") == str(tmp_path / "reports/history/latest.html")
    assert (
        Location.parse(str(tmp_path)).scheme == "" and Location.parse(f"file://{tmp_path}").scheme == "file"
    )
    assert Location.parse(str(tmp_path)).as_uri() == tmp_path.as_uri()
    assert Location.parse(f"file://{tmp_path}/").root == str(tmp_path)


def test_object_store_url_is_remote_and_has_no_local_folder():
    loc = Location.parse("s3://bucket/prefix/")
    assert loc.is_remote and loc.scheme == "s3"
    assert loc.without_scheme == "bucket/prefix/"
    assert loc.child("reports/x.html") == "s3://bucket/prefix/reports/x.html"
    assert loc.as_uri() == "s3://bucket/prefix/"
    assert loc.root == "s3://bucket/prefix"
    with pytest.raises(ValueError, match="object storage"):
        _ = loc.path


def test_a_path_location_accepts_path_objects():
    assert Location.parse(Path("/tmp/wh")).path == Path("/tmp/wh")
