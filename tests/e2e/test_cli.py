"""The `invalidator` command line: distributions, keys, invalidations, first start, settings."""

from __future__ import annotations

import json
import re
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from invalidator.settings import Settings, SettingsError, load_settings
from tests.support.commands import invalidator
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess

StartServer = Callable[..., ServerProcess]
_ID_LINE = re.compile(r"^Id:\s+(E[A-Z0-9]+)$", re.MULTILINE)
_KEY = re.compile(r"AWS_ACCESS_KEY_ID=(\S+)\n\s*AWS_SECRET_ACCESS_KEY=(\S+)")


def _batch(paths: list[str], ref: str) -> dict[str, object]:
    return {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": ref}


# -- distributions ---------------------------------------------------------------------------


@pytest.mark.slow
def test_distribution_create_list_show_delete(tmp_path: Path) -> None:
    """create prints the new distribution; list/show find it; a taken alias is refused; delete."""
    data = str(tmp_path / "data")
    made = invalidator(
        "distribution",
        "create",
        "--origin",
        "http://127.0.0.1:9000",
        "--alias",
        "a.example.com",
        "--alias",
        "b.example.com",
        "--tag-header",
        "Cache-Tag",
        "--data-dir",
        data,
    )
    found = _ID_LINE.search(made.stdout)
    assert found, made.stdout
    dist_id = found.group(1)
    assert "a.example.com, b.example.com" in made.stdout
    assert re.search(r"TagHeader:\s+Cache-Tag", made.stdout)

    listed = invalidator("distribution", "list", "--data-dir", data).stdout
    assert dist_id in listed and "http://127.0.0.1:9000" in listed
    shown = invalidator("distribution", "show", dist_id, "--data-dir", data).stdout
    assert _ID_LINE.search(shown) and "a.example.com" in shown and "Cache-Tag" in shown

    taken = invalidator(
        "distribution",
        "create",
        "--origin",
        "http://127.0.0.1:9001",
        "--alias",
        "B.example.com",
        "--data-dir",
        data,
        check=False,
    )
    assert taken.returncode != 0
    assert "CNAMEAlreadyExists" in taken.stderr
    assert "Traceback" not in taken.stderr
    assert (
        invalidator("distribution", "list", "--data-dir", data).stdout.count("http://127.0.0.1:900")
        == 1
    )

    assert (
        f"deleted {dist_id}"
        in invalidator("distribution", "delete", dist_id, "--data-dir", data).stdout
    )
    gone = invalidator("distribution", "show", dist_id, "--data-dir", data, check=False)
    assert gone.returncode != 0 and "NoSuchDistribution" in gone.stderr
    assert dist_id not in invalidator("distribution", "list", "--data-dir", data).stdout


@pytest.mark.slow
def test_running_server_sees_cli_distribution_at_once(start_server: StartServer) -> None:
    """A distribution created by the CLI in the server's store takes invalidations right away."""
    srv = start_server()
    made = invalidator(
        "distribution",
        "create",
        "--origin",
        "http://127.0.0.1:9000",
        "--data-dir",
        str(srv.data_dir),
    )
    found = _ID_LINE.search(made.stdout)
    assert found, made.stdout
    out = srv.client().create_invalidation(
        DistributionId=found.group(1), InvalidationBatch=_batch(["/new"], "cli-dist")
    )
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201


# -- keys ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_keys_create_list_revoke(start_server: StartServer) -> None:
    """create prints the secret once, list never; a revoked key gets InvalidClientTokenId."""
    srv = start_server()
    dist = srv.create_distribution()
    data = str(srv.data_dir)
    made = invalidator("keys", "create", "--description", "ci key", "--data-dir", data).stdout
    found = _KEY.search(made)
    assert found, made
    key_id, secret = found.groups()
    cf = srv.client(key_id=key_id, secret=secret)
    assert cf.list_invalidations(DistributionId=dist.id)["InvalidationList"]["Quantity"] == 0

    listed = invalidator("keys", "list", "--data-dir", data).stdout
    row = next(line for line in listed.splitlines() if line.startswith(key_id))
    assert "active" in row and "ci key" in row
    assert secret not in listed and SECRET_ACCESS_KEY not in listed
    assert ACCESS_KEY_ID in listed

    assert f"revoked {key_id}" in invalidator("keys", "revoke", key_id, "--data-dir", data).stdout
    with pytest.raises(ClientError) as err:
        cf.list_invalidations(DistributionId=dist.id)
    assert err.value.response["Error"]["Code"] == "InvalidClientTokenId"
    listed = invalidator("keys", "list", "--data-dir", data).stdout
    assert "revoked" in next(line for line in listed.splitlines() if line.startswith(key_id))
    unknown = invalidator("keys", "revoke", "AKIANOSUCHKEY", "--data-dir", data, check=False)
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr


def test_a_client_command_never_rewrites_a_stored_key(tmp_path: Path) -> None:
    """`distribution list` signed with a limited key and a stale secret: refused, and the key
    keeps its secret and its scope (it once came out with the stale secret, allowed on all).
    A key for a distribution that does not exist is refused."""
    data = str(tmp_path / "data")
    created = invalidator(
        "distribution", "create", "--origin", "http://127.0.0.1:9000", "--data-dir", data
    )
    only = _ID_LINE.search(created.stdout)
    assert only, created.stdout
    typo = invalidator(
        "keys", "create", "--distribution", "ENOSUCH", "--data-dir", data, check=False
    )
    assert (typo.returncode, typo.stderr.strip()) == (1, "Error: no distribution ENOSUCH")
    made = invalidator(
        "keys", "create", "--distribution", only.group(1), "--description", "ci",
        "--data-dir", data,
    ).stdout  # fmt: skip
    found = _KEY.search(made)
    assert found, made
    key_id, secret = found.groups()
    before = invalidator("keys", "list", "--data-dir", data).stdout
    stale = invalidator(
        "distribution", "list", "--data-dir", data,
        "--access-key-id", key_id, "--secret-access-key", "stale", check=False,
    )  # fmt: skip
    assert stale.returncode != 0 and "SignatureDoesNotMatch" in stale.stderr + stale.stdout
    assert invalidator("keys", "list", "--data-dir", data).stdout == before
    row = next(line for line in before.splitlines() if line.startswith(key_id))
    assert only.group(1) in row and "ci" in row
    ok = invalidator(
        "distribution", "list", "--data-dir", data,
        "--access-key-id", key_id, "--secret-access-key", secret, check=False,
    )  # fmt: skip
    assert "SignatureDoesNotMatch" not in ok.stderr + ok.stdout


@pytest.mark.slow
def test_first_start_prints_a_working_key_once(start_server: StartServer) -> None:
    """An empty store and no configured key: the first start prints a fresh key, later ones not."""
    no_key = {"INVALIDATOR_ACCESS_KEY_ID": "", "INVALIDATOR_SECRET_ACCESS_KEY": ""}
    first = start_server(**no_key)
    found = _KEY.search("".join(first.output))
    assert found, first.output
    key_id, secret = found.groups()
    assert key_id != ACCESS_KEY_ID
    dist = first.create_distribution()
    cf = first.client(key_id=key_id, secret=secret)
    assert cf.list_invalidations(DistributionId=dist.id)["InvalidationList"]["Quantity"] == 0
    assert first.terminate() == 0

    second = start_server(data_dir=first.data_dir, **no_key)
    assert "AWS_SECRET_ACCESS_KEY" not in "".join(second.output)
    assert secret not in "".join(second.output)
    cf = second.client(key_id=key_id, secret=secret)
    assert cf.list_invalidations(DistributionId=dist.id)["InvalidationList"]["Quantity"] == 0


# -- invalidations ---------------------------------------------------------------------------


@pytest.mark.slow
def test_invalidate_wait_then_list_and_show(start_server: StartServer) -> None:
    """`invalidate --wait` prints the id and Completed; `invalidations list|show` find it."""
    srv = start_server()
    dist = srv.create_distribution()
    env = {
        "INVALIDATOR_ENDPOINT_URL": srv.url,
        "INVALIDATOR_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "INVALIDATOR_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }
    out = invalidator(
        "invalidate", dist.id, "/a", "/b c", "--wait", "--timeout", "20", env=env
    ).stdout
    first = out.splitlines()[0].split()
    inv_id = first[0]
    assert re.fullmatch(r"I[A-Z0-9]{13}", inv_id), out
    assert first[1] in ("InProgress", "Completed")
    assert re.search(rf"^{inv_id} Completed", out, re.MULTILINE), out

    listed = invalidator("invalidations", "list", dist.id, env=env).stdout.splitlines()
    assert listed[1].split()[0] == inv_id and listed[1].split()[-1] == "Completed"
    shown = invalidator("invalidations", "show", dist.id, inv_id, env=env).stdout
    assert re.search(rf"Id:\s+{inv_id}", shown)
    assert re.search(r"Status:\s+Completed", shown)
    assert re.search(r"CallerReference:\s+invalidator-cli-", shown)
    assert "Paths:           /a /b c" in shown

    missing = invalidator("invalidate", "ENOPE0000000000", "/a", check=False, env=env)
    assert missing.returncode == 1
    assert "NoSuchDistribution" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_client_commands_find_a_key_in_the_local_store(start_server: StartServer) -> None:
    """Without configured credentials, `invalidations list` signs with a key from --data-dir."""
    srv = start_server()
    dist = srv.create_distribution()
    srv.client().create_invalidation(DistributionId=dist.id, InvalidationBatch=_batch(["/k"], "k"))
    listed = invalidator(
        "invalidations", "list", dist.id, "--data-dir", str(srv.data_dir), "--endpoint-url", srv.url
    ).stdout
    assert len(listed.splitlines()) == 2


# -- settings --------------------------------------------------------------------------------


def test_settings_defaults_without_any_source(tmp_path: Path) -> None:
    """No flags, environment or file: the dataclass defaults."""
    assert load_settings({}, environ={}) == Settings()


def test_settings_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    """A flag beats INVALIDATOR_* which beats the TOML file, which beats the default."""
    conf = tmp_path / "invalidator.toml"
    conf.write_text('port = 1111\nlog_level = "debug"\nhost = "0.0.0.0"\nrate_limit = 2.5\n')
    env = {"INVALIDATOR_PORT": "2222", "INVALIDATOR_LOG_LEVEL": "warning"}
    got = load_settings({"port": 3333, "host": None}, environ=env, config_file=str(conf))
    assert got.port == 3333
    assert got.log_level == "warning"
    assert got.host == "0.0.0.0"
    assert got.rate_limit == 2.5
    assert got.max_batch_paths == Settings().max_batch_paths
    assert load_settings({}, environ=env, config_file=str(conf)).port == 2222
    assert load_settings({}, environ={}, config_file=str(conf)).port == 1111


def test_settings_config_file_from_flag_or_env_and_table(tmp_path: Path) -> None:
    """The file comes from --config or INVALIDATOR_CONFIG; an [invalidator] table also works."""
    conf = tmp_path / "c.toml"
    conf.write_text("[invalidator]\nmax-batch-paths = 10\n")
    assert load_settings({"config": str(conf)}, environ={}).max_batch_paths == 10
    assert load_settings({}, environ={"INVALIDATOR_CONFIG": str(conf)}).max_batch_paths == 10


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("port = ", "cannot read config file"),
        ("prot = 80\n", "unknown setting 'prot'"),
        ('port = "eighty"\n', "setting port: 'eighty' is not a valid int (from config file"),
        ("invalidator = 5\n", "[invalidator] must be a table"),
        ("port = 1\n[invalidator]\nhost = 'h'\n", "both at the top level ('port') and under"),
        ("port = 70000\n", "setting port: 70000 is not a port (0 to 65535"),
        ("lease_seconds = 0\n", "setting lease_seconds: 0.0 must be greater than 0"),
        ("create_wait = -1\n", "setting create_wait: -1.0 must not be negative"),
        ("log_level = 'bogus'\n", "setting log_level: 'bogus' is not a log level"),
        ("port = 8080.9\n", "setting port: 8080.9 is not a valid int"),
        ("port = true\n", "setting port: True is not a valid int"),
        ("max_batch_paths = 10.7\n", "setting max_batch_paths: 10.7 is not a valid int"),
        ("body_timeout = true\n", "setting body_timeout: True is not a valid float"),
        ("body_timeout = nan\n", "setting body_timeout: nan is not a valid float"),
        ("host = ['a', 'b']\n", "setting host: ['a', 'b'] is not a valid str"),
        ("data_dir = { x = 1 }\n", "setting data_dir: {'x': 1} is not a valid str"),
        ("data_dir = 42\n", "setting data_dir: 42 is not a valid str"),
    ],
)
def test_settings_bad_config_file(tmp_path: Path, content: str, message: str) -> None:
    """Unparsable TOML, unknown keys and wrong types raise SettingsError naming the problem."""
    conf = tmp_path / "bad.toml"
    conf.write_text(content)
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings({}, environ={}, config_file=str(conf))


