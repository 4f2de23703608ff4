"""Configuration files are read within limits (issue 9 item 12): mapping files only from the
configuration's folder (or WDH_MAPPINGS_DIR), only regular files of bounded size, no repeated
YAML key anywhere, and no file content in any message."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from wdh.config import load_config
from wdh.config_files import MAX_CONFIG_FILE_BYTES
from wdh.errors import ConfigError

SHIPPED = Path(settings.BASE_DIR) / "wdh"
DOMAIN = "domains.annuity_performance"
SECRET = "s3cr3t-first-line-of-a-private-file"


def config_copy(folder: Path) -> Path:
    """The shipped configuration and its mapping files, copied into ``folder``."""
    shutil.copytree(SHIPPED / "mappings", folder / "mappings")
    path = folder / "data_sources.yml"
    shutil.copy(SHIPPED / "data_sources.yml", path)
    return path


def point_mapping(config: Path, target: str) -> None:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["domains"]["annuity_performance"]["mappings"]["branch_overrides"] = target
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def load_error(config: Path, **kwargs: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(config, data_base_dir=config.parent, **kwargs)
    return caught.value


def test_the_copied_configuration_loads(tmp_path: Path) -> None:
    config = load_config(config_copy(tmp_path), data_base_dir=tmp_path)
    assert config.domain("annuity_performance").mappings.business_type_code


def test_a_mapping_file_outside_the_configuration_folder_is_refused_unread(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "private.yml"
    outside.parent.mkdir()
    outside.write_text(f"{SECRET}: x\n", encoding="utf-8")
    config = config_copy(tmp_path / "conf")
    point_mapping(config, str(outside))
    error = load_error(config)
    assert error.path == f"{DOMAIN}.mappings.branch_overrides"
    assert "outside the folders mapping files may come from" in error.problem
    assert SECRET not in str(error)


def test_a_relative_path_climbing_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "private.yml").write_text(f"{SECRET}: x\n", encoding="utf-8")
    config = config_copy(tmp_path / "conf")
    point_mapping(config, "../private.yml")
    assert "outside the folders" in load_error(config).problem


def test_a_symbolic_link_to_a_device_is_refused(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    (tmp_path / "mappings" / "zero.yml").symlink_to("/dev/zero")
    point_mapping(config, "mappings/zero.yml")
    assert "outside the folders" in load_error(config).problem


def test_an_explicit_mappings_folder_is_allowed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "branches.yml").write_text("北京分公司: G99\n", encoding="utf-8")
    config = config_copy(tmp_path / "conf")
    point_mapping(config, str(shared / "branches.yml"))
    assert "outside the folders" in load_error(config).problem
    loaded = load_config(config, data_base_dir=tmp_path, mappings_dir=shared)
    assert dict(loaded.domain("annuity_performance").mappings.branch_overrides) == {"北京分公司": "G99"}


def test_a_device_inside_an_allowed_folder_is_not_a_regular_file(tmp_path: Path) -> None:
    config = config_copy(tmp_path / "conf")
    point_mapping(config, "/dev/null")
    error = load_error(config, mappings_dir=Path("/dev"))
    assert "is a character device, not a regular file" in error.problem


def test_a_directory_is_not_a_regular_file(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    point_mapping(config, "mappings")
    assert "is a directory, not a regular file" in load_error(config).problem


def test_an_oversized_mapping_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    huge = tmp_path / "mappings" / "huge.yml"
    with huge.open("wb") as handle:
        handle.truncate(MAX_CONFIG_FILE_BYTES + 1)  # sparse: no disk used
    point_mapping(config, "mappings/huge.yml")
    assert "is larger than 16 MiB" in load_error(config).problem


def test_a_fifo_mapping_file_is_refused_at_once_in_a_real_process(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    os.mkfifo(tmp_path / "mappings" / "pipe.yml")
    point_mapping(config, "mappings/pipe.yml")
    env = {**os.environ, "WDH_DATA_SOURCES": str(config)}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"{DOMAIN}.mappings.branch_overrides" in done.stderr
    assert "is a named pipe (FIFO), not a regular file" in done.stderr


def test_mapping_messages_name_lines_never_content(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    (tmp_path / "mappings" / "branch_overrides.yml").write_text(
        f"北京分公司: G01\n{SECRET}: [1, 2]\n", encoding="utf-8"
    )
    error = load_error(config)
    assert error.path == f"{DOMAIN}.mappings.branch_overrides"
    assert "line 2: the value is list, not text" in error.problem
    assert SECRET not in str(error)


def test_a_mapping_file_that_is_not_a_mapping_says_so_without_content(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    (tmp_path / "mappings" / "branch_overrides.yml").write_text(f"{SECRET}:x:0:0\n", encoding="utf-8")
    error = load_error(config)
    assert "must be a mapping of text to text, got str" in error.problem
    assert SECRET not in str(error)


def test_invalid_yaml_in_a_mapping_file_gives_the_place_not_the_excerpt(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    (tmp_path / "mappings" / "branch_overrides.yml").write_text(f"a: b\n{SECRET}: [unclosed\n", encoding="utf-8")
    error = load_error(config)
    assert "invalid YAML: line 3" in error.problem
    assert SECRET not in str(error)


def test_a_repeated_key_in_the_configuration_names_its_key_path(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    text = config.read_text(encoding="utf-8").replace(
        "    sheet: 规模明细\n", "    sheet: 规模明细\n    sheet: Sheet1\n"
    )
    config.write_text(text, encoding="utf-8")
    line = text.splitlines().index("    sheet: 规模明细") + 1  # 1-based, as an editor shows it
    error = load_error(config)
    assert error.path == f"{DOMAIN}.sheet"
    assert f"key is given twice (lines {line} and {line + 1})" in error.problem


def test_a_repeated_nested_key_names_the_full_path(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    text = config.read_text(encoding="utf-8").replace(
        "计划全称: {from: 计划名称, agg: first}", "计划全称: {from: 计划名称, agg: first, agg: max_by}"
    )
    config.write_text(text, encoding="utf-8")
    assert load_error(config).path == f"{DOMAIN}.refs.plans.columns.计划全称.agg"


def test_a_repeated_key_in_a_mapping_file_names_lines_not_the_key(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    (tmp_path / "mappings" / "branch_overrides.yml").write_text(
        f"{SECRET}: G01\nother: G02\n{SECRET}: G03\n", encoding="utf-8"
    )
    error = load_error(config)
    assert error.path == f"{DOMAIN}.mappings.branch_overrides"
    assert "key is given twice (lines 1 and 3)" in error.problem
    assert SECRET not in str(error)


def test_keys_equal_as_text_count_as_repeated(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    (tmp_path / "mappings" / "branch_overrides.yml").write_text('1: G01\n"1": G02\n', encoding="utf-8")
    assert "key is given twice (lines 1 and 2)" in load_error(config).problem


def test_the_configuration_file_itself_must_be_a_regular_file(tmp_path: Path) -> None:
    error = load_error(tmp_path)  # a directory
    assert error.path == "(file)" and "is a directory, not a regular file" in error.problem


def test_a_deeply_nested_mapping_file_is_refused_not_a_crash(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    (tmp_path / "mappings" / "branch_overrides.yml").write_text("[" * 100_000, encoding="utf-8")
    assert "is nested too deeply" in load_error(config).problem
