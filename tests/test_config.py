"""config.toml: round trip, safe writes, located errors, and secrets kept out of files and messages."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tui.config import (
    Config,
    ConfigError,
    SecretError,
    Settings,
    default_config_path,
    dump_config,
    load_config,
    permission_warning,
    resolve_config_path,
    resolve_secret,
    save_config,
    validate_connection,
)
from tui.models import Connection

GOOD_CONNECTION = """\
vendor = "sepm"
url = "https://sepm.example.internal:8446"
username = "api-reader"
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sample_config(path: Path | None, ca_bundle: Path) -> Config:
    return Config(
        path=path,
        settings=Settings(theme="nord", clipboard="osc52"),
        connections={
            "prod-sepm": Connection(
                name="prod-sepm",
                vendor="sepm",
                url="https://sepm.example.internal:8446",
                username="api-reader",
                domain="Default",
                password_env="SEPM_PASSWORD",
                verify=str(ca_bundle),
            ),
            "lab.box": Connection(
                name="lab.box",
                vendor="sepm",
                url="http://10.0.0.5:8446/",
                username="admin",
                password_command="pass show lab",
                verify=False,
                allow_http=True,
                read_only=False,
            ),
            "a_first": Connection(name="a_first", vendor="sepm", url="https://a", username="u"),
        },
    )


@pytest.fixture
def ca_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    return bundle


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


# --- round trip and loading ---------------------------------------------------------------


def test_dump_then_load_round_trips_in_file_order(tmp_path: Path, ca_bundle: Path) -> None:
    config = sample_config(tmp_path / "config.toml", ca_bundle)
    config.path.write_text(dump_config(config))

    loaded = load_config(config.path)

    assert loaded == config
    assert list(loaded.connections) == ["prod-sepm", "lab.box", "a_first"]


def test_save_then_load_round_trips(tmp_path: Path, ca_bundle: Path) -> None:
    config = sample_config(tmp_path / "sub" / "config.toml", ca_bundle)
    save_config(config)
    assert load_config(config.path) == config


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert load_config(path) == Config(path=path)


def test_example_from_design_loads(tmp_path: Path, ca_bundle: Path) -> None:
    path = write_config(
        tmp_path,
        f"""\
[settings]
theme = "textual-dark"
clipboard = "auto"

[connections.prod-sepm]
{GOOD_CONNECTION}password_env = "SEPM_PASSWORD"
verify = "{ca_bundle}"
read_only = true
""",
    )
    conn = load_config(path).connections["prod-sepm"]
    assert (conn.name, conn.password_env, conn.verify, conn.read_only) == (
        "prod-sepm",
        "SEPM_PASSWORD",
        str(ca_bundle),
        True,
    )


def test_dump_always_writes_read_only_and_omits_defaults() -> None:
    conn = Connection(name="p", vendor="sepm", url="https://h", username="u")
    table = tomllib.loads(dump_config(Config(path=None, connections={"p": conn})))["connections"]["p"]
    assert table == {"vendor": "sepm", "url": "https://h", "username": "u", "read_only": True}


# --- atomic, private writes -----------------------------------------------------------------


def test_save_is_atomic_private_and_keeps_a_backup(tmp_path: Path, ca_bundle: Path) -> None:
    directory = tmp_path / "endpoint-explorer"
    config = sample_config(directory / "config.toml", ca_bundle)
    save_config(config)
    first = config.path.read_bytes()

    config.settings.theme = "gruvbox"
    save_config(config)

    backup = directory / "config.toml.bak"
    assert sorted(p.name for p in directory.iterdir()) == ["config.toml", "config.toml.bak", "config.toml.lock"]
    assert backup.read_bytes() == first
    assert config.path.read_bytes() != first
    assert mode(config.path) == 0o600
    assert mode(backup) == 0o600
    assert mode(directory) == 0o700


def test_failed_save_removes_temp_file_and_keeps_old_file(
    tmp_path: Path, ca_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sample_config(tmp_path / "config.toml", ca_bundle)
    save_config(config)
    before = config.path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    config.settings.theme = "gruvbox"
    with pytest.raises(OSError):
        save_config(config)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "config.toml.lock", "corp-ca.pem"]
    assert config.path.read_bytes() == before