@pytest.mark.parametrize(
    ("file", "env", "message"),
    [
        ("port = true\n", {}, "setting port: True is not a valid int (from config file"),
        ("port = 99999\n", {}, "setting port: 99999 is not a port (0 to 65535"),
        ("", {"INVALIDATOR_PORT": "abc"}, "port: 'abc' is not a valid int (from INVALIDATOR_PORT)"),
        ("", {"INVALIDATOR_PORT": "-5"}, "setting port: -5 is not a port"),
    ],
)  # fmt: skip
def test_settings_a_bad_value_is_refused_also_when_overridden(
    tmp_path: Path, file: str, env: dict[str, str], message: str
) -> None:
    """A broken file or environment value is reported now, though a flag overrides it: it
    would break the first run without that flag."""
    conf = tmp_path / "overridden.toml"
    conf.write_text(file)
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings({"port": 0}, environ=env, config_file=str(conf))


def test_settings_config_file_typed_values(tmp_path: Path) -> None:
    """A file's numbers of the right kind, and quoted numbers, are read (an int is a float)."""
    conf = tmp_path / "ok.toml"
    conf.write_text("port = 9000\nbody_timeout = 3\nlease_seconds = '2.5'\nedge_port = '0'\n")
    settings = load_settings({}, environ={}, config_file=str(conf))
    assert (settings.port, settings.body_timeout, settings.lease_seconds) == (9000, 3.0, 2.5)
    assert settings.edge_port == 0 and isinstance(settings.body_timeout, float)


