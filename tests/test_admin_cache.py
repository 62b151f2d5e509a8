"""The admin code lists are cached on disk per version of `vietnam-provinces` (normalise/admin.py):
the cached tables are the package's own, and a damaged cache file is rebuilt, never trusted."""

from __future__ import annotations

from normalise import admin


def _fresh(monkeypatch, folder) -> admin.AdminTables:
    monkeypatch.setenv("NDC_CACHE_DIR", str(folder))
    admin.admin_tables.cache_clear()
    try:
        return admin.admin_tables()
    finally:
        admin.admin_tables.cache_clear()


def test_the_cache_holds_exactly_what_the_package_gives(tmp_path, monkeypatch):
    built = admin.build_admin_tables()
    first = _fresh(monkeypatch, tmp_path)  # builds and writes the file
    assert list(tmp_path.glob("admin-*.json"))
    second = _fresh(monkeypatch, tmp_path)  # read from the file
    assert first == built and second == built
    assert second.ward_candidates["00001"] == built.ward_candidates["00001"]


def test_a_damaged_cache_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("NDC_CACHE_DIR", str(tmp_path))
    path = admin._cache_path()
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"legacy_provinces": ["99"]')  # cut short
    assert _fresh(monkeypatch, tmp_path) == admin.build_admin_tables()
    assert _fresh(monkeypatch, tmp_path).legacy_provinces != ("99",)
