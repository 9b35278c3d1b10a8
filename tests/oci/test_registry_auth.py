"""TLS, credentials and authentication of the registry client, against the real registry.

The registry runs over HTTPS with a throw-away CA, with htpasswd (Basic) auth or with token auth.
The token server is a stand-in (see :mod:`tests.helpers.secure_registry`); the registry that checks
its JWTs is real. Credential helpers are real processes: small shell scripts on ``PATH``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kaddons.errors import AuthenticationError, RegistryResponseError, TLSVerificationError, UsageError
from kaddons.oci.models import Descriptor
from kaddons.oci.registry import Registry, RegistryOptions, RetryPolicy
from kaddons.oci.registry._auth import Challenge, merge_scopes, parse_challenges
from kaddons.oci.registry._credentials import Credentials, load_credentials, normalize_server
from tests.helpers.fault_proxy import FaultProxy
from tests.oci.conftest import SecureRegistry

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_elapsed=10.0)
LAYER = "application/vnd.kaddons.test.layer.v1"


@pytest.fixture(autouse=True)
def isolated_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``DOCKER_CONFIG`` points at an empty directory: the machine's own ~/.docker is never read."""
    directory = tmp_path / "docker"
    directory.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    return directory / "config.json"


def options(secure: SecureRegistry, **fields: object) -> RegistryOptions:
    return RegistryOptions(ca_file=secure.tls.ca_file, retry=FAST, timeout=10.0, **fields)  # type: ignore[arg-type]


def round_trip(registry: Registry) -> None:
    """Push a blob to a new repository, read it back, and list the repository's (empty) tags."""
    repo = registry.repository(f"auth/{uuid.uuid4().hex[:10]}")
    data = os.urandom(1000)
    desc = Descriptor.for_bytes(data, LAYER)
    repo.push(desc, io.BytesIO(data))
    with repo.fetch(desc) as stream:
        assert stream.read() == data


def write_helper(directory: Path, name: str, host: str, user: str, secret: str) -> None:
    """A real docker-credential helper process (docker-credential-helpers protocol) as a shell script.

    ``get`` answers the credentials for ``host`` and exits 1 ("credentials not found") for others.
    """
    script = directory / f"docker-credential-{name}"
    answer = json.dumps({"ServerURL": host, "Username": user, "Secret": secret})
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 1\n'
        "read -r server\n"
        f'if [ "$server" = "{host}" ]; then printf \'%s\' \'{answer}\'; exit 0; fi\n'
        "echo 'credentials not found in native keychain'; exit 1\n"
    )
    script.chmod(0o755)


@pytest.fixture
def helper_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return directory


