"""Celery tasks and the beat schedule.

Tasks are thin: they take ids, re-fetch rows, and call a service of the app that owns
the work. They are safe to run twice. Also home of `manage.py runstack`, which starts
the development stack (web, worker, scheduler, graphsim) in one terminal.
"""
