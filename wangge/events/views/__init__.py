"""Pages of the closed loop: the grid worker's phone page and report form, the dispatcher's
queue (with bulk actions), the unit's queue, the event page (timeline, map, deadlines, one form
per action the workflow table allows now) and the inbox.

Same rule as ``api.py``: parse, call a service or a selector, render. Every write goes through
``services.event_report`` / ``services.event_transition``; what a post may do is read from
``workflow.TRANSITIONS``; what is out of the post's scope answers 404.
"""

from wangge.events.views.detail import detail
from wangge.events.views.inbox import inbox
from wangge.events.views.phone import home, phone, report
from wangge.events.views.queues import queue, spot_checks, unit_queue

__all__ = ["detail", "home", "inbox", "phone", "queue", "report", "spot_checks", "unit_queue"]
