"""LLMstudio's own client flows against a gateway, run by tests/test_llmstudio_client.py in a
virtual environment of their own (llmstudio 1.0.6, llmstudio-proxy 1.0.6 and
llmstudio-tracker 1.1.1 pin openai<2 and fastapi<0.116, which the gateway's do not allow).

    python tests/llmstudio_flows.py HOST PORT  ->  one JSON object of what each flow saw
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


def main(host: str, port: str) -> dict[str, Any]:
    from llmstudio.providers import LLM, ProxyConfig, TrackingConfig
    from llmstudio_tracker.prompt_manager.manager import PromptManager
    from llmstudio_tracker.prompt_manager.schemas import PromptDefault
    from llmstudio_tracker.tracker import Tracker

    proxy = ProxyConfig(host=host, port=port)
    tracking = TrackingConfig(host=host, port=int(port))
    llm = LLM("openai", proxy_config=proxy, tracking_config=tracking, session_id="llmstudio-flow")
    seen: dict[str, Any] = {}

    answer = llm.chat("Hello from chat", model="gpt-4o-mini")
    seen["chat"] = {"text": answer.chat_output, "model": answer.model, "deployment": answer.deployment,
                    "id": answer.id, "latency_s": answer.metrics["latency_s"]}  # fmt: skip

    answer = asyncio.run(llm.achat("Hello from achat", model="gpt-4o-mini"))
    seen["achat"] = {"text": answer.chat_output, "id": answer.id}

    chunks = list(llm.chat("Hello from a stream", model="gpt-4o-mini", is_stream=True))
    last = chunks[-1]
    seen["stream"] = {
        "chunks": len(chunks),
        "text": "".join(chunk.chat_output_stream or "" for chunk in chunks),
        "last_chat_output": last.chat_output,
        "last_metrics": dict(last.metrics),
        "models": sorted({chunk.model for chunk in chunks}),
        "id": last.id,
    }

    async def astream() -> list[Any]:
        stream = await llm.achat("Hello from an async stream", model="gpt-4o-mini", is_stream=True)
        return [chunk async for chunk in stream]

    chunks = asyncio.run(astream())
    seen["astream"] = {"text": "".join(chunk.chat_output_stream or "" for chunk in chunks),
                       "last_metrics": dict(chunks[-1].metrics)}  # fmt: skip

    tracker = Tracker(tracking_config=tracking)
    logs = tracker.get_session_logs("llmstudio-flow").json()
    seen["session_logs"] = [{"log_id": row["log_id"], "chat_input": row["chat_input"], "model": row["model"],
                             "deployment": row["deployment"], "metrics": row["metrics"], "id": row.get("id"),
                             "created_at": row["created_at"]} for row in logs]  # fmt: skip

    session = tracker.update_session({"session_id": "llmstudio-flow", "chat_history": [{"role": "user", "content": "hi"}],
                                      "extras": {"rating": 1}}).json()  # fmt: skip
    extras = tracker._session.patch(  # what Tracker.add_extras means to send: the extras as the body
        f"{tracker.tracking_url}/api/tracking/session/{session['message_id']}", json={"rating": 5}, timeout=30
    ).json()
    seen["sessions"] = {"added": session, "patched": extras, "listed": tracker.get_session("llmstudio-flow").json()}

    prompts = PromptManager(tracking)
    first = prompts.add_prompt(PromptDefault(name="greeting", model="gpt-4o-mini", provider="openai",
                                             prompt="Say hello", is_active=True)).json()  # fmt: skip
    second = prompts.add_prompt(PromptDefault(name="greeting", model="gpt-4o-mini", provider="openai",
                                              prompt="Say hello warmly", is_active=True)).json()  # fmt: skip
    active = prompts.get_prompt(name="greeting", model="gpt-4o-mini", provider="openai").json()
    by_id = prompts.get_prompt(prompt_id=first["prompt_id"]).json()
    updated = prompts.update_prompt(PromptDefault(**{**second, "prompt": "Say hi", "updated_at": None,
                                                     "created_at": None})).json()  # fmt: skip
    deleted = prompts.delete_prompt(PromptDefault(prompt_id=first["prompt_id"])).status_code
    gone = prompts.get_prompt(prompt_id=first["prompt_id"]).json()
    seen["prompts"] = {"first": first, "second": second, "active": active, "by_id": by_id, "updated": updated,
                       "deleted": deleted, "gone": gone}  # fmt: skip

    from llmstudio.langchain import ChatLLMstudio

    chat_model = ChatLLMstudio(llm=LLM("openai", proxy_config=proxy), model="gpt-4o-mini")
    seen["langchain"] = {"text": chat_model.invoke("Hello from LangChain").content}
    return seen


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), default=str))
