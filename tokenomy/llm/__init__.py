"""Chat-model clients behind one protocol: OpenAI-compatible HTTP, scripted, record and replay.

>>> from tokenomy.llm import ChatMessage, ChatRequest, ScriptedChat
>>> from tokenomy.llm.rules import echo_rule
>>> chat = ScriptedChat(echo_rule)
>>> chat.complete(ChatRequest((ChatMessage("user", "hello"),))).text
'hello'

Backends: :class:`OpenAIChat` (any OpenAI-compatible server, via the official SDK),
:class:`ScriptedChat` (a rule in-process), :class:`RecordingChat` / :class:`ReplayChat`
(JSON-lines transcripts), built from a :class:`BackendSpec` by :func:`build_chat_model`.
:func:`complete_structured` asks for JSON following a pydantic model and repairs bad answers.
:mod:`.testserver` is an OpenAI-compatible server answering from a rule.
"""

from tokenomy.llm.errors import LLMError, ReplayMismatchError, StructuredOutputError
from tokenomy.llm.factory import BackendSpec, build_chat_model
from tokenomy.llm.openai_backend import OpenAIChat
from tokenomy.llm.protocol import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    ChatResponse,
    Usage,
    close_model,
    estimated_usage,
)
from tokenomy.llm.recording import RecordingChat, ReplayChat, read_transcript
from tokenomy.llm.scripted import ScriptedChat
from tokenomy.llm.settings import LLMSettings
from tokenomy.llm.structured import StructuredResult, complete_structured, extract_json

__all__ = [
    "BackendSpec",
    "ChatMessage",
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "LLMError",
    "LLMSettings",
    "OpenAIChat",
    "RecordingChat",
    "ReplayChat",
    "ReplayMismatchError",
    "ScriptedChat",
    "StructuredOutputError",
    "StructuredResult",
    "Usage",
    "build_chat_model",
    "close_model",
    "complete_structured",
    "estimated_usage",
    "extract_json",
    "read_transcript",
]