# --- pure parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Basic realm="registry"', [Challenge("basic", {"realm": "registry"})]),
        ('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
         [Challenge("bearer", {"realm": "https://auth.example/token", "service": "registry.example",
                               "scope": "repository:a/b:pull,push"})]),
        ('Basic realm="a, b", Bearer realm="t", error="insufficient_scope"',
         [Challenge("basic", {"realm": "a, b"}), Challenge("bearer", {"realm": "t", "error": "insufficient_scope"})]),
        (r'BEARER Realm = "with \"quotes\"" , service=plain', [Challenge("bearer", {"realm": 'with "quotes"',
                                                                                  "service": "plain"})]),
        ("Negotiate abc==, Basic realm=x", [Challenge("negotiate", {"": "abc=="}), Challenge("basic", {"realm": "x"})]),
        ("", []),
    ],
)
def test_parse_challenges(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_merge_scopes_unions_actions_per_resource() -> None:
    assert merge_scopes(["repository:a:pull", "repository:a:push,pull", "registry:catalog:*", ""]) == (
        "registry:catalog:*", "repository:a:pull,push")


@pytest.mark.parametrize("key", ["127.0.0.1:5000", "https://127.0.0.1:5000", "http://127.0.0.1:5000/v2/",
                                 "https://127.0.0.1:5000/v1/"])
def test_auths_keys_are_normalised(key: str) -> None:
    assert normalize_server(key) == "127.0.0.1:5000"
    assert normalize_server("https://index.docker.io/v1/") == "docker.io"


def test_malformed_docker_config_is_a_usage_error(isolated_docker_config: Path) -> None:
    isolated_docker_config.write_text("{not json")
    with pytest.raises(UsageError, match="is not valid JSON"):
        load_credentials("127.0.0.1:5000")


# --- TLS ----------------------------------------------------------------------------------------------


def test_certificate_of_an_unknown_ca_does_not_verify(basic_registry: SecureRegistry) -> None:
    with Registry(basic_registry.host, RegistryOptions(retry=FAST)) as registry, \
            pytest.raises(TLSVerificationError) as caught:
        registry.ping()
    message = str(caught.value)
    assert basic_registry.host in message and "--ca-file" in message


def test_ca_file_makes_the_certificate_verify(basic_registry: SecureRegistry) -> None:
    user, password = next(iter(basic_registry.users.items()))
    with Registry(basic_registry.host, options(basic_registry, username=user, password=password)) as registry:
        registry.ping()
        round_trip(registry)


def test_unreadable_ca_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--ca-file"):
        Registry("127.0.0.1:1", RegistryOptions(ca_file=tmp_path / "missing.pem"))


def test_plain_http_client_against_tls_registry_names_the_problem(basic_registry: SecureRegistry) -> None:
    with Registry(basic_registry.host, RegistryOptions(insecure=True, retry=FAST)) as registry, \
            pytest.raises(RegistryResponseError) as caught:
        registry.ping()
    assert caught.type.__module__ == "kaddons.errors"  # no httpx exception escapes
    assert "400 Bad Request" in str(caught.value) and "drop --insecure" in str(caught.value)


# --- Basic auth ---------------------------------------------------------------------------------------


def test_missing_credentials_are_an_authentication_error(basic_registry: SecureRegistry) -> None:
    with Registry(basic_registry.host, options(basic_registry)) as registry, \
            pytest.raises(AuthenticationError) as caught:
        registry.ping()
    message = str(caught.value)
    assert basic_registry.host in message and "--username" in message


def test_wrong_password_fails_once_without_looping_or_leaking(basic_registry: SecureRegistry) -> None:
    secret = "not-the-password-" + uuid.uuid4().hex
    with FaultProxy(basic_registry.running.url, upstream_ca_file=str(basic_registry.tls.ca_file)) as proxy, \
            Registry(proxy.host, RegistryOptions(insecure=True, retry=FAST, username="alice", password=secret)) as reg:
        with pytest.raises(AuthenticationError, match="rejected the credentials of user 'alice'") as caught:
            reg.ping()
        assert [status for _, _, status in proxy.requests] == [401, 401]  # anonymous, then Basic: no loop
    assert secret not in str(caught.value)


def test_docker_config_auths_base64_is_used(basic_registry: SecureRegistry, isolated_docker_config: Path) -> None:
    user, password = next(iter(basic_registry.users.items()))
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    isolated_docker_config.write_text(json.dumps({"auths": {f"https://{basic_registry.host}/v2/": {"auth": auth}}}))
    with Registry(basic_registry.host, options(basic_registry)) as registry:
        round_trip(registry)


def test_docker_config_username_password_fields_are_used(basic_registry: SecureRegistry, tmp_path: Path) -> None:
    user, password = next(iter(basic_registry.users.items()))
    config = tmp_path / "elsewhere.json"
    entry = {"username": user, "password": password}
    config.write_text(json.dumps({"auths": {f"http://{basic_registry.host}": entry}}))
    with Registry(basic_registry.host, options(basic_registry, config_path=config)) as registry:
        round_trip(registry)


def test_explicit_credentials_win_over_the_docker_config(basic_registry: SecureRegistry,
                                                         isolated_docker_config: Path) -> None:
    user, password = next(iter(basic_registry.users.items()))
    wrong = base64.b64encode(f"{user}:wrong".encode()).decode()
    isolated_docker_config.write_text(json.dumps({"auths": {basic_registry.host: {"auth": wrong}}}))
    with Registry(basic_registry.host, options(basic_registry, username=user, password=password)) as registry:
        round_trip(registry)


def test_cred_helper_for_the_host_is_run(basic_registry: SecureRegistry, isolated_docker_config: Path,
                                         helper_dir: Path) -> None:
    user, password = next(iter(basic_registry.users.items()))
    write_helper(helper_dir, "test", basic_registry.host, user, password)
    isolated_docker_config.write_text(json.dumps({"credHelpers": {basic_registry.host: "test"}}))
    with Registry(basic_registry.host, options(basic_registry)) as registry:
        round_trip(registry)


def test_creds_store_is_the_default_helper(basic_registry: SecureRegistry, isolated_docker_config: Path,
                                           helper_dir: Path) -> None:
    user, password = next(iter(basic_registry.users.items()))
    write_helper(helper_dir, "store", basic_registry.host, user, password)
    isolated_docker_config.write_text(json.dumps({"auths": {basic_registry.host: {}}, "credsStore": "store"}))
    with Registry(basic_registry.host, options(basic_registry)) as registry:
        round_trip(registry)


def test_helper_without_credentials_means_anonymous(basic_registry: SecureRegistry, isolated_docker_config: Path,
                                                    helper_dir: Path) -> None:
    write_helper(helper_dir, "test", "some-other-registry.example", "bob", "x")
    isolated_docker_config.write_text(json.dumps({"credHelpers": {basic_registry.host: "test"}}))
    with Registry(basic_registry.host, options(basic_registry)) as registry, \
            pytest.raises(AuthenticationError, match="requires authentication"):
        registry.ping()


def test_helper_missing_from_path_is_named(basic_registry: SecureRegistry, isolated_docker_config: Path) -> None:
    isolated_docker_config.write_text(json.dumps({"credHelpers": {basic_registry.host: "kaddons-absent"}}))
    with Registry(basic_registry.host, options(basic_registry)) as registry, \
            pytest.raises(AuthenticationError, match=r"docker-credential-kaddons-absent .* not on PATH"):
        registry.ping()


# --- Bearer tokens ------------------------------------------------------------------------------------


@pytest.fixture
def token_log(token_registry: SecureRegistry) -> Iterator[list[tuple[str, str | None, list[str]]]]:
    assert token_registry.token_server is not None
    log = token_registry.token_server.requests
    log.clear()
    yield log


def test_bearer_token_flow_with_scopes_and_cache(token_registry: SecureRegistry,
                                                 token_log: list[tuple[str, str | None, list[str]]]) -> None:
    user, password = "alice", token_registry.users["alice"]
    name = f"auth/{uuid.uuid4().hex[:10]}"
    with Registry(token_registry.host, options(token_registry, username=user, password=password)) as registry:
        repo = registry.repository(name)
        data = os.urandom(2000)
        desc = Descriptor.for_bytes(data, LAYER)
        repo.push(desc, io.BytesIO(data))
        for _ in range(3):
            assert repo.exists(desc)
            with repo.fetch(desc) as stream:
                assert stream.read() == data
        assert name in registry.catalog()
        assert registry.repository(name + "-copy").mount(desc, name) is True
    scopes = [tuple(scopes) for _, _, scopes in token_log]
    # One token per scope set, each fetched once and then reused from the cache.
    assert scopes == [(f"repository:{name}:pull,push",), (f"repository:{name}:pull",), ("registry:catalog:*",),
                      (f"repository:{name}-copy:pull,push", f"repository:{name}:pull")]
    assert {who for _, who, _ in token_log} == {user}


def test_one_registry_is_shared_by_threads(token_registry: SecureRegistry,
                                           token_log: list[tuple[str, str | None, list[str]]]) -> None:
    user, password = next(iter(token_registry.users.items()))
    with Registry(token_registry.host, options(token_registry, username=user, password=password)) as registry:
        repo = registry.repository(f"auth/{uuid.uuid4().hex[:10]}")
        blobs = [os.urandom(20_000 + i) for i in range(8)]

        def round_trip_one(data: bytes) -> bool:
            desc = Descriptor.for_bytes(data, LAYER)
            repo.push(desc, io.BytesIO(data))
            with repo.fetch(desc) as stream:
                return stream.read() == data

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(round_trip_one, blobs))
    assert len(token_log) <= 2 * 8  # tokens are shared: at most one per scope set and thread