def test_save_fsyncs_file_and_directory(
    tmp_path: Path, ca_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced_directory: list[bool] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced_directory.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    save_config(sample_config(tmp_path / "config.toml", ca_bundle))
    assert synced_directory == [False, True]


def test_in_memory_config_is_never_saved(ca_bundle: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        save_config(sample_config(None, ca_bundle))
    assert "in memory" in caught.value.reason


# --- errors located by path, line and key --------------------------------------------------


def test_corrupt_toml_is_reported_with_line_and_never_overwritten(tmp_path: Path) -> None:
    text = '[settings]\ntheme = "nord"\nclipboard = \n'
    path = write_config(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.path, caught.value.line) == (path, 3)
    assert str(caught.value).startswith(f"{path}, line 3: ")

    with pytest.raises(ConfigError):
        save_config(Config(path=path))
    assert path.read_bytes() == text.encode()
    assert not (tmp_path / "config.toml.bak").exists()


def test_bad_ca_bundle_reported_with_key_and_line(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        f'[settings]\ntheme = "nord"\n\n[connections.prod]\n{GOOD_CONNECTION}verify = "/nope/ca.pem"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}, line 8, key connections.prod.verify: CA bundle /nope/ca.pem does not exist"
    )
    assert (caught.value.line, caught.value.key) == (8, "connections.prod.verify")


def test_invalid_file_is_not_overwritten(tmp_path: Path) -> None:
    text = f'[connections.prod]\n{GOOD_CONNECTION}verify = "/nope/ca.pem"\n'
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        save_config(Config(path=path))
    assert caught.value.reason.endswith("it was not overwritten")
    assert path.read_text() == text


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('colour = "red"\n[settings]\ntheme = "nord"\n', "colour", 1),
        ('[settings]\ntheme = "nord"\ncolour = "red"\n', "settings.colour", 3),
        (f'[settings]\n\n[connections.prod]\n{GOOD_CONNECTION}colour = "red"\n', "connections.prod.colour", 7),
        (f'[connections."lab box"]\n{GOOD_CONNECTION}colour = "red"\n', 'connections."lab box".colour', 5),
    ],
)
def test_unknown_key_rejected_with_key_and_line(tmp_path: Path, text: str, key: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text))
    assert caught.value.reason.startswith("unknown key")
    assert (caught.value.key, caught.value.line) == (key, line)


@pytest.mark.parametrize(
    ("body", "key", "reason"),
    [
        (GOOD_CONNECTION + 'read_only = "yes"', "connections.prod.read_only", "must be true or false"),
        (GOOD_CONNECTION + "verify = 1", "connections.prod.verify", "must be true, false or the path"),
        ('vendor = "sepm"\nurl = "http://h"\nusername = "u"', "connections.prod.url", "use https, or tick"),
    ],
)
def test_wrong_values_rejected(tmp_path: Path, body: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, f"[connections.prod]\n{body}\n"))
    assert caught.value.reason.startswith(reason)
    assert caught.value.key == key


def test_unknown_clipboard_mode_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, '[settings]\nclipboard = "xclip"\n'))
    assert (caught.value.key, caught.value.line) == ("settings.clipboard", 2)
    assert caught.value.reason == "must be one of auto, osc52, off"


def test_request_timeout_is_read_and_defaults_to_two_minutes(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, "[settings]\nrequest_timeout = 2.5\n")).settings.request_timeout == 2.5
    assert load_config(write_config(tmp_path, "[settings]\n")).settings.request_timeout == 120


