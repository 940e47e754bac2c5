"""`credit-monitor` (`python -m credit_monitor_cli`): try a key before deploying, read a stack, and say plainly what went wrong."""

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from credit_monitor import __version__
from credit_monitor.polling.providers import DEFINITIONS, add_definitions, remove_definitions
from credit_monitor.polling.providers.definition import TOP_LEVEL
from devstack import PYTHONPATH, ROOT
from devstack.simulators import ProviderSimulator, example_response

EXAMPLES = ROOT / "examples" / "providers"

pytestmark = pytest.mark.integration


def check(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return credit_monitor("check", *args, env=env)


def credit_monitor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "credit_monitor_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": PYTHONPATH, **env},
        check=False,
    )


@pytest.fixture
def srtgen():
    with ProviderSimulator("srtgen") as sim:
        yield sim


def test_a_good_key_prints_the_normalized_balance_without_key_or_personal_data(srtgen):
    srtgen.set_response("sk-try-me-123", example_response("srtgen"))

    result = check("srtgen", "--key-env", "SRTGEN_KEY", "--base-url", srtgen.base_url, env={"SRTGEN_KEY": "sk-try-me-123"})

    assert result.returncode == 0, result.stderr
    balance = json.loads(result.stdout)
    assert (balance["provider"], balance["account"], balance["status"]) == ("srtgen", "default", "ok")
    assert (balance["available"], balance["total"]) == (1250, 1250)
    assert balance["breakdown"]["extra"] == 250
    everything = result.stdout + result.stderr
    assert "sk-try-me-123" not in everything
    assert "alex.rivera@example.com" not in everything


def test_a_rejected_key_exits_1_and_says_why(srtgen):
    result = check("srtgen", "--key-env", "SRTGEN_KEY", "--base-url", srtgen.base_url, env={"SRTGEN_KEY": "sk-unknown"})

    assert result.returncode == 1
    assert json.loads(result.stdout)["error_kind"] == "auth"
    assert "API key rejected" in result.stderr


def test_an_unset_key_variable_is_named():
    result = check("crun", "--key-env", "NO_SUCH_VARIABLE_SET", env={})
    assert result.returncode == 2
    assert "NO_SUCH_VARIABLE_SET" in result.stderr


def test_plain_http_to_a_real_host_is_refused_before_sending_the_key():
    result = check("crun", "--key-env", "K", "--base-url", "http://api.crun.ai", env={"K": "sk-1"})
    assert result.returncode == 2
    assert "--base-url must use https://" in result.stderr


def test_an_unknown_provider_lists_the_known_ones():
    result = check("openai", "--key-env", "K", env={"K": "sk-1"})
    assert result.returncode == 2
    assert "crun" in result.stderr


def test_a_definition_file_can_be_tried_with_a_real_key_before_deploying(tmp_path):
    with ProviderSimulator("openrouter") as sim:
        sim.set_balance("sk-or-1", 30)
        definition = tmp_path / "openrouter.json"
        definition.write_text((DEFINITIONS / "openrouter.json").read_text())

        result = check("--definition", str(definition), "--key-env", "OR_KEY", "--base-url", sim.base_url, env={"OR_KEY": "sk-or-1"})

    assert result.returncode == 0, result.stderr
    balance = json.loads(result.stdout)
    assert (balance["provider"], balance["available"], balance["unit"]) == ("openrouter", 30, "USD")


def test_a_provider_that_contradicts_the_definition_is_refused(tmp_path):
    definition = tmp_path / "openrouter.json"
    definition.write_text((DEFINITIONS / "openrouter.json").read_text())

    result = check("crun", "--definition", str(definition), "--key-env", "K", env={"K": "sk-1"})

    assert result.returncode == 2
    assert "provider 'crun' contradicts --definition" in result.stderr
    assert "defines 'openrouter'" in result.stderr
    assert result.stdout == ""


def test_the_terminal_gets_the_result_and_one_line_of_why_not_the_functions_json_logs(srtgen):
    result = check("srtgen", "--key-env", "K", "--base-url", srtgen.base_url, env={"K": "sk-unknown"})
    assert result.returncode == 1
    json.loads(result.stdout)  # stdout is one JSON document, ready to pipe
    assert result.stderr.strip() == "poll failed: API key rejected"

    for before, after in ((["--verbose"], []), ([], ["--verbose"])):  # --verbose before or after the subcommand
        args = [*before, "check", "srtgen", "--key-env", "K", "--base-url", srtgen.base_url, *after]
        verbose = run_in(fresh_terminal(K="sk-unknown"), *args)  # no POWERTOOLS_SERVICE_NAME, as in a user's terminal
        logged = [json.loads(line) for line in verbose.stderr.splitlines() if line.startswith("{")]
        assert [(entry["message"], entry["service"]) for entry in logged] == [("poll failed", "credit-monitor")], args
        assert "sk-unknown" not in verbose.stderr


