"""Serve the Azure emulator on a local port: ``python -m aifinops.emulator --port 8765``."""

from __future__ import annotations

import argparse

import uvicorn

from aifinops.emulator import EmulatorState, create_emulator


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve an empty emulator until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m aifinops.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    args = parser.parse_args(argv)
    uvicorn.run(create_emulator(EmulatorState()), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