def test_settings_config_file_not_utf8(tmp_path: Path) -> None:
    """A config file that is not UTF-8 is a SettingsError, not a UnicodeDecodeError."""
    conf = tmp_path / "binary.toml"
    conf.write_bytes(b"\xff\xfe port = 1\n")
    with pytest.raises(SettingsError, match="cannot read config file"):
        load_settings({}, environ={}, config_file=str(conf))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INVALIDATOR_PORT": "-5"}, "setting port: -5 is not a port"),
        ({"INVALIDATOR_EDGE_PORT": "-2"}, "setting edge_port: -2 is not a port"),
        ({"INVALIDATOR_HEARTBEAT_SECONDS": "nan"}, "heartbeat_seconds: 'nan' is not a valid float"),
        ({"INVALIDATOR_ORIGIN_TIMEOUT": "inf"}, "origin_timeout: 'inf' is not a valid float"),
        ({"INVALIDATOR_PORT": "8080.5"}, "setting port: '8080.5' is not a valid int"),
        ({"INVALIDATOR_PUBLIC_URL": "not a url"}, "setting public_url: 'not a url' is not an"),
        ({"INVALIDATOR_PUBLIC_URL": "ftp://x.example"}, "public_url: 'ftp://x.example' is not"),
    ],
)
def test_settings_out_of_range(env: dict[str, str], message: str) -> None:
    """Values of the right type that cannot work are refused, naming the variable."""
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings({}, environ=env)
    assert load_settings({}, environ={"INVALIDATOR_EDGE_PORT": "-1"}).edge_port == -1


