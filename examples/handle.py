#!/usr/bin/env python3
"""A command handler (README, "Command handlers") in Python.

    command: ["./handle.py", "--queue", "support"]

The message source arrives on stdin, its metadata in MAILPOLL_* variables; the last line
printed is the decision. Exit 75 asks for the message to be tried again by the next run
(not counted towards maxAttempts); any other non-zero exit is a failure.
"""
import email
import email.policy
import json
import os
import sys

queue = sys.argv[sys.argv.index("--queue") + 1] if "--queue" in sys.argv else "default"
message = email.message_from_binary_file(sys.stdin.buffer, policy=email.policy.default)

if os.environ.get("MAILPOLL_DRY_RUN") == "1":
    print(f"dry run: would file {os.environ['MAILPOLL_REF'] or 'a message'} in {queue}", file=sys.stderr)

body = message.get_body(preferencelist=("plain", "html"))
text = body.get_content() if body is not None else ""
if not text.strip():
    print("empty message: deleting it", file=sys.stderr)
    print("delete")
    sys.exit(0)

# ... create the ticket in `queue` here; if its system is down: sys.exit(75)
print(f"filed in {queue}: {os.environ['MAILPOLL_SUBJECT']}", file=sys.stderr)
print(json.dumps({"action": "markSeen", "transition": True}))
