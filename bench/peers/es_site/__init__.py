"""django-eventstream set up as its README says, plus a publish hook.

``send_event`` reaches only listeners in the process that calls it (the README says
so), so the harness publishes through a view in the server process rather than from
a separate script.
"""
