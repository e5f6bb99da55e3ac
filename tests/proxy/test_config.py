"""Bad proxy configuration gives one clear error naming the file, field and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.proxy.conftest import backend_entry, config_dict
from tokenomy.errors import ConfigError, DataError
from tokenomy.proxy import ProxyService, hash_key, load_config, open_service, parse_config
from tokenomy.proxy.keys import KeyRing


def good(tmp_path: Path) -> dict[str, Any]:
    entry = backend_entry("a", "http://127.0.0.1:9/v1", input_per_million=1.0,
                          output_per_million=2.0, quality=0.5)  # fmt: skip
    return config_dict(tmp_path, [entry])


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("backends", 0, "input_per_million"), -1, "backends.0.input_per_million"),
        (("backends", 0, "base_url"), "ftp://x", "backends.0.base_url"),
        (("backends", 0, "risk"), "extreme", "backends.0.risk"),
        (("backends", 0, "quality"), None, "backends.0.quality"),
        (("keys", 0, "sha256"), "not-a-digest", "keys.0.sha256"),
        (("prices", "value"), -2.0, "prices.value"),
    ],
)
def test_bad_field_names_file_field_and_value(
    tmp_path: Path, path: tuple[Any, ...], value: Any, field: str
) -> None:
    data = good(tmp_path)
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    file = tmp_path / "proxy.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(DataError) as err:
        load_config(file)
    assert err.value.field == field
    assert str(file) in str(err.value)


def test_bad_budget_period_and_duplicates(tmp_path: Path) -> None:
    data = good(tmp_path)
    data["budgets"] = [{"account": "team-a", "limit": 1.0, "period": "fortnight"}]
    with pytest.raises(DataError, match=r"budgets\.0\.period"):
        parse_config(data, "p.yaml")
    data = good(tmp_path)
    data["backends"].append(dict(data["backends"][0]))
    with pytest.raises(DataError, match=r"backends\.1\.name"):
        parse_config(data, "p.yaml")


def test_missing_file_unparseable_yaml_and_missing_key_env(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")
    file = tmp_path / "broken.yaml"
    file.write_text("backends: [\n")
    with pytest.raises(DataError, match="valid YAML"):
        load_config(file)
    with pytest.raises(ConfigError, match="BOB_PROXY_KEY"):
        KeyRing(parse_config(good(tmp_path)), environ={})


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    data = good(tmp_path)
    data["ledger_url"] = "sqlite:///ledger.db"
    data["decision_log"] = "logs/decisions.jsonl"
    file = tmp_path / "proxy.yaml"
    file.write_text(yaml.safe_dump(data))
    config = load_config(file)
    assert config.ledger_url == f"sqlite:///{tmp_path / 'ledger.db'}"
    assert config.decision_log == str(tmp_path / "logs" / "decisions.jsonl")
    with open_service(config, environ={"BOB_PROXY_KEY": "k"}) as service:
        assert isinstance(service, ProxyService)
        assert service.keys.authenticate("Bearer k") is not None
        assert service.keys.authenticate(f"Bearer {hash_key('k')}") is None


def test_cli_command_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from tokenomy.cli_proxy import proxy

    app = typer.Typer()
    app.command()(proxy)
    data = good(tmp_path)
    data["backends"][0]["output_per_million"] = "cheap"
    file = tmp_path / "proxy.yaml"
    file.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["--config", str(file)])
    assert result.exit_code == 2
    assert "backends.0.output_per_million" in result.output
    assert "'cheap'" in result.output
