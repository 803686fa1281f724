"""A hand-written Django async streaming view fed from an in-process hub.

This is the peer a Django developer would write without a library:
``StreamingHttpResponse`` over an async generator, the default middleware of
``startproject``, and events fanned out in memory to asyncio queues.
"""
