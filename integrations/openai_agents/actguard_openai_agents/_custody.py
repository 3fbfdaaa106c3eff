"""custody_guardrail: chain-of-custody rules as a tool input guardrail (openai-agents >= 0.3.3)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import actguard
from actguard.exceptions import ConfigError, GuardError
from actguard_openai_agents._compat import AGENTS_VERSION, HAS_TOOL_GUARDRAILS

__all__ = ["custody_guardrail"]

_MAX_TOOLS = 1024  # checkers kept per guardrail, one per tool name it guards


def custody_guardrail(rules: Sequence[Any] | Any, *, name: str = "actguard_custody") -> Any:
    """A ``ToolInputGuardrail`` that checks a tool call's arguments against chain-of-custody rules before it runs.

    The same check as ``guard_tool(tool, enforce=rules)``, in the SDK's own tool-guardrail form, for tools you
    would rather not wrap: ``function_tool(delete_order, tool_input_guardrails=[custody_guardrail(rules)])``.
    A refused call does not run and the model gets the refusal (``GuardError.to_prompt()``) as the tool's output.
    Rules read the call's JSON arguments by name; outside an :func:`actguard.session` every call is refused.

    Args:
        rules: a :class:`~actguard.Rule` (``RequireFact``, ``Threshold``, ``BlockRegex``...) or a list of them.
        name: the guardrail's name in results and traces.

    Raises:
        ConfigError: when the installed openai-agents has no tool guardrails (before 0.3.3), or for bad rules.
    """
    if not HAS_TOOL_GUARDRAILS:
        raise ConfigError(
            f"custody_guardrail needs openai-agents >= 0.3.3 (tool guardrails); {AGENTS_VERSION} is installed. "
            "Use guard_tool(tool, enforce=rules) instead."
        )
    from agents import ToolGuardrailFunctionOutput, ToolInputGuardrail  # type: ignore[attr-defined,unused-ignore]

    if not isinstance(name, str) or not name:
        raise ConfigError(f"custody_guardrail(name=...) must be a non-empty str, got {name!r}")
    validate = actguard.enforce(rules)  # raises ConfigError for bad rules now
    checkers: dict[str, Callable[..., Any]] = {}

    def checker(tool_name: str) -> Callable[..., Any]:
        check = checkers.get(tool_name)
        if check is None:

            async def allowed(**kwargs: Any) -> None:
                return None

            allowed.__name__ = allowed.__qualname__ = tool_name
            allowed.__module__ = "agents.tool"
            check = validate(allowed)
            if len(checkers) >= _MAX_TOOLS:
                checkers.pop(next(iter(checkers)))
            checkers[tool_name] = check
        return check

    async def check_custody(data: Any) -> Any:
        context = data.context
        try:
            args = json.loads(context.tool_arguments or "{}")
        except ValueError:
            args = None
        if not isinstance(args, dict):
            return ToolGuardrailFunctionOutput.allow()  # the SDK reports malformed arguments itself
        try:
            await checker(context.tool_name)(**args)
        except GuardError as error:
            return ToolGuardrailFunctionOutput.reject_content(error.to_prompt(), output_info=error)
        return ToolGuardrailFunctionOutput.allow()

    return ToolInputGuardrail(guardrail_function=check_custody, name=name)
