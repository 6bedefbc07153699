"""`python -m jointcast` is the `jointcast` command."""

from jointcast.cli import main

main()