def test_settings_bad_environment_value() -> None:
    """A non-numeric INVALIDATOR_PORT is a SettingsError naming the variable, not a ValueError."""
    with pytest.raises(SettingsError, match=r"'http' is not a valid int \(from INVALIDATOR_PORT\)"):
        load_settings({}, environ={"INVALIDATOR_PORT": "http"})


@pytest.mark.slow
def test_serve_applies_flag_env_and_file_layers(start_server: StartServer, tmp_path: Path) -> None:
    """In a real `serve`: --public-url beats the file; INVALIDATOR_MAX_BATCH_PATHS beats it too."""
    conf = tmp_path / "serve.toml"
    conf.write_text('public_url = "http://from-file.example"\nmax_batch_paths = 2\n')
    srv = start_server(
        args=["--config", str(conf), "--public-url", "http://from-flag.example"],
        INVALIDATOR_MAX_BATCH_PATHS="3",
    )
    dist = srv.create_distribution()
    cf = srv.client()
    out = cf.create_invalidation(
        DistributionId=dist.id, InvalidationBatch=_batch(["/1", "/2", "/3"], "l")
    )
    assert out["Location"].startswith("http://from-flag.example/2020-05-31/distribution/")
    with pytest.raises(ClientError) as err:
        cf.create_invalidation(
            DistributionId=dist.id, InvalidationBatch=_batch(["/1", "/2", "/3", "/4"], "m")
        )
    assert err.value.response["Error"]["Code"] == "BatchTooLarge"


