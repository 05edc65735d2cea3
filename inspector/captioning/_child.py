"""Entry point of the caption process: ``python -m inspector.captioning._child`` (see :mod:`.worker`)."""

if __name__ == "__main__":
    from inspector.captioning.worker import main

    raise SystemExit(main())
