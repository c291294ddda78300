//! The command-line interface: clap definitions and one thin function per subcommand.
