#!/bin/sh
# A command handler (README, "Command handlers"): the message source arrives on stdin, its
# metadata in MAILPOLL_* variables; the last line printed is the decision.
#
#   command: ["./handle.sh"]
set -eu

# Save the message where another tool picks it up; a failure here (set -e) fails the message.
queue=${QUEUE_DIR:-./queue}
mkdir -p "$queue"
cat > "$queue/$MAILPOLL_ACCOUNT-$MAILPOLL_UID.eml"

# Anything written to stderr shows in mailpoll's output as "[account] ...".
echo "queued $MAILPOLL_SUBJECT from $MAILPOLL_FROM" >&2

case "$MAILPOLL_SUBJECT" in
  *unsubscribe*) echo 3 ;;              # delete, nothing follows
  Invoice*) echo "move:Invoices" ;;     # move there
  *) ;;                                 # print nothing: the account's `after`
esac
