"""Decisions, offers, funding and repayment events, and what the engine learns from them.

Empty until the institution-side and learning issues land.
"""
