"""manage.py set_role <username> operator|viewer [--create]: give a user one of the two roles."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from access.roles import ROLES, assign_role


class Command(BaseCommand):
    help = ("Make a user an operator (train, evaluate, set the best, cancel) or a viewer (read only). "
            "With --create, a missing user is created and its generated password printed once.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", choices=sorted(ROLES))
        parser.add_argument("--create", action="store_true", help="create the user if it does not exist")

    @transaction.atomic
    def handle(self, *args, username: str, role: str, create: bool, **options):
        users = get_user_model()
        user = users.objects.filter(username=username).first()
        if user is None and not create:
            raise CommandError(f"no user named {username!r} (add --create to create one)")
        if user is None:
            password = secrets.token_urlsafe(12)
            user = users.objects.create_user(username, password=password)
            self.stdout.write(f"created user {username} with password: {password}")
        assign_role(user, role)
        self.stdout.write(f"{username} is now {'an operator' if role == 'operator' else 'a viewer'}")
        if user.is_superuser and role == "viewer":
            self.stderr.write(f"note: {username} is a superuser, and superusers are operators whatever their group")