def test_pip_install_gives_a_credit_monitor_command(tmp_path):
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(ROOT)]
    subprocess.run(install, check=True, capture_output=True, timeout=300, cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(target)}
    command = target / "bin" / "credit-monitor"
    usage = subprocess.run([str(command), "--help"], capture_output=True, text=True, env=env, timeout=60, check=True)
    for subcommand in ("check", "validate-providers", "status", "replay"):
        assert subcommand in usage.stdout
    bundled = subprocess.run([str(command), "validate-providers"], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert "openrouter" in bundled.stdout  # the definition files are part of the package


def test_status_prints_a_stacks_balances_read_from_its_table(stack, sims, poll, aggregate):
    sims["crun"].set_balance("sk-a", 1234.5)
    stack.put_api_keys("crun", {"prod": "sk-a", "gone": "sk-revoked"})
    poll("crun")
    aggregate.stream()
    env = {"AWS_ENDPOINT_URL": stack.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip

    result = credit_monitor("status", "--stack-name", stack.stack_name, "--from-table", env=env)

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:5] == ["PROVIDER", "ACCOUNT", "AVAILABLE", "FROZEN", "UNIT"]
    assert rows[1].split()[:7] == ["crun", "prod", "1,234.5", "0", "credits", "ok", "ok"]
    assert rows[0].split()[:7] == ["crun", "gone", "-", "-", "credits", "-", "error"]
    assert "auth: crun code 401" in rows[0]


# -- the commonest first-run mistakes: one error line that says what to do ----------------------------

STACK_COMMANDS = {
    "status": ("status", "--stack-name", "credit-monitor"),
    "test-alert": ("test-alert", "--stack-name", "credit-monitor", "--wait", "0"),
    "replay": ("replay", "--stack-name", "credit-monitor"),
}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
FIRST_RUN_MISTAKES = {
    "no region": (CREDENTIALS, "error: no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION), or run aws configure"),
    "no credentials": ({"AWS_REGION": "us-east-1"}, "error: no AWS credentials found: run aws configure (or aws sso login), or set "
                       "AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    "endpoint unreachable": ({**CREDENTIALS, "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"},
                             "error: could not reach AWS at http://127.0.0.1:1: check the network connection, the region, and "
                             "AWS_ENDPOINT_URL if it is set"),
}  # fmt: skip


def fresh_terminal(**env: str) -> dict[str, str]:
    """A user's terminal with no AWS configuration at all (none of the test session's), then ``env``."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "POWERTOOLS_"))}
    nothing = {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"}
    return {**kept, **nothing, "PYTHONPATH": PYTHONPATH, **env}


def run_in(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "credit_monitor_cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT, env=env, check=False)


@pytest.mark.parametrize("command", STACK_COMMANDS)
@pytest.mark.parametrize("mistake", FIRST_RUN_MISTAKES)
def test_a_first_run_mistake_is_one_error_line_saying_what_to_do(command, mistake):
    environment, says = FIRST_RUN_MISTAKES[mistake]

    result = run_in(fresh_terminal(**environment), *STACK_COMMANDS[command])

    assert (result.returncode, result.stderr.splitlines(), result.stdout) == (1, [says], "")


@pytest.mark.parametrize("command", STACK_COMMANDS)
def test_a_stack_that_does_not_exist_is_named_with_its_region(stack, command):
    env = fresh_terminal(**CREDENTIALS, AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=stack.endpoint)
    args = [a if a != "credit-monitor" else "no-such-stack" for a in STACK_COMMANDS[command]]

    result = run_in(env, *args)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: stack 'no-such-stack' not found in us-east-1: check --stack-name and the region "
        "(aws cloudformation list-stacks --region us-east-1 lists the stacks there)"
    ]


class RefusingAws(BaseHTTPRequestHandler):
    """An AWS endpoint whose IAM policy allows nothing: every call is answered as CloudFormation refuses one."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = (b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/new "
                b"is not authorized to perform: cloudformation:DescribeStacks</Message></Error>"
                b"<RequestId>1</RequestId></ErrorResponse>")  # fmt: skip
        self.send_response(403)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command", STACK_COMMANDS)
