"""The Percept application: command line, Qt UI and overlay drawing."""
