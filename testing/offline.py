"""A Python prelude for subprocesses that must work without a network: every connection attempt fails loudly."""
from __future__ import annotations

REFUSE_NETWORK = r"""
import socket
def refuse(*args, **kwargs):
    raise AssertionError("network use: %r" % (args,))
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
import tiktoken.load
tiktoken.load.read_file = refuse  # tiktoken's own downloader must not be reached
"""
