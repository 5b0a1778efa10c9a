"""Project wiring: settings read from the environment, URL routes, and the Celery app.

Nothing here holds business rules; it connects the apps (`directory`, `audit`,
`m365bridge`, `workers`) and reads configuration.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
