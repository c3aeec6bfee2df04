from django.db import models


class DemoRun(models.Model):
    """One finished step of the demo generator, so a second run skips it."""

    step = models.CharField(max_length=50, unique=True)
    scale = models.CharField(max_length=20)
    seed = models.BigIntegerField()
    summary = models.JSONField(default=dict)
    finished_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.step} ({self.scale}, seed {self.seed})"
