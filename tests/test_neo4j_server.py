"""The server helpers and the ``cartgraph neo4j`` command, without starting a second server."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from cartgraph.cli.main import main
from cartgraph.errors import ConfigError, ServiceError
from cartgraph.graph import connection, server


def test_status_of_an_empty_home_is_not_running(tmp_path):
    state = server.status(tmp_path)
    assert state["running"] is False and state["uri"] is None


def test_stale_state_files_are_cleared(tmp_path):
    (tmp_path / server.PID_FILE).write_text("999999\n")
    (tmp_path / server.STATE_FILE).write_text(json.dumps({"uri": "bolt://127.0.0.1:1"}))
    assert server.status(tmp_path)["running"] is False
    assert not (tmp_path / server.PID_FILE).exists()
    assert server.stop(tmp_path) is False


def test_cli_status_exit_code_3_when_not_running(tmp_path, capsys):
    assert main(["neo4j", "status", "--home", str(tmp_path), "--uri"]) == 3
    assert main(["neo4j", "stop", "--home", str(tmp_path)]) == 0
    assert "not running" in capsys.readouterr().out


def test_bad_memory_sizes_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="512m"):
        server.start(tmp_path, heap="lots")


def test_server_command_has_the_required_settings(tmp_path):
    cmd = server._command(tmp_path, tmp_path / "lib", 17687, "512m", "256m")
    joined = " ".join(cmd)
    for needle in ("server.bolt.listen_address=127.0.0.1:17687", "dbms.security.auth_enabled=false",
                   "server.http.enabled=false", "db.tx_log.preallocate=false", "dbms.usage_report.enabled=false",
                   "server.memory.pagecache.size=256m", "-Xmx512m", "--add-opens=java.base/java.nio=ALL-UNNAMED",
                   server.ENTRY_POINT):
        assert needle in joined


def test_connection_prefers_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NEO4J_URI", "neo4j://db.example:7687")
    monkeypatch.setenv("NEO4J_USER", "alice")
    monkeypatch.setenv("NEO4J_PASSWORD", "secret")
    conn = connection.resolve(home=tmp_path)
    assert conn.uri == "neo4j://db.example:7687" and conn.auth == ("alice", "secret")
    assert "secret" not in repr(conn)
    monkeypatch.delenv("NEO4J_URI")
    with pytest.raises(ServiceError, match="cartgraph neo4j start"):
        connection.resolve(home=tmp_path)


def test_run_passes_neo4j_uri_through(monkeypatch, tmp_path):
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    out = tmp_path / "seen"
    code = main(["neo4j", "run", "--home", str(tmp_path), "--", sys.executable, "-c",
                 f"import os; open({str(out)!r}, 'w').write(os.environ['NEO4J_URI']); raise SystemExit(5)"])
    assert code == 5 and out.read_text() == "bolt://127.0.0.1:1"
    assert not (tmp_path / server.PID_FILE).exists()  # no server started when NEO4J_URI is set


def test_running_server_answers_when_make_test_started_it():
    if not os.environ.get("NEO4J_URI"):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("NEO4J_URI is not set in CI: 'make test' must start Neo4j")
        pytest.skip("NEO4J_URI is not set")
    driver = connection.connect(connection.resolve())
    try:
        assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1
    finally:
        driver.close()


def test_run_without_home_uses_a_private_throwaway_server(monkeypatch, tmp_path):
    # 'make test' must never share (and clear) a database with a server someone else runs.
    monkeypatch.delenv("NEO4J_URI", raising=False)
    seen = {}

    def fake_start(home, **kw):
        seen["home"] = Path(home)
        assert seen["home"].is_dir() and not any(seen["home"].iterdir())  # fresh and empty
        return {"uri": "bolt://127.0.0.1:7", "started": True}

    monkeypatch.setattr(server, "start", fake_start)
    monkeypatch.setattr(server, "stop", lambda home: seen.setdefault("stopped", Path(home)))
    out = tmp_path / "uri"
    code = main(["neo4j", "run", "--", sys.executable, "-c",
                 f"import os; open({str(out)!r}, 'w').write(os.environ['NEO4J_URI'])"])
    assert code == 0 and out.read_text() == "bolt://127.0.0.1:7"
    assert seen["stopped"] == seen["home"] != server.default_home()
    assert not seen["home"].exists()  # removed afterwards