def test_access_denied_names_the_call_refused_and_what_to_do(command):
    with http_server(RefusingAws) as endpoint:
        result = run_in(fresh_terminal(**CREDENTIALS, AWS_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint), *STACK_COMMANDS[command])

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: access denied to DescribeStacks (User: arn:aws:iam::123456789012:user/new is not authorized to perform: "
        "cloudformation:DescribeStacks): use credentials whose IAM policy allows it (aws sts get-caller-identity shows whose "
        "credentials these are)"
    ]


@pytest.mark.parametrize("args", [("status",), ("test-alert", "--stack-name", "s", "--channel", "pigeon"), ("frobnicate",)])
def test_a_command_line_that_cannot_work_exits_2_before_calling_aws(args):
    result = run_in(fresh_terminal(), *args)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(("error: ", "credit-monitor: error: "))
    assert "Traceback" not in result.stderr


def test_version_and_help_read_as_plain_text():
    version = run_in(fresh_terminal(), "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"credit-monitor {__version__}")
    for command in ("", "check", "validate-providers", "status", "test-alert", "replay"):
        shown = run_in(fresh_terminal(), *([command] if command else []), "--help")
        assert shown.returncode == 0
        assert "``" not in shown.stdout, command  # no reStructuredText markup from docstrings
        assert "--verbose" in shown.stdout, command


# -- status through the API: every page, and only printable cells ------------------------------------

ESCAPES = "\x1b]0;pwned\x07\x1b[2K\rcrun        prod   999,999  0  credits  ok  ok  2026-01-01T00:00:00Z  ok\n\u202eevil\x9b31m!"


def listed(account: str, **changes: object) -> dict:
    return {"provider": "crun", "account": account, "available": 10, "frozen": 0, "unit": "credits", "alert_level": "ok",
            "status": "ok", "fetched_at": "2026-01-01T00:00:00Z", **changes}  # fmt: skip


class TwoPages(BaseHTTPRequestHandler):
    """GET /balances as DESIGN.md pages it: an opaque next_token, null on the last page."""

    token = "page/2+=="
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        TwoPages.seen.append(self.path)
        query = parse_qs(urlsplit(self.path).query)
        if self.headers.get("x-api-key") != "local-key":
            status, body = 403, {"error": "forbidden", "message": "\x1b]0;retitled\x07bad key"}
        elif query.get("next_token") == [self.token]:
            status, body = 200, {"balances": [listed("page-2"), listed("hacked", status="error", error_kind="provider_error",
                                                                             error=ESCAPES)], "next_token": None}  # fmt: skip
        else:
            status, body = 200, {"balances": [listed(f"page-1-{i:02d}") for i in range(3)], "next_token": self.token}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def test_status_follows_every_page_of_the_api_and_prints_no_control_characters():
    TwoPages.seen.clear()
    with http_server(TwoPages) as api:
        result = run_in(fresh_terminal(KEY="local-key"), "status", "--api-url", api, "--api-key-env", "KEY")
        refused = run_in(fresh_terminal(KEY="wrong"), "status", "--api-url", api, "--api-key-env", "KEY")

    assert result.returncode == 0, result.stderr
    _, *rows = result.stdout.splitlines()
    assert [row.split()[1] for row in rows] == ["hacked", "page-1-00", "page-1-01", "page-1-02", "page-2"]  # one row per balance
    assert TwoPages.seen[:2] == ["/balances", "/balances?next_token=page%2F2%2B%3D%3D"]
    hacked = rows[0]
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u202e" for c in result.stdout.replace("\n", ""))
    assert "pwned" not in hacked  # the window title sequence is removed whole, not shown as text; \r and \n are spaces
    assert hacked.endswith("provider_error:  crun        prod   999,999  0  credits  ok  ok  2026-01-01T00:00:00Z  ok evil!")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [f"error: GET {api}/balances answered 403: bad key"]


def test_status_says_which_api_it_could_not_reach():
    result = run_in(fresh_terminal(KEY="k"), "status", "--api-url", "http://127.0.0.1:1", "--api-key-env", "KEY")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: could not reach http://127.0.0.1:1/balances (ConnectionError): check --api-url or the stack, and the network"
    ]


def test_a_broken_definition_is_refused_naming_the_field(tmp_path):
    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps({"id": "acme", "base_url": "https://acme.example", "path": "/credits",
                                      "auth": {"header": "X-Key", "value": "{key}"}, "success": "ok", "fields": {}}))  # fmt: skip
    result = check("--definition", str(definition), "--key-env", "K", env={"K": "sk-1"})
    assert result.returncode == 2
    assert "acme.json: fields.available: is required" in result.stderr


