"""actguard for the OpenAI Agents SDK."""

from __future__ import annotations
