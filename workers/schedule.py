"""The beat schedule: periodic jobs and when they run. `config.settings` reads
`CELERY_BEAT_SCHEDULE` from here, so keep this module free of Django imports."""

from celery.schedules import crontab

CELERY_BEAT_SCHEDULE = {
    # Password expiry warnings (14, 7, 1 days ahead) and blocking of expired passwords.
    "password-expiry": {
        "task": "workers.tasks.password_expiry_run",
        "schedule": crontab(minute=17),  # hourly: a missed run costs at most an hour
    },
    # Forget old sign-in failures and long-dead email links.
    "account-lifecycle-prune": {
        "task": "workers.tasks.account_lifecycle_prune",
        "schedule": crontab(hour=3, minute=41),
    },
    # Microsoft 365 provisioning: re-send work whose task was lost (dead worker, broker
    # down or flushed). Cheap when there is nothing to do (one indexed query).
    "m365-sync-sweep": {
        "task": "workers.tasks.m365_sync_sweep",
        "schedule": 30.0,
    },
    # Microsoft 365 reconcile (P5): queue tenants whose own interval (default 10 min)
    # has passed. One cheap query; each reconcile costs a delta request or two.
    "m365-reconcile-due": {
        "task": "workers.tasks.m365_reconcile_due",
        "schedule": 60.0,
    },
    # Emails: re-send those whose task was lost (unsent, not given up on, due over
    # 30 s ago). One indexed query when there is nothing to do.
    "email-sweep": {
        "task": "workers.tasks.email_sweep",
        "schedule": 60.0,
    },
    # Passwords kept for a bind or rebind to push (M365_PASSWORD_RETAIN_HOURS): delete
    # them once their window has passed. A missed run keeps one an hour longer at most.
    "m365-retained-passwords-prune": {
        "task": "workers.tasks.m365_retained_passwords_prune",
        "schedule": crontab(minute=23),
    },
    # Webhooks: retries that are due and deliveries whose task was lost (one indexed query).
    "webhook-sweep": {
        "task": "workers.tasks.webhook_sweep",
        "schedule": 30.0,
    },
    # Webhooks: the delivery log keeps finished deliveries WEBHOOK_LOG_DAYS days.
    "webhook-prune": {
        "task": "workers.tasks.webhook_prune",
        "schedule": crontab(hour=4, minute=23),
    },
    # Told when sync stops (m365bridge.health): a banner and one email to owners when a
    # tenant's changes keep failing past M365_SYNC_ALERT_MINUTES or the client secret is
    # about to expire, and again on recovery. Two indexed queries per tenant.
    "m365-sync-health-check": {
        "task": "workers.tasks.m365_sync_health_check",
        "schedule": 300.0,
    },
    # Microsoft 365 imports: carry on with an import whose worker stopped (its lease
    # expired) or whose task was lost. One indexed query when none is open.
    "m365-imports-resume": {
        "task": "workers.tasks.m365_imports_resume",
        "schedule": 60.0,
    },
}
