"""A local emulator of the Azure APIs aifinops reads, for tests and the demo (no Azure account needed)."""

from __future__ import annotations

from aifinops.emulator.app import create_emulator
from aifinops.emulator.exports import ExportRun, put_export_run
from aifinops.emulator.state import COGNITIVE_SERVICES_METRICS, EmulatedBlob, EmulatorState, Fault
from aifinops.emulator.transport import SyncASGITransport, azure_transport

__all__ = [
    "COGNITIVE_SERVICES_METRICS",
    "EmulatedBlob",
    "EmulatorState",
    "ExportRun",
    "Fault",
    "SyncASGITransport",
    "azure_transport",
    "create_emulator",
    "put_export_run",
]
