"""Routing an application to the few products most likely to approve it.

Empty until the routing issue lands: eligibility over compiled catalogue arrays, approval
odds, OR-Tools-checked selection and the routing trace will live here.
"""