def test_secrets_stay_out_of_reprs() -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    assert secret not in repr(RegistryOptions(username="alice", password=secret))
    assert secret not in repr(Credentials("alice", secret, identity_token=secret))


def test_anonymous_push_to_a_token_registry_is_refused(token_registry: SecureRegistry,
                                                       token_log: list[tuple[str, str | None, list[str]]]) -> None:
    with Registry(token_registry.host, options(token_registry)) as registry, \
            pytest.raises(AuthenticationError, match=r"requires authentication .*--username"):
        round_trip(registry)
    assert len(token_log) <= 2  # a token for the request, one retry with the challenge's scope: no loop


def test_user_without_push_rights_is_denied_not_told_to_fix_the_password(token_registry: SecureRegistry) -> None:
    with Registry(token_registry.host, options(token_registry, username="bob",
                                               password=token_registry.users["bob"])) as registry, \
            pytest.raises(AuthenticationError, match=r"denied user 'bob' access for POST .* ask for the rights"):
        round_trip(registry)


def test_wrong_password_at_the_token_server_is_refused(token_registry: SecureRegistry) -> None:
    secret = "wrong-" + uuid.uuid4().hex
    with Registry(token_registry.host, options(token_registry, username="alice", password=secret)) as registry, \
            pytest.raises(AuthenticationError, match="rejected the credentials of user 'alice'") as caught:
        registry.ping()
    assert secret not in str(caught.value)


def test_identity_token_uses_the_oauth2_refresh_grant(token_registry: SecureRegistry, isolated_docker_config: Path,
                                                      token_log: list[tuple[str, str | None, list[str]]]) -> None:
    isolated_docker_config.write_text(json.dumps(
        {"auths": {token_registry.host: {"identitytoken": "refresh-token-of-alice"}}}))
    with Registry(token_registry.host, options(token_registry)) as registry:
        round_trip(registry)
    assert token_log and all(method == "POST" and who == "alice" for method, who, _ in token_log)
