"""manage.py create_token <username> [--name …]: issue an API token (printed once)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from access.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API token for a user; the token is printed once and stored only as a hash."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        _, token = ApiToken.issue(user=user, name=name)
        self.stdout.write(token)
