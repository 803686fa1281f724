"""Live order tracking for Django shops over Server-Sent Events.

This module imports nothing from Django, so that ``tracking.client`` can be used by
programs that do not have Django installed.
"""
