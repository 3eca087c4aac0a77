from django.apps import AppConfig


class MlopsSiteConfig(AppConfig):
    name = "mlops_site"
    verbose_name = "Site and access"
