"""`make serve`: the local stack kept running, with the balance API on http://127.0.0.1:8080.

Pollers run every POLL_SECONDS (default 30) against the simulators, the stream goes to the aggregator,
and each HTTP request is turned into an API Gateway event for the real API handler. Like the deployed
API in API-key mode, every request needs the x-api-key header printed at start. What it prints at start
is meant to be pasted: the key, `credit-monitor status` and curl lines for the API, and each simulator's
URL with its demo keys for `credit-monitor check --base-url`. Stop with Ctrl-C. PORT=8081 (make serve
PORT=8081) chooses another port.
"""

from __future__ import annotations

import errno
import io
import json
import os
import secrets
import shlex
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from credit_monitor_cli.errors import CommandError, UsageError, reported
from devstack import PYTHONPATH
from devstack.demo import DEMO_ACCOUNTS, REVOKED, Demo, demo_key
from devstack.invoke import invoke_aggregator, invoke_api, invoke_poller
from devstack.moto_stack import LocalStack
from devstack.simulators import ProviderSimulator
from devstack.template import every_provider

# The handlers run one request at a time, as one Lambda container does.
_invocations = threading.Lock()

MAX_REQUEST_LINE = 8192  # API Gateway refuses longer URLs; so does the local API
MAX_LOGGED_PATH = 120


# The deployed API's 403 tells how to read the key from AWS; here the key is the one printed at start.
LOCAL_INVALID_API_KEY = ("Missing or invalid x-api-key header: this is make serve's local API, which takes the key it printed at "
                         "start (export KEY=...; send the header x-api-key: $KEY); LOCAL_API_KEY=... chooses it")  # fmt: skip


def gateway_response(stack: LocalStack, kind: str) -> tuple[int, object]:
    """API Gateway's answer of type ``kind`` (INVALID_API_KEY...), from template.yaml's gateway responses."""
    body = stack.template["Resources"]["BalanceApi"]["Properties"]["DefinitionBody"]
    response = stack.resolver.resolve(body["x-amazon-apigateway-gateway-responses"][kind])
    return int(response["statusCode"]), json.loads(response["responseTemplates"]["application/json"])


def local_gateway_response(stack: LocalStack, kind: str) -> tuple[int, object]:
    """The template's gateway response, with the local variant of a message that only holds for a deployed stack."""
    status, body = gateway_response(stack, kind)
    if kind == "INVALID_API_KEY" and isinstance(body, dict):
        body = {**body, "message": LOCAL_INVALID_API_KEY}
    return status, body


class LocalApi:
    def __init__(self, stack: LocalStack, api_key: str) -> None:
        self.stack, self.api_key = stack, api_key

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def parse_request(self) -> bool:
                if not super().parse_request():
                    return False
                if len(self.raw_requestline) > MAX_REQUEST_LINE:
                    self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                    return False
                return True

            def do_GET(self) -> None:
                api.answer(self, "GET")

            def do_OPTIONS(self) -> None:
                api.answer(self, "OPTIONS")

            def __getattr__(self, name: str) -> object:
                # http.server answers 501 for any method without a do_<METHOD>; the API answers 405 to all of them.
                if name.startswith("do_"):
                    return lambda: api.method_not_allowed(self)
                raise AttributeError(name)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """http.server's own refusals (a malformed or too long request line) as JSON, like every answer."""
                status = HTTPStatus(code)
                if status == HTTPStatus.REQUEST_URI_TOO_LONG:
                    message = f"the request line is longer than {MAX_REQUEST_LINE:,} bytes, API Gateway's limit"
                self.close_connection = True
                body = {"error": status.phrase.lower().replace(" ", "_").replace("-", "_"), "message": message or status.phrase}
                api.send(self, code, body, {"Connection": "close"})

            def log_request(self, code: object = "-", size: object = "-") -> None:
                path = getattr(self, "path", "") or ""
                shown = path if len(path) <= MAX_LOGGED_PATH else path[: MAX_LOGGED_PATH - 3] + "..."
                sys.stderr.write(f"  {getattr(self, 'command', '') or '?'} {shown} -> {code}\n")

            def log_error(self, format: str, *args: object) -> None:
                pass  # each refusal is also a response, logged by log_request

        return Handler

    def answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        if request.headers.get("x-api-key") != self.api_key:
            self.send(request, *local_gateway_response(self.stack, "INVALID_API_KEY"), {})
            return
        url = urlsplit(request.path)
        path = unquote(url.path)
        path = path[3:] if path.startswith("/v1/") else path  # accept the stage prefix, as the deployed URL has it
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        headers = {name: value for name, value in request.headers.items() if name.lower() != "x-api-key"}
        with _invocations:
            response = invoke_api(self.stack, path, query, method=method, **headers)
        self.send(request, response.status, response.body, response.headers)

    def method_not_allowed(self, request: BaseHTTPRequestHandler) -> None:
        body = {"error": "method_not_allowed", "message": f"{request.command} is not supported: the balance API is read-only"}
        self.send(request, 405, body, {"Allow": "GET, OPTIONS"})

    @staticmethod
    def send(request: BaseHTTPRequestHandler, status: int, body: object, headers: dict[str, str]) -> None:
        payload = (json.dumps(body, indent=2) + "\n").encode() if body is not None else b""
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            if name.lower() not in ("content-type", "content-length"):
                request.send_header(name, value)
        request.end_headers()
        request.wfile.write(payload)


