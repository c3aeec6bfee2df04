"""A serving process sets what it loaded at start aside from the garbage collector."""

import gc
import importlib


def test_the_wsgi_module_settles_the_process():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    import wangge.wsgi

    importlib.reload(wangge.wsgi)
    assert wangge.wsgi.application is not None
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # Django and the app's modules, at least
    gc.unfreeze()
