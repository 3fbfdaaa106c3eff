"""Every OpenTelemetry name actguard writes, in one place (the table in :mod:`actguard.otel` documents them).

Three sources, kept apart so a rename in a proposal is a one-line change here:

- the GenAI semantic conventions (``gen_ai.*``; all of them still at "development" stability, these ones long
  established and implemented by most GenAI instrumentations) and the general registry (``user.id``);
- open proposals in open-telemetry/semantic-conventions-genai: pull request 443 (``gen_ai.usage.cost.*``) and pull
  request 427 (``run_guardrail`` spans, ``gen_ai.security.*``);
- actguard's own ``actguard.*`` names, where neither has one.
"""

from __future__ import annotations

# -- GenAI semantic conventions ------------------------------------------------------------------------------------
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
TOOL_NAME = "gen_ai.tool.name"
TOKEN_TYPE = "gen_ai.token.type"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
TOKEN_USAGE = "gen_ai.client.token.usage"
# The bucket boundaries the conventions give for gen_ai.client.token.usage.
TOKEN_USAGE_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
USER_ID = "user.id"

# -- open proposal: cost (semantic-conventions-genai pull request 443) --------------------------------------------
COST_AMOUNT = "gen_ai.usage.cost.amount"
COST_CURRENCY = "gen_ai.usage.cost.currency"
COST_SOURCE = "gen_ai.usage.cost.source"

# -- open proposal: guardrails (semantic-conventions-genai pull request 427) --------------------------------------
GUARDRAIL_SPAN_PREFIX = "run_guardrail"
GUARDRAIL_NAME = "gen_ai.security.guardrail.name"
GUARDRAIL_TARGET_TYPE = "gen_ai.security.target.type"
GUARDRAIL_ACTION_TYPE = "gen_ai.security.action.type"

# -- actguard's own -----------------------------------------------------------------------------------------------
GUARD_KIND = "actguard.guard.kind"
GUARD_DECISION = "actguard.guard.decision"
GUARD_OUTCOME = "actguard.guard.outcome"
GUARD_REASON = "actguard.guard.reason"
EVENT = "actguard.event"
RUN_ID = "actguard.run.id"
LLM_CALLS = "actguard.llm_calls"
SPEND = "actguard.spend"
DECISIONS = "actguard.guard.decisions"

# actguard's provider names -> gen_ai.provider.name values (others pass through unchanged).
PROVIDERS = {"google": "gcp.gen_ai"}
# gen_ai.operation.name of a metered call, by provider: Gemini's API is generate_content, the others are chat.
OPERATIONS = {"google": "generate_content"}