@pytest.mark.slow
@pytest.mark.parametrize(
    "content",
    ["port = [", "colour = 'blue'\n", "max_batch_paths = 'x'\n", "port = true\n", None],
)
def test_serve_with_bad_config_is_a_usage_error(tmp_path: Path, content: str | None) -> None:
    """A broken, unknown-key, mistyped or missing config file: exit 2 and a one-line error;
    also for a value the `--port` flag overrides (`port = true`)."""
    conf = tmp_path / "bad.toml"
    if content is not None:
        conf.write_text(content)
    done = invalidator(
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "d"),
        "--config",
        str(conf),
        check=False,
        timeout=15,
    )
    assert done.returncode == 2
    assert "Error:" in done.stderr and str(conf) in done.stderr
    assert "Traceback" not in done.stderr
    assert "listening" not in done.stdout


# -- shutdown --------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_right_after_listening_stops_cleanly(start_server: StartServer) -> None:
    """SIGTERM the moment `serve` and `edge` print their listening lines: both exit 0."""
    from tests.support.edge_process import EdgeProcess

    srv = start_server()
    edge = EdgeProcess(srv.url).spawn().wait_ready()
    assert edge.terminate() == 0, edge.output
    assert srv.terminate() == 0, srv.output
    again = start_server(data_dir=srv.data_dir)
    assert again.terminate() == 0, again.output


@pytest.mark.slow
def test_sighup_stops_serve_gracefully_and_a_second_signal_does_not_wait(
    start_server: StartServer,
) -> None:
    """SIGHUP stops `serve` as SIGTERM does, waiting for a request in flight (a body still
    arriving); a second signal stops it at once, exit 0, no traceback (SIGHUP once killed it
    with status 129, and further signals were ignored)."""
    import time

    srv = start_server()
    assert srv.proc is not None
    host, port = srv.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as trickle:
        trickle.sendall(
            b"POST /2020-05-31/distribution/EX/invalidation HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 100\r\n\r\n<Inv"
        )
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert srv.proc.poll() is None  # waiting for the request in flight
        started = time.monotonic()
        srv.proc.send_signal(signal.SIGHUP)
        assert srv.proc.wait(10) == 0
        assert time.monotonic() - started < 5
    time.sleep(0.2)
    logged = "\n".join(srv.output)
    assert "Traceback" not in logged
    assert "stopping now" in logged


