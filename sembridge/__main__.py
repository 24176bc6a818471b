"""``python -m sembridge`` runs the CLI (also under ``torchrun``)."""

from sembridge.cli.app import main

if __name__ == "__main__":
    main()
