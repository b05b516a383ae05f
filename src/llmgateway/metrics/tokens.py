"""Token estimates for providers that report no usage, with no network at run time.

tiktoken downloads its BPE files on first use, which fails offline and on air-gapped
servers. The genuine `cl100k_base` and `o200k_base` files ship in this package
(metrics/encodings/) and are checked against the same sha256 that tiktoken pins before use.
Counts made here are estimates, and the response says so.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Iterable

from llmgateway.errors import ConfigurationError
from llmgateway.vocabulary.requests import message_text

if TYPE_CHECKING:  # imported on the first estimate: a process that never estimates saves its 1.4 MiB
    import tiktoken

_ENDOFTEXT = "<|endoftext|>"
_ENDOFPROMPT = "<|endofprompt|>"

# name -> (sha256 pinned by tiktoken_ext.openai_public, pattern, special tokens)
_ENCODINGS: dict[str, tuple[str, str, dict[str, int]]] = {
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        {
            _ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
}

# OpenAI's published accounting of the chat format around each message.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_TOKENS_PRIMING_REPLY = 3

_load_lock = threading.Lock()


def available_encodings() -> list[str]:
    return list(_ENCODINGS)


@lru_cache(maxsize=None)
def _encoding_unlocked(name: str) -> tiktoken.Encoding:
    try:
        expected_sha256, pattern, special_tokens = _ENCODINGS[name]
    except KeyError:
        raise ConfigurationError(f"unknown tokenizer {name!r}; shipped: {', '.join(_ENCODINGS)}") from None
    data = resources.files("llmgateway.metrics").joinpath("encodings", f"{name}.tiktoken").read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ConfigurationError(f"the shipped {name} file is corrupt: sha256 {actual}, expected {expected_sha256}")
    ranks = _ranks(data)
    import tiktoken

    loaded = tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special_tokens)
    # The Encoding keeps the ranks only to pickle itself, which the gateway never does: its
    # (Rust) tokenizer has copied them. Emptied, they stop holding ~30 MiB for o200k_base in
    # every process that ever estimated a count.
    ranks.clear()
    return loaded


def _ranks(data: bytes) -> dict[bytes, int]:
    """A .tiktoken file's `base64-token rank` lines, read one at a time (no list of 200k lines)."""
    ranks: dict[bytes, int] = {}
    for line in io.BytesIO(data):
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, loaded and verified once per process."""
    with _load_lock:
        return _encoding_unlocked(name)


def count_text_tokens(text: str, encoding_name: str) -> int:
    return len(encoding(encoding_name).encode(text, disallowed_special=()))


def count_message_tokens(messages: Iterable[dict[str, Any]], encoding_name: str) -> int:
    """Input tokens of a chat prompt, counted the way OpenAI documents for its chat models."""
    enc = encoding(encoding_name)
    total = _TOKENS_PRIMING_REPLY
    for message in messages:
        total += _TOKENS_PER_MESSAGE
        total += len(enc.encode(message.get("role", ""), disallowed_special=()))
        total += len(enc.encode(message_text(message), disallowed_special=()))
        if message.get("name"):
            total += _TOKENS_PER_NAME + len(enc.encode(message["name"], disallowed_special=()))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            total += len(enc.encode(function.get("name", "") + function.get("arguments", ""), disallowed_special=()))
    return total
