"""The shipped tokenizer files: genuine, verified, and identical to tiktoken's encodings."""

from __future__ import annotations

import gc
import hashlib
import inspect
import shutil
import tracemalloc
from importlib import resources

import pytest

from llmgateway.errors import ConfigurationError
from llmgateway.metrics import tokens
from llmgateway.metrics.tokens import available_encodings, count_message_tokens, count_text_tokens, encoding

SAMPLES = [
    "hello world",
    "Hello! I am an emulated assistant. How can I help you today?",
    "Ünïcödé, 日本語のテキスト, emoji 🚀 and code: def f(x): return x**2\n\n\tindented",
    "<|endoftext|> is text here, not a special token",
]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_shipped_file_has_the_hash_tiktoken_pins(name: str) -> None:
    import tiktoken_ext.openai_public as public

    pinned = tokens._ENCODINGS[name][0]
    assert pinned in inspect.getsource(getattr(public, name))
    data = resources.files("llmgateway.metrics").joinpath("encodings", f"{name}.tiktoken").read_bytes()
    assert hashlib.sha256(data).hexdigest() == pinned


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_encoding_equals_tiktokens_own(name: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tiktoken's own constructor, fed the shipped file through its cache, encodes the same."""
    import tiktoken_ext.openai_public as public

    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    source = resources.files("llmgateway.metrics").joinpath("encodings", f"{name}.tiktoken")
    with resources.as_file(source) as path:
        shutil.copy(path, tmp_path / hashlib.sha1(url.encode()).hexdigest())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    import tiktoken

    spec = getattr(public, name)()
    reference = tiktoken.Encoding(
        name=spec["name"], pat_str=spec["pat_str"], mergeable_ranks=spec["mergeable_ranks"], special_tokens=spec["special_tokens"]
    )
    ours = encoding(name)
    assert ours.n_vocab == reference.n_vocab
    for text in SAMPLES:
        assert ours.encode(text, disallowed_special=()) == reference.encode(text, disallowed_special=())


def test_known_token_ids() -> None:
    assert encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert encoding("o200k_base").encode("hello world") == [24912, 2375]


def test_counting_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading never reaches for a URL: any attempt to fetch fails the test."""
    import tiktoken.load

    def no_network(*_args, **_kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    tokens._encoding_unlocked.cache_clear()
    assert count_text_tokens("hello world", "o200k_base") == 2


def test_corrupt_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tokens._ENCODINGS, "cl100k_base", ("0" * 64, *tokens._ENCODINGS["cl100k_base"][1:]))
    tokens._encoding_unlocked.cache_clear()
    with pytest.raises(ConfigurationError, match="corrupt"):
        encoding("cl100k_base")
    monkeypatch.undo()
    tokens._encoding_unlocked.cache_clear()


def test_message_counting_follows_openais_accounting() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello world"}]
    enc = encoding("o200k_base")
    expected = 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in messages)
    assert count_message_tokens(messages, "o200k_base") == expected
    assert set(available_encodings()) == {"cl100k_base", "o200k_base"}


def test_a_loaded_tokenizer_holds_no_python_copy_of_its_ranks() -> None:
    """o200k_base's 200k ranks as a Python dict weigh ~30 MiB; the tokenizer (Rust) has its
    own tables, so a process that estimated one count must not keep the dict for good."""
    tokens._encoding_unlocked.cache_clear()
    tracemalloc.start()
    try:
        loaded = encoding("o200k_base")
        gc.collect()
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded.encode("hello world") == [24912, 2375]
    assert held < 4 * 2**20, f"the loaded tokenizer holds {held / 2**20:.1f} MiB of Python objects"
