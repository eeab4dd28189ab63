"""What a testbed seam is, for both sides: declared points where a negative control may act.

A testbed is worth what it catches, so the scenarios run toys and clouds that break a rule on
purpose (scenarios/variants, scenarios/violators, the mutants). They change the program only
at points each side declares in one module (cloud/seam.py, device/seam.py): a point is a
method of that side's `Seam` subclass, documented there, and the function behind it is marked
with the class's `point("name")`. A broken program is a subclass overriding the points it needs.

Each point method receives the honest function first, then the call's own arguments; the
defaults call it unchanged, so the base class is the real program. With no seam installed
(production, always) a marked function runs as written, at the cost of one extra call.

A seam cannot be switched on by accident: `install` wants `testbed=True` spelt out, nothing
installs one on import, and no command-line option, environment variable or config key reaches
it (tests/test_seams.py). `refuse_outside_testbed` stops a program whose seam was set any
other way, and announces an installed one on stderr, so a broken program is never mistaken
for the real one.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

Function = TypeVar("Function", bound=Callable[..., Any])
Honest = Callable[..., Any]


class SeamError(RuntimeError):
    """A seam used outside the testbed, or a point that is not declared."""


class Seam:
    """Base of one side's declared seam; the subclass's public methods are its points."""

    side: ClassVar[str] = "program"
    _installed: ClassVar[Seam | None] = None
    _for_testbed: ClassVar[bool] = False

    def describe(self) -> str:
        return type(self).__name__

    @classmethod
    def declared_points(cls) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_")
                and callable(getattr(cls, name)) and name != "describe"}

    @classmethod
    def install(cls, seam: Seam, *, testbed: bool) -> None:
        """Make every marked function of this side consult `seam`, in this process and the
        workers it forks. For the testbed's negative controls only: `testbed=True`."""
        if testbed is not True:
            raise SeamError(f"a {cls.side} seam is for the testbed's negative controls: "
                            "install(seam, testbed=True)")
        if not isinstance(seam, cls):
            raise SeamError(f"{type(seam).__name__} is not a {cls.__name__}")
        declared = cls.declared_points()
        undeclared = sorted(name for klass in type(seam).__mro__
                            if issubclass(klass, cls) and klass is not cls
                            for name in vars(klass) if not name.startswith("_")
                            and callable(getattr(seam, name)) and name not in declared
                            and name != "describe")
        if undeclared:
            raise SeamError(f"{type(seam).__name__} overrides no declared {cls.side} point: "
                            f"{', '.join(undeclared)}")
        cls._installed, cls._for_testbed = seam, True

    @classmethod
    def uninstall(cls) -> None:
        cls._installed, cls._for_testbed = None, False

    @classmethod
    def installed(cls) -> Seam | None:
        return cls._installed

    @classmethod
    def refuse_outside_testbed(cls, what: str) -> None:
        """Called as a program starts: a seam not installed for the testbed stops it; one
        that was is announced on stderr."""
        seam = cls._installed
        if seam is None:
            return
        if not cls._for_testbed:
            raise SeamError(f"{what}: refusing to run with the {cls.side} seam "
                            f"{seam.describe()!r}, which was not installed for the testbed")
        print(f"teddy {cls.side}: TESTBED seam {seam.describe()!r} is active: this "
              f"{cls.side} breaks rules on purpose", file=sys.stderr, flush=True)

    @classmethod
    def point(cls, name: str) -> Callable[[Function], Function]:
        """Mark the honest function behind the declared point `name`."""
        if name not in cls.declared_points():
            raise SeamError(f"no declared {cls.side} seam point {name!r}")

        def mark(function: Function) -> Function:
            @functools.wraps(function)
            def dispatch(*args: Any, **kwargs: Any) -> Any:
                seam = cls._installed
                if seam is None:
                    return function(*args, **kwargs)
                return getattr(seam, name)(function, *args, **kwargs)

            dispatch.seam_point = name  # type: ignore[attr-defined]
            return dispatch  # type: ignore[return-value]

        return mark
