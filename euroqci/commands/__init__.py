"""Command-line subcommands: thin shells over the library, one module each."""
