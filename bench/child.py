"""One poll round in a fresh process, reporting its own CPU time and peak memory as JSON.

Run by bench.run with the poller's environment. Only what Lambda would load is imported here (the
handler file and the layer): the moto server and simulator live in the parent, uncounted.
"""

import importlib.util
import io
import json
import resource
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

HANDLER = Path(__file__).resolve().parent.parent / "functions" / "poller" / "poll_handler.py"


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 256, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def peak_rss_mb() -> float:
    """This process's own peak resident memory. Linux keeps ru_maxrss across exec, so it would report the
    parent's peak (the benchmark runner, with moto loaded); VmHWM belongs to the new address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    accounts = int(sys.argv[1])
    spec = importlib.util.spec_from_file_location("poll_handler", HANDLER)
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    handler.logger.registered_handler.setStream(io.StringIO())  # logs are not what is measured
    started_cpu, started = time.process_time(), time.perf_counter()
    with redirect_stdout(io.StringIO()):
        summary = handler.lambda_handler({}, Context())
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    if (summary["polled"], summary["failed"]) != (accounts, 0):
        raise SystemExit(f"the round did not poll {accounts} accounts cleanly: {summary}")
    peak_mb = peak_rss_mb()
    xray = "aws_xray_sdk" in sys.modules  # Tracing=DISABLED must not load the X-Ray SDK at all
    print(json.dumps({"accounts": accounts, "cpu_s": cpu, "wall_s": wall, "peak_rss_mb": peak_mb, "xray_loaded": xray}))


if __name__ == "__main__":
    main()
