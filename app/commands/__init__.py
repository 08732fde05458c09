"""Sub-command groups of the ``percept`` CLI; each module exposes ``app`` (a typer.Typer) and ``NAME``."""

# Modules listed here are mounted by app.cli as ``percept <NAME> ...`` when they import.
COMMAND_MODULES = (
    "app.commands.models",
    "app.commands.eval",
    "app.commands.action",
    "app.commands.calibrate",
    "app.commands.stereo",
    "app.commands.batch",
)
