"""Existing emails with a Unicode domain take the stored ASCII spelling (see
directory/addresses.py). An address whose other spelling already belongs to another
account is left as it is: merging two accounts is a person's decision, and the
console still shows both."""

from django.db import migrations


def _to_ascii(apps, schema_editor):
    from directory.addresses import email_canonical

    User = apps.get_model("directory", "User")
    for user in User.objects.filter(email__regex=r"[^\x00-\x7f]").only("pk", "email"):
        canonical = email_canonical(user.email)
        if canonical == user.email:
            continue
        if not User.objects.filter(email__iexact=canonical).exclude(pk=user.pk).exists():
            User.objects.filter(pk=user.pk).update(email=canonical)


class Migration(migrations.Migration):
    dependencies = [("directory", "0004_sent_email_delivered_by_worker")]

    operations = [migrations.RunPython(_to_ascii, migrations.RunPython.noop)]
