from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_spine.cli import main
from pytest_spine.errors import ConfigError
from pytest_spine.stack.lifecycle import parse_services
from pytest_spine.stack.processes import port_open


def test_services_option_is_validated_and_kept_in_start_order() -> None:
    assert parse_services("toxiproxy,kafka") == ("kafka", "toxiproxy")
    assert parse_services(None) == ("kafka", "s3", "postgres", "toxiproxy")
    with pytest.raises(ConfigError, match=r"--services must be a comma-separated subset of "
                                          r"kafka,s3,postgres,toxiproxy, given: 'kafka,redis'"):
        parse_services("kafka,redis")


def test_status_and_down_of_an_empty_stack_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "status", "--json", "--dir", str(tmp_path)]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status == {"stack_dir": str(tmp_path.resolve()), "up": False, "services": {}, "endpoints": {},
                      "reason": "no stack recorded; run 'spine stack up'"}
    assert main(["stack", "down", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "nothing was running"


def test_bad_services_on_the_command_line_exit_2_with_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "up", "--services", "zookeeper", "--dir", str(tmp_path)]) == 2
    assert "--services must be a comma-separated subset" in capsys.readouterr().err


@pytest.mark.services
@pytest.mark.slow
def test_stack_up_status_down_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "stack"
    try:
        assert main(["stack", "up", "--services", "kafka,s3,toxiproxy", "--dir", str(directory), "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["up"] is True
        assert sorted(status["services"]) == ["kafka", "s3", "toxiproxy"]
        endpoints = status["endpoints"]
        assert sorted(endpoints) == ["ig.base_url", "ig.base_url_proxied", "kafka.bootstrap",
                                     "kafka.bootstrap_proxied", "s3.endpoint_url", "s3.endpoint_url_proxied",
                                     "s3.region", "toxiproxy.api_url"]
        assert all(value.startswith(("127.0.0.1:", "http://127.0.0.1:")) for key, value in endpoints.items()
                   if key != "s3.region")
        assert {name: p["listening"] for name, p in status["proxies"].items()} == \
            {"ig": True, "kafka": True, "s3": True}
        # The broker carries the registry's topic map.
        from confluent_kafka.admin import AdminClient

        metadata = AdminClient({"bootstrap.servers": endpoints["kafka.bootstrap"]}).list_topics(timeout=10)
        assert len(metadata.topics["fp.bus.traffic.fraud.v1"].partitions) == 3
        # A second `up` on a running stack is a no-op that reports the same endpoints.
        assert main(["stack", "up", "--services", "kafka,s3,toxiproxy", "--dir", str(directory), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["endpoints"] == endpoints
        assert main(["stack", "status", "--dir", str(directory)]) == 0
        capsys.readouterr()
    finally:
        assert main(["stack", "down", "--dir", str(directory)]) == 0
    assert capsys.readouterr().out.strip() == "stopped: s3, kafka, toxiproxy"
    assert not port_open(int(endpoints["kafka.bootstrap"].rsplit(":", 1)[1]))
    assert main(["stack", "down", "--dir", str(directory)]) == 0
    assert capsys.readouterr().out.strip() == "nothing was running"
    assert main(["stack", "status", "--dir", str(directory)]) == 1


def test_install_with_a_warm_cache_needs_no_network(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pytest_spine.stack import install

    cache = tmp_path / "cache"
    for marker in (cache / f"kafka-{install.KAFKA_VERSION}" / ".installed",
                   cache / f"toxiproxy-{install.TOXIPROXY_VERSION}" / ".installed",
                   cache / f"toxiproxy-{install.TOXIPROXY_VERSION}" / "bin" / "toxiproxy-server"):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("x")
    monkeypatch.setenv("SPINE_CACHE_DIR", str(cache))
    monkeypatch.setenv("PATH", "/nonexistent")  # neither mvn nor go may be called
    monkeypatch.setattr(install.shutil, "which", lambda name: "/usr/bin/java" if name == "java" else None)
    assert main(["stack", "install"]) == 0
    assert capsys.readouterr().out.strip() == f"installed into {cache}: already cached"


def test_install_without_maven_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_spine.stack import install

    monkeypatch.setenv("SPINE_CACHE_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(install.shutil, "which", lambda name: "/usr/bin/java" if name == "java" else None)
    assert main(["stack", "install"]) == 2
    assert ("'mvn' is not on PATH; it is needed to fetch the Kafka broker from Maven Central. Install it "
            "(e.g. apt-get install maven) and retry") in capsys.readouterr().err
