from django.apps import AppConfig


class MlopsSiteConfig(AppConfig):
    name = "mlops_site"
    verbose_name = "Site and access"

    def ready(self) -> None:
        from mlops_site.metrics import share_process_values

        share_process_values()
