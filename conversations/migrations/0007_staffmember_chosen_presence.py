from django.db import migrations, models


def chosen_from_current(apps, schema_editor):
    StaffMember = apps.get_model("conversations", "StaffMember")
    StaffMember.objects.exclude(presence="offline").update(chosen_presence=models.F("presence"))


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0006_integration_scopes_and_external_ids"),
    ]

    operations = [
        migrations.AddField(
            model_name="staffmember",
            name="chosen_presence",
            field=models.CharField(
                choices=[
                    ("available", "Available"),
                    ("busy", "Busy"),
                    ("busy_dnd", "Busy - Do not disturb"),
                    ("away", "Away"),
                    ("offline", "Offline"),
                ],
                default="available",
                max_length=20,
            ),
        ),
        migrations.RunPython(chosen_from_current, migrations.RunPython.noop),
    ]
