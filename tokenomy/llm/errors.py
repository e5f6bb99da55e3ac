"""Errors of the chat-model layer (all :class:`~tokenomy.errors.TokenomyError`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenomy.errors import TokenomyError

if TYPE_CHECKING:
    from tokenomy.llm.protocol import ChatResponse


class LLMError(TokenomyError):
    """A chat-model call failed for good (a 4xx answer, or transient failures past the retries).

    Attributes:
        status: the HTTP status, or None for a connection failure or timeout.
        server_message: what the server said (or the transport error).
    """

    def __init__(
        self, message: str, *, status: int | None = None, server_message: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class StructuredOutputError(TokenomyError):
    """A model did not produce a valid structured answer within the repair attempts.

    Attributes:
        text: the last answer.
        error: why it was not valid.
        responses: every response made (their usage must still be paid for).
    """

    def __init__(self, text: str, error: str, responses: list[ChatResponse]) -> None:
        short = text if len(text) <= 200 else text[:197] + "..."
        super().__init__(
            f"no valid structured answer after {len(responses)} attempt(s): {error}; "
            f"last answer: {short!r}"
        )
        self.text = text
        self.error = error
        self.responses = responses


class ReplayMismatchError(TokenomyError):
    """A replayed call has no record, or its prompt differs from the recorded one."""