@pytest.mark.parametrize(
    ("value", "reason"),
    [("0", "must be a positive number of seconds"), ("-3", "must be a positive number of seconds"),
     ("inf", "must be a positive number of seconds"), ("nan", "must be a positive number of seconds"),
     ('"60"', "must be a number of seconds"), ("true", "must be a number of seconds")],
)
def test_request_timeout_must_be_a_positive_number(tmp_path: Path, value: str, reason: str) -> None:
    path = write_config(tmp_path, f'[settings]\ntheme = "nord"\nrequest_timeout = {value}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.key, caught.value.line, caught.value.reason) == ("settings.request_timeout", 3, reason)
    assert str(caught.value).startswith(f"{path}, line 3, key settings.request_timeout: ")


def test_a_password_in_a_file_others_may_read_is_warned_about_as_ssh_does(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'[connections.prod]\n{GOOD_CONNECTION}password = "s3cret-value"\n')
    path.chmod(0o644)
    warning = permission_warning(load_config(path))
    assert warning is not None
    assert str(path) in warning and "mode 0644" in warning and warning.endswith(f"chmod 600 {path}")
    assert "s3cret-value" not in warning
    path.chmod(0o640)
    assert "mode 0640" in (permission_warning(load_config(path)) or "")
    path.chmod(0o600)
    assert permission_warning(load_config(path)) is None


def test_a_readable_file_without_a_password_is_no_concern(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'[connections.prod]\n{GOOD_CONNECTION}password_env = "SEPM_PASSWORD"\n')
    path.chmod(0o644)
    assert permission_warning(load_config(path)) is None
    assert permission_warning(Config(path=None, connections={"d": Connection(
        name="d", vendor="sepm", url="https://h", username="u", password="x")})) is None


def test_missing_required_key_points_at_table_header(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[settings]\n\n[connections.prod]\nvendor = "sepm"\nusername = "u"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.reason == "required key is missing"
    assert (caught.value.key, caught.value.line) == ("connections.prod.url", 3)


def test_config_error_never_shows_a_saved_password(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, f'[connections.prod]\n{GOOD_CONNECTION}password = "hunter2"\npassword_env = "X"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "connections.prod.password_env"
    assert "hunter2" not in str(caught.value)


# --- secrets in the file --------------------------------------------------------------------


def test_password_written_only_when_saved(tmp_path: Path) -> None:
    conn = Connection(name="p", vendor="sepm", url="https://h", username="u", password_env="P")
    config = Config(path=tmp_path / "config.toml", connections={"p": conn})
    save_config(config)
    assert "password" not in tomllib.loads(config.path.read_text())["connections"]["p"]

    conn.password_env = None
    conn.password = "hunter2"
    save_config(config)
    assert tomllib.loads(config.path.read_text())["connections"]["p"]["password"] == "hunter2"
    assert load_config(config.path).connections["p"].password == "hunter2"


# --- validate_connection (the form's messages) --------------------------------------------


def connection(**changes: object) -> Connection:
    values: dict = {"name": "prod", "vendor": "sepm", "url": "https://h:8446", "username": "u"}
    return Connection(**(values | changes))


def test_valid_connection_has_no_errors(ca_bundle: Path) -> None:
    assert validate_connection(connection(verify=str(ca_bundle), password_env="X"), others=["lab"]) == {}
    assert validate_connection(connection(url="http://h", allow_http=True)) == {}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "name is required"),
        ({"name": "a b"}, "name", "letters, digits"),
        ({"vendor": "acme"}, "vendor", "sepm"),
        ({"url": "http://h"}, "url", "use https, or tick 'allow plain http' for a lab"),
        ({"url": "ftp://h"}, "url", "https://"),
        ({"url": "https://:8446"}, "url", "host"),
        ({"url": "https://h:0"}, "url", "port must be 1-65535"),
        ({"url": "https://h:70000"}, "url", "port must be 1-65535"),
        ({"url": "https://h/sepm/api"}, "url", "path"),
        ({"username": ""}, "username", "required"),
        ({"password_env": "1BAD"}, "password_env", "environment variable"),
        ({"password_command": "  "}, "password_command", "empty"),
        ({"password_env": "X", "password": "s"}, "password", "only one"),
        ({"verify": "/nope/ca.pem"}, "verify", "CA bundle /nope/ca.pem does not exist"),
    ],
)
def test_connection_errors(changes: dict, field: str, message: str) -> None:
    assert message in validate_connection(connection(**changes)).get(field, "")


def test_duplicate_name_rejected() -> None:
    assert "already exists" in validate_connection(connection(), others=["lab", "prod"])["name"]


# --- where the file is ---------------------------------------------------------------------


def test_resolve_config_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {"EPX_CONFIG": "~/from-env.toml"}
    assert resolve_config_path("~/explicit.toml", env) == tmp_path / "explicit.toml"
    assert resolve_config_path(None, env) == tmp_path / "from-env.toml"
    assert resolve_config_path(None, {}) == default_config_path()
    assert default_config_path().parts[-2:] == ("endpoint-explorer", "config.toml")


# --- resolve_secret -------------------------------------------------------------------------


def python_command(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


def test_secret_sources_in_order() -> None:
    assert resolve_secret(connection(password="saved"), {"X": "env"}) == "saved"
    assert resolve_secret(connection(password_env="X"), {"X": "from-env"}) == "from-env"
    assert resolve_secret(connection(), {"X": "env"}) is None


@pytest.mark.parametrize("environ", [{}, {"SEPM_PASSWORD": ""}])
def test_missing_env_var(environ: dict) -> None:
    with pytest.raises(SecretError, match="environment variable SEPM_PASSWORD is not set"):
        resolve_secret(connection(password_env="SEPM_PASSWORD"), environ)


def test_secret_from_command_first_line() -> None:
    conn = connection(password_command=python_command("print('s3cret'); print('x')"))
    assert resolve_secret(conn, {}) == "s3cret"


def test_command_is_not_run_through_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    conn = connection(password_command=python_command("print('s3cret')") + f" ; touch {marker}")
    assert resolve_secret(conn, {}) == "s3cret"
    assert not marker.exists()


def test_failing_command_message_hides_output() -> None:
    code = "import sys; print('leaked-out'); print('leaked-err', file=sys.stderr); sys.exit(3)"
    with pytest.raises(SecretError) as caught:
        resolve_secret(connection(password_command=python_command(code)), {})
    message = str(caught.value)
    assert f"password command `{sys.executable}` exited with status 3" == message
    assert "leaked" not in message


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("/nonexistent/epx-secret-helper", "was not found"),
        (python_command("pass"), "printed nothing"),
        (python_command("import time; time.sleep(5)"), "did not finish within 0.5 seconds"),
    ],
)
def test_command_failures(command: str, message: str) -> None:
    with pytest.raises(SecretError, match=message):
        resolve_secret(connection(password_command=command), {}, timeout=0.5)


def test_config_module_does_not_import_textual() -> None:
    code = "import sys, tui.config; print('textual' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
