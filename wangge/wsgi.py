import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wangge.settings")
application = get_wsgi_application()

from wangge.core.process import settle  # noqa: E402  (needs the settings set up above)

settle()
