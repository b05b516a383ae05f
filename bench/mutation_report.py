"""Score the last mutation run (`mutmut run`) per module, from `mutmut results --all true`.

    .venv/bin/python bench/mutation_report.py            # a Markdown table on stdout

A mutant is killed when a test failed (or timed out) with it in place; the score is killed
over all mutants, those no selected test reaches included. The adapters' translation
functions (what turns the gateway's request into the vendor's body and the vendor's events
into the gateway's) are scored apart from their I/O code (stream, embed, clients), which
only the gateway-level tests reach.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

MUTMUT = Path(sys.executable).with_name("mutmut")
ADAPTERS = re.compile(r"^llmgateway\.providers\.(openai|anthropic|google|bedrock|ollama)\.")
# The adapters' functions that do I/O or hold clients, not translation.
ADAPTER_IO = re.compile(r"(Adapter|_client|_new_client|stream__|embed__|aclose|credentials|_response_error|_api_error|"
                        r"_client_error|_credentials_error|_region|_refresh)")  # fmt: skip
KILLED = {"killed", "timeout"}


def results() -> list[tuple[str, str]]:
    output = subprocess.run([str(MUTMUT), "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in output.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            rows.append((name, status))
    return rows


def group_of(name: str) -> str:
    module = name.split(".x")[0]
    if ADAPTERS.match(name):
        return f"{module} (translation)" if not ADAPTER_IO.search(name) else f"{module} (I/O)"
    return module


def main() -> None:
    counts: dict[str, Counter] = defaultdict(Counter)
    for name, status in results():
        counts[group_of(name)][status] += 1
    print("| module | mutants | killed | survived | no test reaches it | score |")
    print("|---|---:|---:|---:|---:|---:|")
    totals: Counter = Counter()
    for group in sorted(counts):
        c = counts[group]
        totals.update(c)
        total = sum(c.values())
        killed = sum(c[s] for s in KILLED)
        print(f"| `{group}` | {total} | {killed} | {c['survived']} | {c['no tests']} | {killed / total:.1%} |")
    for label, prefix in (("core (in scope)", "llmgateway.core"), ("metrics", "llmgateway.metrics"),
                          ("adapters' translation functions", "(translation)")):  # fmt: skip
        picked = [c for g, c in counts.items() if g.startswith(prefix) or g.endswith(prefix)]
        total = sum(sum(c.values()) for c in picked)
        killed = sum(c[s] for c in picked for s in KILLED)
        if total:
            print(f"| **{label}** | {total} | {killed} | {sum(c['survived'] for c in picked)} | "
                  f"{sum(c['no tests'] for c in picked)} | **{killed / total:.1%}** |")  # fmt: skip
    total = sum(totals.values())
    killed = sum(totals[s] for s in KILLED)
    print(f"| **all** | {total} | {killed} | {totals['survived']} | {totals['no tests']} | **{killed / total:.1%}** |")


if __name__ == "__main__":
    main()
