"""`python -m lars_service <command>`: the command line (`cli/`)."""
from lars_service.cli import run

if __name__ == "__main__":
    run()
