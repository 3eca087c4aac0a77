from django.apps import AppConfig


class PerformanceConfig(AppConfig):
    name = "performance"

    def ready(self) -> None:
        from performance.details import performance_details
        from registry import details

        details.register(performance_details)