def validate(*files):
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    command = [sys.executable, "-m", "credit_monitor_cli", "validate-providers", *files]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False)


def test_validate_providers_checks_the_bundle_and_given_files(tmp_path):
    ok = validate()
    assert ok.returncode == 0, ok.stderr
    assert "ok: definitions/openrouter.json defines provider 'openrouter'" in ok.stdout
    definition = json.loads((DEFINITIONS / "openrouter.json").read_text())
    bad = tmp_path / "typo.json"
    bad.write_text(json.dumps({**definition, "sucess": "x"}))
    result = validate(str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"invalid: {bad}: sucess: unknown key; allowed: " + ", ".join(sorted(TOP_LEVEL)),
        # as a bundled file would be: the bundle holds it as definitions/<id>.json
        f"invalid: {bad}: id: 'openrouter' must be defined in a file named openrouter.json, not typo.json: rename one or the other",
        "2 problem(s) in 1 of 1 file(s)",
    ]


def test_validate_providers_reports_every_problem_of_every_file_in_one_run_each_once(tmp_path):
    """A typo in a function name fails validation against the documented example, not every poll after deploying;
    each mistake is one line naming the file as it was given."""
    novita = json.loads((EXAMPLES / "novita.json").read_text())
    typo = tmp_path / "novita.json"
    typo.write_text(json.dumps({**novita, "fields": {**novita["fields"], "available": "substract(to_number(balance), `1`)"}}))
    luma = json.loads((EXAMPLES / "luma.json").read_text())
    nothing = tmp_path / "luma.json"
    nothing.write_text(json.dumps({**luma, "fields": {**luma["fields"], "available": "credit_balance.nothing_here"}}))
    reused = tmp_path / "crun.json"
    reused.write_text(json.dumps({**luma, "id": "crun"}))

    result = validate(str(typo), str(nothing), str(reused), "examples/providers/deepgram.json")

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"invalid: {typo}: fields.available: Unknown function: substract() (evaluated on example 'balance')",
        f"invalid: {nothing}: fields.available: 'credit_balance.nothing_here' finds nothing in example 'balance': check the path",
        f"invalid: {reused}: id: 'crun' is a built-in provider (definitions/crun.json); choose another id",
        "3 problem(s) in 3 of 4 file(s)",
    ]
    assert "ok: examples/providers/deepgram.json defines provider 'deepgram'" in result.stdout  # the good file is still checked


@pytest.fixture
def deepgram():
    add_definitions(EXAMPLES)
    try:
        with ProviderSimulator("deepgram") as sim:
            sim.set_response("dg-key-1", example_response("deepgram"))
            yield sim
    finally:
        remove_definitions(EXAMPLES)


def test_a_definition_with_per_account_variables_takes_them_with_var(deepgram):
    args = ("--definition", str(EXAMPLES / "deepgram.json"), "--key-env", "DG", "--base-url", deepgram.base_url)

    missing = check(*args, env={"DG": "dg-key-1"})
    assert missing.returncode == 2
    assert "deepgram needs --var project_id=..." in missing.stderr
    unknown = check(*args, "--var", "project_id=p-1", "--var", "projectid=p-1", env={"DG": "dg-key-1"})
    assert unknown.returncode == 2
    assert "--var projectid: deepgram has no such variable (its variables: project_id)" in unknown.stderr

    result = check(*args, "--var", "project_id=p-1", env={"DG": "dg-key-1"})

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["available"] == 200
    assert deepgram.requests[-1].path == "/v1/projects/p-1/balances"


def test_explain_shows_what_each_expression_found_in_the_live_answer_never_the_key(deepgram):
    args = ("--definition", str(EXAMPLES / "deepgram.json"), "--key-env", "DG", "--base-url", deepgram.base_url, "--var", "project_id=p-1")

    result = check(*args, "--explain", env={"DG": "dg-key-1"})

    assert result.returncode == 0, result.stderr
    decoder = json.JSONDecoder()
    explained, end = decoder.raw_decode(result.stdout)
    balance = json.loads(result.stdout[end:])
    found = explained["explain"]
    assert found["http_status"] == 200
    assert found["fields.available: sum(balances[?units == 'usd' || units == 'USD'].amount)"] == 200
    assert balance["available"] == 200
    assert "dg-key-1" not in result.stdout + result.stderr
