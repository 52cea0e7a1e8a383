from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("billing", "0008_receivables_opening_ledger")]

    operations = [
        migrations.AddField(
            model_name="note",
            name="emailed_at",
            field=models.DateTimeField(blank=True, help_text="When the note went to the customer.", null=True),
        ),
    ]