@pytest.mark.slow
def test_under_nohup_a_hang_up_does_not_stop_serve(tmp_path: Path) -> None:
    """Started with SIGHUP ignored (`nohup`), serve keeps it ignored: a hang-up leaves it
    running; SIGTERM still stops it."""
    import subprocess
    import sys
    import time

    from tests.support.server import server_env

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # inherited by the child
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "invalidator", "serve", "--port", "0", "--edge-port", "-1",
             "--data-dir", str(tmp_path / "d")],
            env=server_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGHUP, previous)
    try:
        assert proc.stdout is not None
        assert "listening" in proc.stdout.readline()
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_sigterm_stops_an_edge_still_trying_to_register() -> None:
    """An edge whose control plane does not answer retries registering, and still stops on
    SIGTERM with exit 0 (it once ignored every signal until SIGKILL)."""
    import time

    from tests.support.edge_process import EdgeProcess

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    edge = EdgeProcess(nowhere).spawn().wait_ready()
    time.sleep(1.0)
    assert any("registration failed; retrying" in line for line in edge.output)
    waiting = httpx.get(edge.url + "/page", headers={"host": "any.example"}, timeout=5)
    assert waiting.status_code == 503  # not 404: it does not know yet which hosts it serves
    assert "has not reached its control plane" in waiting.text
    started = time.monotonic()
    assert edge.terminate() == 0, edge.output
    assert time.monotonic() - started < 3


@pytest.mark.slow
@pytest.mark.parametrize("which", ["--port", "--edge-port"])
def test_serve_on_a_taken_port_is_one_clear_line(tmp_path: Path, which: str) -> None:
    """A port in use (API or edge): exit status 1, the cause and one `Error:` line, no
    traceback (uvicorn's SystemExit once escaped the event loop)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        ports = {"--port": "0", "--edge-port": "0", which: port}
        done = invalidator(
            "serve", "--data-dir", str(tmp_path / "d"), *[x for kv in ports.items() for x in kv],
            check=False, timeout=20,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "address already in use" in done.stderr
    cause = next(line for line in done.stderr.splitlines() if "address already in use" in line)
    assert json.loads(cause)["level"] == "error"  # a JSON line, as every log record
    label = "API" if which == "--port" else "edge"
    failed = f"Error: invalidator {label} failed to start: cannot listen on 127.0.0.1:{port}: "
    error_line = next(line for line in done.stderr.splitlines() if line.startswith(failed))
    assert "address already in use" in error_line  # the cause on the one line
    assert "Traceback" not in done.stderr + done.stdout


def test_edge_refuses_a_listen_port_above_65535() -> None:
    """`--listen HOST:70000` is a usage error (it listened on 70000 - 65536 = 4464)."""
    done = invalidator(
        "edge", "--control-plane", "http://127.0.0.1:9", "--listen", "127.0.0.1:70000",
        "--access-key-id", ACCESS_KEY_ID, "--secret-access-key", SECRET_ACCESS_KEY,
        check=False, timeout=15,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--listen must be HOST:PORT with a port from 0 to 65535" in done.stderr
    assert "listening" not in done.stdout


def test_serve_logs_serving_and_stopped_as_json(start_server: StartServer) -> None:
    """Besides the plain listening lines, `serve` logs a JSON `serving` line (version, ports,
    data dir) when it is up and a `stopped` line when the store is closed."""
    import time

    from invalidator import __version__

    srv = start_server(INVALIDATOR_LOG_LEVEL="info")
    assert srv.terminate() == 0
    time.sleep(0.2)
    records = [json.loads(line) for line in srv.output if line.startswith("{")]
    (serving,) = [r for r in records if r["message"] == "serving"]
    assert serving["version"] == __version__
    assert serving["api_port"] == int(srv.url.rsplit(":", 1)[1])
    assert serving["edge_port"] == int(srv.edge_url.rsplit(":", 1)[1])
    assert serving["data_dir"] == str(srv.data_dir)
    assert any(r["message"] == "stopped: the store is flushed and closed" for r in records)
