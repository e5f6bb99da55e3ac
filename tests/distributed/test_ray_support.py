"""The Ray entry point: a local instance runs tasks; without Ray the error says how to install."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_local_instance_runs_tasks(ray_local: object) -> None:
    import ray

    @ray.remote
    def square(x: int) -> int:
        return x * x

    assert ray.get([square.remote(i) for i in range(5)]) == [0, 1, 4, 9, 16]


def test_missing_ray_names_the_option_and_the_install_command() -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from tokenomy.ray_support import require_ray\n"
        "from tokenomy.errors import ConfigError\n"
        "try:\n    require_ray('--executor ray')\n"
        "except ConfigError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--executor ray needs Ray" in out.stdout
    assert "pip install 'tokenomy[ray]'" in out.stdout


@pytest.mark.parametrize("address", ["127.0.0.1:1", "nohost"])
def test_unreachable_address_is_a_config_error(address: str) -> None:
    code = (
        "from tokenomy.ray_support import ray_session\n"
        "from tokenomy.errors import ConfigError\n"
        f"try:\n    with ray_session({address!r}): pass\n"
        "except ConfigError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "ERR --address: " in out.stdout
    assert address in out.stdout
