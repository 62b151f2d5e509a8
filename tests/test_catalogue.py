"""The catalogue loads, and every kind of mistake gets a message naming file, source and field."""

from pathlib import Path

import pytest
import yaml

from catalogue import CatalogueError, load_catalogue, resolve_settings


def edit(path: Path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True))


def problems_of(root: Path, suites: Path) -> list[str]:
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(root, suites)
    return raised.value.problems


def test_the_shipped_catalogue_is_consistent(catalogue_copy):
    catalogue = load_catalogue(*catalogue_copy)
    assert set(catalogue.sources) == {"population", "social_insurance", "business", "civil_status", "welfare"}
    assert len(catalogue.tables) == 10
    assert all(ref.entity.name == ref.table.entity for ref in catalogue.tables)


def test_unknown_canonical_column_names_file_source_and_field(catalogue_copy):
    root, suites = catalogue_copy
    edit(root / "sources/population.yml", lambda d: d["tables"][0]["columns"][2].update(to="ful_name"))
    [problem] = problems_of(root, suites)
    assert "population.yml" in problem and "source 'population'" in problem
    assert "columns[2]" in problem and "'ful_name' is not a column of entity 'citizen'" in problem


def test_unknown_normaliser_and_bad_option(catalogue_copy):
    root, suites = catalogue_copy
    edit(root / "sources/welfare.yml", lambda d: d["tables"][0]["columns"][0].update(parse="nonsense"))
    edit(
        root / "sources/business.yml", lambda d: d["tables"][0]["columns"][2]["options"].update(colour="red")
    )
    problems = problems_of(root, suites)
    assert len(problems) == 2
    assert any("welfare.yml" in p and "parse 'nonsense'" in p for p in problems)
    assert any("business.yml" in p and "colour" in p for p in problems)


def test_wrong_type_is_reported_with_its_location(catalogue_copy):
    root, suites = catalogue_copy
    edit(root / "sources/population.yml", lambda d: d["tables"][0]["columns"][0].update(pii="secret"))
    [problem] = problems_of(root, suites)
    assert "tables[0].columns[0].pii" in problem and "'none', 'basic' or 'sensitive'" in problem


def test_literal_password_in_a_url_is_refused(catalogue_copy):
    root, suites = catalogue_copy
    edit(
        root / "sources/welfare.yml",
        lambda d: d.update(connection={"kind": "postgres", "url": "postgresql://u:hunter2@db/x"}),
    )
    [problem] = problems_of(root, suites)
    assert "literal password" in problem and "hunter2" not in problem


def test_missing_entity_suite_and_unmapped_key(catalogue_copy):
    root, suites = catalogue_copy
    (suites / "citizen.json").unlink()
    edit(root / "sources/business.yml", lambda d: d["tables"][0]["columns"].pop(0))
    problems = problems_of(root, suites)
    assert any("suite 'citizen' has no file" in p for p in problems)
    assert any("primary key column(s) ['enterprise_code']" in p for p in problems)


def test_table_needs_exactly_one_of_table_or_query(catalogue_copy):
    root, suites = catalogue_copy
    edit(root / "sources/business.yml", lambda d: d["tables"][0].update(query="SELECT 1"))
    [problem] = problems_of(root, suites)
    assert "exactly one of 'table'" in problem


def test_invalid_yaml_names_the_file(catalogue_copy):
    root, suites = catalogue_copy
    (root / "sources/broken.yml").write_text("name: [unclosed\n")
    [problem] = problems_of(root, suites)
    assert "broken.yml: not valid YAML" in problem


def test_connection_settings_come_from_the_environment(catalogue_copy):
    root, suites = catalogue_copy
    edit(
        root / "sources/welfare.yml",
        lambda d: d.update(
            connection={"kind": "postgres", "url": "postgresql://etl:${WELFARE_DB_PASSWORD}@db/x"}
        ),
    )
    source = load_catalogue(root, suites).sources["welfare"]
    assert (
        resolve_settings(source, {"WELFARE_DB_PASSWORD": "s3cret"})["url"] == "postgresql://etl:s3cret@db/x"
    )
    with pytest.raises(CatalogueError, match="WELFARE_DB_PASSWORD"):
        resolve_settings(source, {})


def test_defaults_apply_when_the_variable_is_unset(catalogue_copy):
    source = load_catalogue(*catalogue_copy).sources["population"]
    assert source.connection.kind == "sql"
    embedded = resolve_settings(source, {})
    assert embedded["path"] == ".ndc/demo/population.sqlite"
    assert embedded["url"] == ""  # no server URL: the connector falls back to the SQLite path
    assert resolve_settings(source, {"NDC_DEMO_DIR": "/data"})["path"] == "/data/population.sqlite"
    served = resolve_settings(source, {"NDC_POPULATION_URL": "postgresql://ndc:pw@127.0.0.1:5432/population"})
    assert served["url"] == "postgresql://ndc:pw@127.0.0.1:5432/population"