def poll_forever(demo: Demo, stop: threading.Event, interval: float) -> None:
    log = io.StringIO()
    while not stop.is_set():
        with _invocations:
            for provider, sim in demo.sims.items():
                invoke_poller(demo.stack, provider, {}, base_url=sim.base_url, output=log)
            demo.pump.deliver(lambda batch: invoke_aggregator(demo.stack, batch, output=log))
            for alert in demo.inbox.fetch():
                print(f"  alert: {alert['subject']}")
        log.seek(0)
        log.truncate()
        stop.wait(interval)


def listen(port_text: str) -> ThreadingHTTPServer:
    """The API's socket, bound before anything else starts: a taken port is said at once, in one line."""
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise UsageError(f"PORT must be a port number such as 8080 (0: any free port), not {port_text!r}") from None
    # Bound now, listening once the stack is up (server_activate): until then a client is refused at once,
    # as before, rather than left waiting on a port that does not answer yet.
    server = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler, bind_and_activate=False)
    try:
        server.server_bind()
        return server
    except OSError as exc:
        server.server_close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(f"port {port} on 127.0.0.1 is already in use (another make serve?): stop what listens there, "
                               f"or choose another port: make serve PORT={port + 1 if port < 65535 else 8081}") from None  # fmt: skip
        if exc.errno == errno.EACCES:
            raise CommandError(f"port {port} needs privileges to listen on: choose one above 1023, such as make serve PORT=8080") from None
        raise


def command_line() -> str:
    """How to run credit-monitor from here: the virtualenv's command if installed (make setup), else the module."""
    installed = Path(sys.prefix) / "bin" / "credit-monitor"
    if installed.exists():
        try:
            return str(installed.relative_to(Path.cwd()))
        except ValueError:
            return str(installed)
    return f"PYTHONPATH={shlex.quote(PYTHONPATH)} {shlex.quote(sys.executable)} -m credit_monitor_cli"


def demo_accounts(provider: str, sim: ProviderSimulator) -> dict[str, str | dict[str, str]]:
    """Each demo account of ``provider`` and what its secret holds, as Demo.set_up registers them with the simulator."""
    return {account: sim.credentials(demo_key(provider, account)) for account in DEMO_ACCOUNTS.get(provider, {"prod": None})}


def welcome(base: str, api_key: str, interval: float, sims: dict[str, ProviderSimulator]) -> list[str]:
    """What serve prints at start: lines to paste, for the API and for each simulator."""
    cli = command_line()
    lines = [f"Balance API on {base} (polling every {interval:g}s; Ctrl-C stops everything)", "", f"  export KEY={api_key}",
             f"  {cli} status --api-url {base} --api-key-env KEY"]  # fmt: skip
    for route in ("/balances", "/balances/crun", "/balances/crun/prod", "/balances/crun/prod/history?limit=5",
                  "/balances/sunor/staging/check?required=500&margin=10"):  # fmt: skip
        lines.append(f"  curl -s -H \"x-api-key: $KEY\" '{base}{route}'")
    lines += ["", "Provider simulators and their demo keys (they work here only):"]
    width = max(map(len, sims))
    for provider, sim in sims.items():
        keys = [f"{account}={_key_of(value)}" for account, value in demo_accounts(provider, sim).items()]
        if provider == REVOKED[0]:
            keys.append(f"{REVOKED[1]}={demo_key(*REVOKED)} (revoked: always rejected)")
        lines.append(f"  {provider:<{width}}  {sim.base_url}  {'  '.join(keys)}")
    provider, sim = next(iter(sims.items()))
    account, value = next(iter(demo_accounts(provider, sim).items()))
    variable = f"{provider.upper().replace('-', '_')}_KEY"
    extra = "".join(f" --var {name}={shlex.quote(v)}" for name, v in value.items() if name != "key") if isinstance(value, dict) else ""
    lines += ["", f"Try a key as before deploying (here {provider}/{account} on its simulator):", f"  export {variable}={_key_of(value)}",
              f"  {cli} check {provider} --key-env {variable} --base-url {sim.base_url}{extra}", ""]  # fmt: skip
    return lines


def _key_of(credentials: str | dict[str, str]) -> str:
    return credentials["key"] if isinstance(credentials, dict) else credentials


def serve() -> int:
    server = listen(os.environ.get("PORT", "8080"))
    interval = float(os.environ.get("POLL_SECONDS", "30"))
    api_key = os.environ.get("LOCAL_API_KEY") or secrets.token_urlsafe(18)
    stop = threading.Event()
    try:
        with LocalStack(parameters=every_provider()) as stack:
            stack.create_resources()
            sims = {provider: ProviderSimulator(provider).start() for provider in stack.pollers()}
            demo = Demo(stack, sims, stack.subscribe_inbox("serve-inbox"), io.StringIO())
            demo.set_up()
            server.RequestHandlerClass = LocalApi(stack, api_key).handler_class()
            server.server_activate()
            poller = threading.Thread(target=poll_forever, args=(demo, stop, interval), daemon=True)
            poller.start()
            print("\n".join(welcome(f"http://127.0.0.1:{server.server_address[1]}", api_key, interval, sims)), flush=True)
            try:
                server.serve_forever(poll_interval=0.2)
            except KeyboardInterrupt:
                print("\nStopping.")
            finally:
                stop.set()
                for sim in sims.values():
                    sim.stop()
    finally:
        server.server_close()
    return 0


def main() -> int:
    return reported(serve)


if __name__ == "__main__":
    sys.exit(main())
