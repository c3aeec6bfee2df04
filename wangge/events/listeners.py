"""Where the apps above events hear that an event changed state.

Events import nothing from the apps that react to them (perception closes an alarm when its
event closes, cameras watch the events they opened). Such an app registers a listener once,
in its ``AppConfig.ready()``::

    from wangge.events.listeners import transition_listen

    transition_listen(alarm_on_event_change)

A listener is called as ``listener(event=e, action=a, frm=old_state, to=new_state, at=now)``
inside the transaction of ``event_transition``, after the event row, its log row and its audit
row are written: what it writes commits or rolls back with the change; an exception aborts the
transition. Keep listeners quick and idempotent (filter on ``to``/``action`` first); side
effects beyond the database go through ``transaction.on_commit``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Listener = Callable[..., None]
_listeners: list[Listener] = []


def transition_listen(listener: Listener) -> Listener:
    """Register ``listener`` (once, however often this is called); returns it (a decorator)."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def transition_heard(*, event, action: str, frm: str, to: str, at: datetime) -> None:
    """Called by ``event_transition``; tells every listener in registration order."""
    for listener in _listeners:
        listener(event=event, action=action, frm=frm, to=to, at=at)
