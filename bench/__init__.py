"""Side-by-side benchmark of our order-tracking server and its peers.

Run it with ``python -m bench``; ``python -m bench --help`` lists the flags. Nothing
here is imported by the product: the harness only talks to servers over loopback
sockets and, for our own server, through the adapter in ``bench.servers.tracking``.
"""
