from django.db import migrations, models


class Migration(migrations.Migration):
    """MFA policy. Organizations that exist already get `mfa_required_for_admins` off (their
    admins have no factor yet and would all be sent to enrolment at once); new ones get it
    on, the model's default."""

    dependencies = [
        ("directory", "0006_api_key_scopes_and_scim_setting"),
    ]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="mfa_required_for_admins",
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name="organization",
            name="mfa_required_for_admins",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="organization",
            name="mfa_required_for_everyone",
            field=models.BooleanField(default=False),
        ),
    ]
