"""Nextion settings and the HMI layout the driver expects, as data.

The layout must match the ``.HMI`` project flashed on the display: page names and ids,
component names and ids (the ids are what touch events carry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from devices.config import DeviceConfig
from devices.transport import SerialSettings


@dataclass(frozen=True)
class PageLayout:
    """One page: its name, id and components ``{name: id}``."""

    name: str
    page_id: int
    components: tuple[tuple[str, int], ...]

    def component_id(self, name: str) -> int:
        """Return the id of component ``name``."""
        return dict(self.components)[name]


@dataclass(frozen=True)
class NextionLayout:
    """The pages the agent uses: a message page, the 3-choice page and the basket page."""

    message: PageLayout = PageLayout("home", 0, (("t0", 1), ("t1", 2)))
    choices: PageLayout = PageLayout("choices", 1, (("t0", 1), ("b0", 2), ("b1", 3), ("b2", 4)))
    basket: PageLayout = PageLayout("basket", 2, (("t0", 1), ("t1", 2), ("t2", 3), ("t3", 4), ("t4", 5), ("n0", 6)))
    choice_buttons: tuple[str, ...] = ("b0", "b1", "b2")
    choice_on_press: bool = True

    @property
    def pages(self) -> tuple[PageLayout, ...]:
        """Return every page."""
        return (self.message, self.choices, self.basket)


@dataclass(frozen=True)
class NextionProfile:
    """Line settings, timing and layout of one Nextion display."""

    name: str = "nextion"
    serial: SerialSettings = field(default_factory=SerialSettings)
    encoding: str = "iso-8859-1"
    reply_timeout_s: float = 0.5
    layout: NextionLayout = field(default_factory=NextionLayout)


NEXTION_9600 = NextionProfile()
NEXTION_115200 = NextionProfile(name="nextion-115200", serial=SerialSettings(baudrate=115200))


class NextionConfig(DeviceConfig):
    """A Nextion touch display as the customer screen."""

    type: Literal["nextion"] = "nextion"
