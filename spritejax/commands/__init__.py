"""The `spritejax` commands: one module per command with `add_arguments(parser)` and `run(args) -> int`.

They turn flags into calls of the library (which takes plain arguments, never argparse) and print the result;
`spritejax.cli` imports only the module of the command being run.
"""
