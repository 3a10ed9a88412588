"""Simulated checkout stations on ptys, in any hardware combination (tests and the demo).

``StationSims.pole_only(root)`` is a station with only a pole display and a scanner: it pays by the
shopper scanning the pay code printed on the station (or showing their member code again).
``settings()`` returns the station's ``[[checkout.stations]]`` section for the agent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from devices.escpos.simulator import EscposSimulator
from devices.mtsics.simulator import MtSicsSimulator
from devices.nextion.simulator import NextionSimulator
from devices.pty import PtySimulatorHost
from devices.scanner.simulator import ScannerSimulator
from devices.wiegand.simulator import WiegandSimulator

ScreenKind = Literal["nextion", "escpos"]


class StationSims:
    """A scale plus an optional touch screen or pole display, scanner and keypad, each on a pty."""

    def __init__(
        self,
        root: Path,
        station_id: str = "co1",
        *,
        screen: ScreenKind | None = "nextion",
        scanner: bool = True,
        keypad: bool = False,
        pay_codes: bool = False,
    ) -> None:
        """Start the simulators; ``pay_codes`` gives the station printed pay and cancel codes."""
        self.station_id = station_id
        self.pay_code = f"PAY-{station_id}" if pay_codes else None
        self.cancel_code = f"CANCEL-{station_id}" if pay_codes else None
        self.scale = MtSicsSimulator()
        self.hosts: dict[str, PtySimulatorHost] = {
            "scale": PtySimulatorHost(self.scale, root / f"tty-{station_id}-scale").start()
        }
        self.touch: NextionSimulator | None = None
        self.pole: EscposSimulator | None = None
        self.scanner: ScannerSimulator | None = None
        self.keypad: WiegandSimulator | None = None
        try:
            if screen == "nextion":
                self.touch = NextionSimulator()
                self._host("screen", self.touch, root)
            elif screen == "escpos":
                self.pole = EscposSimulator()
                self._host("screen", self.pole, root)
            if scanner:
                self.scanner = ScannerSimulator()
                self._host("scanner", self.scanner, root)
            if keypad:
                self.keypad = WiegandSimulator(key_bits=8)
                self._host("keypad", self.keypad, root)
        except Exception:
            self.stop()
            raise

    @classmethod
    def pole_only(cls, root: Path, station_id: str = "co1") -> StationSims:
        """Return a station with only a pole display and a scanner, paying by its printed pay code."""
        return cls(root, station_id, screen="escpos", pay_codes=True)

    def _host(self, name: str, sim: Any, root: Path) -> None:
        self.hosts[name] = PtySimulatorHost(sim, root / f"tty-{self.station_id}-{name}").start()

    def settings(self) -> dict[str, Any]:
        """Return the station's agent settings (TOML-shaped)."""
        out: dict[str, Any] = {
            "station_id": self.station_id,
            "scale": {"type": "mtsics", "url": self.hosts["scale"].path},
        }
        if self.touch is not None or self.pole is not None:
            out["screen"] = {"type": "nextion" if self.touch else "escpos", "url": self.hosts["screen"].path}
        if self.scanner is not None:
            out["scanner"] = {"url": self.hosts["scanner"].path}
        if self.keypad is not None:
            out["keypad"] = {"type": "keypad", "url": self.hosts["keypad"].path}
        if self.pay_code is not None and self.cancel_code is not None:
            out["pay_codes"], out["cancel_codes"] = [self.pay_code], [self.cancel_code]
        return out

    def scan(self, text: str) -> None:
        """Scan a code at the station."""
        if self.scanner is None:
            raise RuntimeError(f"station {self.station_id} has no scanner")
        self.scanner.scan(text)

    def pay(self) -> None:
        """Confirm payment with what the station has: touch, the keypad's #, or the printed pay code."""
        if self.touch is not None:
            self.touch.touch("t4")
        elif self.keypad is not None:
            self.keypad.keys("#")
        elif self.pay_code is not None:
            self.scan(self.pay_code)
        else:
            raise RuntimeError(f"station {self.station_id}: pay by showing the member code again")

    def display(self) -> str:
        """Return what the station's screen shows (text, lines joined)."""
        if self.pole is not None:
            return " ".join(line.strip() for line in self.pole.lines)
        if self.touch is not None:
            return " ".join(str(self.touch.value(c, page=p) or "") for p, c in (("home", "t0"), ("basket", "t0")))
        return ""

    def stop(self) -> None:
        """Stop every simulator."""
        for host in self.hosts.values():
            host.stop()
