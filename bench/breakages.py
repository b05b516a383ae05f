"""Break a documented behaviour in the code, one at a time, and run the tests that should
notice: each breakage must turn at least one of them red. Run from the repository root:

    .venv/bin/python bench/breakages.py            # all of them
    .venv/bin/python bench/breakages.py retry-after # one

Each breakage is a textual edit of one source file, undone after its run whatever happens.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SRC = Path("src/llmgateway")


@dataclass(frozen=True)
class Breakage:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


BREAKAGES = [
    Breakage("retry-after", "core/attempts.py", 'retry_after = error.headers.get("Retry-After")', "retry_after = None",
             ("tests/test_resilience.py",)),
    Breakage("route-fallbacks", "core/gateway.py", "(*route.fallbacks, *chat.fallbacks)", "(*chat.fallbacks,)",
             ("tests/test_resilience.py",)),
    Breakage("cooldown-never-expires", "core/cooldown.py", "if self._clock() >= until:", "if False:",
             ("tests/test_resilience.py",)),
    Breakage("anthropic-tool-choice", "providers/anthropic.py", "    if mode is not None:\n        body[\"tool_choice\"]",
             "    if False:\n        body[\"tool_choice\"]", ("tests/test_vendor_translation.py",)),
    Breakage("gemini-tool-choice", "providers/google.py", "    if mode is not None:\n        calling",
             "    if False:\n        calling", ("tests/test_vendor_translation.py",)),
    Breakage("bedrock-tool-choice", "providers/bedrock.py", 'if mode in ("auto", "required", "function"):', "if False:",
             ("tests/test_vendor_translation.py",)),
    Breakage("ollama-tool-choice", "providers/ollama.py", 'if not request.tools or request.tool_choice == "none":',
             "if not request.tools:", ("tests/test_vendor_translation.py",)),
    Breakage("json-object-as-text", "providers/messages.py", 'return "json_object", None', "return None",
             ("tests/test_vendor_translation.py",)),
    Breakage("image-urls-dropped", "providers/messages.py",
             'if url.startswith(("http://", "https://")):\n        return Image(url=url)',
             'if url.startswith(("http://", "https://")):\n        return Image(data="", media_type="image/png")',
             ("tests/test_vendor_translation.py",)),
    Breakage("metrics-open", "api/access.py", 'OPEN_PATHS = frozenset({"/health", "/dashboard"})',
             'OPEN_PATHS = frozenset({"/health", "/dashboard", "/metrics"})', ("tests/test_resilience.py",)),
    Breakage("otel-always-on", "observability/tracing.py", "    if not enabled:\n", "    if False:\n",
             ("tests/test_observability.py",)),
    Breakage("otel-always-off", "observability/tracing.py", "    if not enabled:\n", "    if True:\n",
             ("tests/test_observability.py",)),
    Breakage("default-retries-ignored", "core/gateway.py",
             "retries=self.settings.default_retries if chat.retries is None else chat.retries",
             "retries=0 if chat.retries is None else chat.retries", ("tests/test_resilience.py",)),
    Breakage("anthropic-stream-false", "providers/anthropic.py", '"stream": True,', '"stream": False,',
             ("tests/test_anthropic_specifics.py", "tests/test_vendor_translation.py")),
    Breakage("gemini-assistant-role", "providers/google.py", 'assistant="model"', 'assistant="assistant"',
             ("tests/test_vendor_translation.py",)),
]


def run(breakage: Breakage) -> str | None:
    """The first test the breakage turned red, or None when none went red."""
    path = SRC / breakage.path
    original = path.read_text()
    if original.count(breakage.old) != 1:
        raise SystemExit(f"{breakage.name}: the text to break is not found once in {path}")
    path.write_text(original.replace(breakage.old, breakage.new))
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:randomly", *breakage.tests],
                                capture_output=True, text=True)  # fmt: skip
    finally:
        path.write_text(original)
    if result.returncode == 0:
        return None
    failed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    return failed[0] if failed else f"pytest exit {result.returncode}"


def main(names: list[str]) -> int:
    chosen = [b for b in BREAKAGES if not names or b.name in names]
    survivors = []
    for breakage in chosen:
        caught_by = run(breakage)
        print(f"{breakage.name:28} {'caught by ' + caught_by if caught_by else 'SURVIVED'}", flush=True)
        if caught_by is None:
            survivors.append(breakage.name)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} breakages caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
