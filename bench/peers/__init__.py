"""Small apps the benchmark runs as peers, each in its own virtual environment.

They are started as separate processes with ``bench/peers`` on ``sys.path``; nothing
in the harness imports them.
"""
