"""Brand, Membership, AuditLog and LoginAttempt move here from listening and engagement
(issue 10 point 1): the brands app is the bottom of the house and imports no other app.

State only: the tables keep their names (listening_brand, listening_brand_competitors,
engagement_membership, engagement_auditlog, engagement_loginattempt) and every row stays
where it is. The content types move with the models, so the admin's log entries and the
auth permissions keep pointing at them. listening 0008 and engagement 0009 then point their
foreign keys here and drop the old models from their state.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# (old app label, model name) of every model this migration takes over.
MOVED = [
    ("listening", "brand"),
    ("engagement", "membership"),
    ("engagement", "auditlog"),
    ("engagement", "loginattempt"),
]


def _content_types_relabel(apps, *, forwards):
    content_type = apps.get_model("contenttypes", "ContentType")
    for old_label, model in MOVED:
        source, target = (old_label, "brands") if forwards else ("brands", old_label)
        # A database migrated from scratch has no content types yet (post_migrate makes them
        # afterwards); one that somehow has both keeps the target's and its links.
        if content_type.objects.filter(app_label=target, model=model).exists():
            continue
        content_type.objects.filter(app_label=source, model=model).update(app_label=target)


def content_types_forwards(apps, schema_editor):
    _content_types_relabel(apps, forwards=True)


def content_types_backwards(apps, schema_editor):
    _content_types_relabel(apps, forwards=False)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        # The tables are made there; this one only takes them over.
        ("listening", "0007_mention_scorer"),
        ("engagement", "0008_effective_labels"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Brand',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=120, unique=True)),
                        ('query', models.TextField(help_text='e.g. acme OR "acme corp" NOT site:acme.example')),
                        ('handles', models.TextField(blank=True, help_text='Own handles, e.g. @acme @acme_help')),
                        ('domains', models.TextField(blank=True, help_text='Own domains, e.g. acme.example')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('competitors', models.ManyToManyField(blank=True, related_name='competitor_of', to='brands.brand')),
                    ],
                    options={
                        'db_table': 'listening_brand',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='LoginAttempt',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('username', models.CharField(max_length=150)),
                        ('ip', models.GenericIPAddressField(blank=True, null=True)),
                        ('succeeded', models.BooleanField(default=False)),
                        ('at', models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        'db_table': 'engagement_loginattempt',
                        'indexes': [models.Index(fields=['username', 'ip', '-at'], name='login_pair_idx'), models.Index(fields=['ip', '-at'], name='login_ip_idx'), models.Index(condition=models.Q(('succeeded', True)), fields=['username', 'ip', '-at'], name='login_success_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='AuditLog',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('action', models.CharField(max_length=40)),
                        ('object_type', models.CharField(max_length=40)),
                        ('object_id', models.CharField(max_length=40)),
                        ('before', models.JSONField(blank=True, default=dict)),
                        ('after', models.JSONField(blank=True, default=dict)),
                        ('at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('actor', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('brand', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='brands.brand')),
                    ],
                    options={
                        'db_table': 'engagement_auditlog',
                        'ordering': ['-at'],
                        'indexes': [models.Index(fields=['brand', '-at'], name='audit_brand_idx'), models.Index(fields=['object_type', 'object_id'], name='audit_object_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='Membership',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('role', models.CharField(choices=[('admin', 'Admin'), ('marketer', 'Marketer'), ('agent', 'Agent')], max_length=16)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('brand', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='brands.brand')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'engagement_membership',
                        'constraints': [models.UniqueConstraint(fields=('user', 'brand'), name='membership_unique_brand')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_forwards, content_types_backwards),
    ]
